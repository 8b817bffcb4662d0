"""Status function: webhook changes from the events queue -> message and template state."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import WebhookChange
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import analytics, statuses
from wa_notify.services.deps import get_deps


def record_handler(record: SQSRecord) -> dict[str, int]:
    try:
        change = WebhookChange.model_validate_json(record.body)
    except ValidationError:
        # The same body fails on every delivery: a failed record would be retried and end in the
        # DLQ, paging for data no retry can fix. Say so once and drop it.
        logger.warning("malformed events-queue record dropped", extra={"sqs_message_id": record.message_id})
        metrics.add_metric(name="WebhookPartsDropped", unit="Count", value=1)
        return {"applied": 0, "ignored": 1}
    return statuses.apply_change(get_deps(), change)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return process_sqs_batch(event, record_handler, context)
    finally:
        analytics.flush(get_deps())  # one counter write per tenant, day and template for the whole batch
