"""Sender function: SQS send lanes -> WhatsApp, partial batch failures reported."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import CampaignJob, SendJob
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import analytics, sending
from wa_notify.services.deps import get_deps


def record_handler(record: SQSRecord) -> str:
    # A body that is not a SendJob (or a campaign job) fails this record only; after 5
    # receives it is in the DLQ.
    if record.body.startswith('{"kind":'):
        from wa_notify.services import campaigns

        return campaigns.run_job(get_deps(), CampaignJob.model_validate_json(record.body).model_dump())
    return sending.process(get_deps(), SendJob.model_validate_json(record.body).model_dump())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sending.pacer.begin(len(event.get("Records") or []))
    try:
        return process_sqs_batch(event, record_handler, context)
    finally:
        analytics.flush(get_deps())  # one counter write per tenant, day and template for the whole batch
