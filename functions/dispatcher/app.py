"""Dispatcher function: fired every minute by EventBridge; 'now' is the event's time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import dispatch
from wa_notify.services.deps import get_deps


def event_time(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    if not raw:
        return datetime.now(UTC)
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dispatch.run(get_deps(), event_time(event))
