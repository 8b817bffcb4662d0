"""Status function: webhook changes from the events queue -> message and template state."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import WebhookChange
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import analytics, statuses
from wa_notify.services.deps import get_deps


def record_handler(record: SQSRecord) -> dict[str, int]:
    # A record that is no WebhookChange is not Meta's data but ours (a bug, a version skew): it
    # fails, and reaches the DLQ for a redrive. Meta's malformed parts inside one are skipped there.
    return statuses.apply_change(get_deps(), WebhookChange.model_validate_json(record.body))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    try:
        return process_sqs_batch(event, record_handler, context)
    finally:
        analytics.flush(get_deps())  # one counter write per tenant, day and template for the whole batch
