"""Powertools batch processing with one BatchProcessor per thread.

A BatchProcessor keeps the current batch's successes and failures on itself. Lambda runs
one invocation per container at a time, so a module-level processor is safe there. The local
stack and the bench run several containers of one function as threads of one process (a
poller per send lane, several sender workers), and there a shared processor mixes up the
batches' failure reports: the soak caught a poison record of one batch being answered as a
success and deleted instead of reaching its DLQ.

With a `model`, Powertools parses each record into it before the handler runs: a record that
does not parse is a failed record (a poison record: to the DLQ after its redrives), reported
without calling the handler.

With `threads` > 1 the records are handled side by side (the sender: each send mostly waits on
WhatsApp, and Lambda bills the wait). Each record is still handled once and its outcome
reported on its own: a failed one is in batchItemFailures, the others are not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from pydantic import BaseModel

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

_local = threading.local()


class SideBySideProcessor(BatchProcessor):
    """Powertools' BatchProcessor with the records handled by up to `threads` threads; each
    thread first runs `thread_setup` (what the handler's thread set up for the batch)."""

    threads = 1
    thread_setup: Callable[[], None] | None = None
    _pool: ThreadPoolExecutor | None = None
    _pool_size = 0

    def process(self) -> list[tuple[Any, ...]]:
        records = list(self.records)
        if self.threads <= 1 or len(records) <= 1:
            return super().process()
        from concurrent.futures import ThreadPoolExecutor

        setup = self.thread_setup

        def handle(record: dict[str, Any]) -> tuple[Any, ...]:
            if setup is not None:
                setup()
            return self._process_record(record)  # type: ignore[no-any-return]

        # One pool for the container's life, not one a batch: starting ten threads a batch was
        # CPU Lambda bills on every invocation. Idle between batches (a frozen container freezes
        # them too); each record's thread runs `thread_setup` first, so nothing of an earlier
        # batch carries over. Per processor, and processors are per thread (`_local`): locally,
        # sender containers that are threads of one process never share one.
        pool = self._pool
        if pool is None or self._pool_size != self.threads:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="batch")
            self._pool_size = self.threads
        return list(pool.map(handle, records))


def process_sqs_batch(
    event: dict[str, Any], record_handler: Callable[..., Any], context: Any, model: type[BaseModel] | None = None,
    *, threads: int = 1, thread_setup: Callable[[], None] | None = None,
) -> PartialItemFailureResponse:
    """`process_partial_response` for an SQS event: only the failed records are reported. The
    handler gets each record parsed into `model`, or Powertools' SQSRecord without one; with
    `threads` > 1, records side by side, each thread running `thread_setup` first."""
    processors = getattr(_local, "processors", None)
    if processors is None:
        processors = _local.processors = {}
    processor = processors.get(model)
    if processor is None:
        # Powertools types `model` as its own SqsRecordModel subclasses but reads only messageId from
        # the parsed record; ours are lighter models with that field (jobs.LaneRecord says why).
        processor = processors[model] = SideBySideProcessor(event_type=EventType.SQS, model=model)  # type: ignore[arg-type]
    processor.threads, processor.thread_setup = threads, thread_setup
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
