"""Sender function: SQS send lanes -> WhatsApp, partial batch failures reported."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import CampaignJob, LaneRecord
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import sending
from wa_notify.services.deps import get_deps


def record_handler(record: LaneRecord) -> str:
    # Parsed by the batch processor: a body that is no LaneJob (not JSON, an unknown kind, a
    # field missing) failed this record only, before this runs; after 5 receives it is in the DLQ.
    job = record.body
    if isinstance(job, CampaignJob):
        from wa_notify.services import campaigns

        return campaigns.run_job(get_deps(), job.model_dump())
    # The job as it was queued (no `kind`), since a throttled send queues it again.
    return sending.process(get_deps(), job.model_dump(exclude={"kind"}))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    sending.pacer.begin(len(event.get("Records") or []))
    # Analytics counters follow the stored changes (services/changes.py), not the send.
    return process_sqs_batch(event, record_handler, context, LaneRecord)
