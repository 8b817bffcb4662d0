"""Callback function: the table's stream -> callbacks, analytics counters, SMS fallback; and the
callback retry queue -> each tenant's URL again, with backoff, then the DLQ."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import CallbackRecord
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import callbacks, changes
from wa_notify.services.deps import get_deps


def record_handler(record: CallbackRecord) -> str:
    # Parsed by the batch processor: a body that is no CallbackJob failed this record before this runs.
    return callbacks.deliver(get_deps(), record.body.model_dump(exclude_unset=True))


def stream_change(raw: dict[str, Any]) -> changes.StreamChange:
    """A DynamoDB stream record with its images as Python values (Powertools deserializes them)."""
    record = DynamoDBRecord(raw)
    data = record.dynamodb
    assert data is not None  # every DynamoDB stream record has its `dynamodb` part
    return changes.StreamChange(str(data.sequence_number), data.keys or {}, data.old_image or None, data.new_image or None)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:dynamodb":
        return changes.handle_batch(get_deps(), [stream_change(r) for r in records])
    return process_sqs_batch(event, record_handler, context, CallbackRecord)
