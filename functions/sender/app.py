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

        return campaigns.run_job(get_deps(), job.model_dump(exclude_none=True))
    # The job as it was queued (no `kind`), since a throttled send queues it again.
    return sending.process(get_deps(), job.model_dump(exclude={"kind"}))


# A batch's sends go side by side: each mostly waits on WhatsApp (and Lambda bills the wait).
# Each send is still its own conditional lease and the pacer still grants its token (one take
# for the batch, shared by these threads); a failed record is reported on its own.
SEND_THREADS = 10


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    sending.pacer.begin(len(event.get("Records") or []))
    batch = sending.pacer.batch
    # Analytics counters follow the stored changes (services/changes.py), not the send.
    return process_sqs_batch(event, record_handler, context, LaneRecord, threads=SEND_THREADS,
                             thread_setup=lambda: sending.pacer.join(batch))
