"""Callback function: the callback queue -> each tenant's URL, signed, with backoff and a DLQ."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import CallbackRecord
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import callbacks
from wa_notify.services.deps import get_deps


def record_handler(record: CallbackRecord) -> str:
    # Parsed by the batch processor: a body that is no CallbackJob failed this record before this runs.
    return callbacks.deliver(get_deps(), record.body.model_dump(exclude_unset=True))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_sqs_batch(event, record_handler, context, CallbackRecord)
