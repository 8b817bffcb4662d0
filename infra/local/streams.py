"""A DynamoDB Streams event source mapping for the local stack, over moto's stream API.

moto can attach a mapping itself, but then every write invokes the function through Docker
and moto empties the shard (reference/streams-and-function-urls.md §5), so the local stack
reads the stream as Lambda's poller does and calls the real handler in process:

- records in order from TRIM_HORIZON, `BatchSize` at a time (read from moto's memory: see
  StreamPoller for why not GetRecords);
- the mapping's `FilterCriteria` (moto's EventBridge pattern matcher, the same grammar):
  records no filter matches are dropped, never seen by the function;
- `ReportBatchItemFailures`: the batch resumes at the lowest failed sequence number;
- a function error retries the batch, halved each time (`BisectBatchOnFunctionError`);
- after `MaximumRetryAttempts` the batch's metadata goes to the `OnFailure` queue and the
  shard moves on, as Lambda does.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class StreamSource:
    """One stream mapping: where it reads, what it lets through, where failures go."""

    stream_arn: str
    batch_size: int = 100
    filters: list[str] = field(default_factory=list)
    max_retries: int = 10
    bisect: bool = True
    on_failure_queue_url: str | None = None


class StreamPoller:
    """Reads one table's stream shard from moto's memory, as Lambda's poller reads the stream.

    Not through GetRecords: moto's response serializer spends about 5 ms per stream record
    (measured: 3,000 records in 17 s), more than the handler, and keeps every shard iterator
    it ever gave out. The records are the same objects GetRecords would serialize (moto's
    StreamRecord), read under the lock that serializes every moto request; the ones consumed
    are dropped from the shard (moving its first sequence number with them, so the numbers of
    the rest do not change), or a long `make dev` would keep every change ever made."""

    TRIM_EVERY = 1_000

    def __init__(self, source: StreamSource, invoke: Any, sqs: Any, lock: Any) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.events.models import EventPattern

        self.source, self.invoke, self.sqs, self.lock = source, invoke, sqs, lock
        self.patterns = [EventPattern.load(p) for p in source.filters]
        self.table_name = source.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
        region, account = source.stream_arn.split(":")[3], source.stream_arn.split(":")[4]
        self.backend = dynamodb_backends[account][region]
        self.shard_id = self.shard.id
        self.position = self.shard.starting_sequence_number  # TRIM_HORIZON: the first record kept
        self.limit = source.batch_size
        self.attempts = 0
        self.invocations = 0
        self.filtered_out = 0

    @property
    def shard(self) -> Any:
        """Looked up each time: a TransactWriteItems that moto cancels puts back a copy of every
        table taken before it (its rollback), and with it a new shard object; a reference kept
        from before would read a shard nothing writes to any more."""
        return self.backend.get_table(self.table_name).stream_shard

    def poll_once(self) -> int:
        """Read one batch and hand what passes the filters to the function; returns how many
        records were read (0: the shard has nothing new)."""
        with self.lock:
            raw = self.shard.get(self.position, self.limit)
        records = [lambda_record(r, self.source.stream_arn) for r in raw]
        if not records:
            return 0
        following = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        passing = [r for r in records if self._passes(r)]
        self.filtered_out += len(records) - len(passing)
        failed_from = self._deliver(passing) if passing else None
        if failed_from is None:
            self._advance(following)
            return len(records)
        self.attempts += 1
        if self.attempts > self.source.max_retries:
            self._give_up(passing)
            self._advance(following)
            return len(records)
        self.position = int(failed_from)
        return len(records)

    def backlog(self) -> int:
        """Records written and not yet read."""
        with self.lock:
            shard = self.shard
            return shard.starting_sequence_number + len(shard.items) - self.position

    def _advance(self, position: int) -> None:
        self.position, self.attempts, self.limit = position, 0, self.source.batch_size
        with self.lock:
            shard = self.shard
            consumed = self.position - shard.starting_sequence_number
            if consumed >= self.TRIM_EVERY:
                del shard.items[:consumed]
                shard.starting_sequence_number += consumed

    def _passes(self, record: dict[str, Any]) -> bool:
        return not self.patterns or any(p.matches_event(record) for p in self.patterns)

    def _deliver(self, records: list[dict[str, Any]]) -> str | None:
        """Invoke with the batch; None when it succeeded, else the sequence number to resume at."""
        self.invocations += 1
        try:
            result = self.invoke({"Records": records}) or {}
        except Exception as exc:  # noqa: BLE001 - a function error fails the batch, as in Lambda
            print(f"[local] stream batch failed: {type(exc).__name__}: {exc}", flush=True)
            if self.source.bisect and len(records) > 1:
                self.limit = max(1, len(records) // 2)
            return records[0]["dynamodb"]["SequenceNumber"]
        failures = [f.get("itemIdentifier") for f in (result.get("batchItemFailures") or [])]
        if not failures:
            return None
        if any(not f for f in failures):
            return records[0]["dynamodb"]["SequenceNumber"]  # an empty identifier fails the whole batch
        return min(failures, key=int)

    def _give_up(self, records: list[dict[str, Any]]) -> None:
        """Lambda's OnFailure record for a stream: the batch's place, not its records."""
        if not self.source.on_failure_queue_url or not records:
            return
        info = {"requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": self.attempts},
                "DDBStreamBatchInfo": {"shardId": self.shard_id, "streamArn": self.source.stream_arn, "batchSize": len(records),
                                       "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                                       "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"]}}
        self.sqs.send_message(QueueUrl=self.source.on_failure_queue_url, MessageBody=json.dumps(info))


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stream record from GetRecords as Lambda hands it to the function: its creation time in
    epoch seconds, the stream's ARN as `eventSourceARN`."""
    out = {**record, "eventSourceARN": stream_arn, "dynamodb": dict(record["dynamodb"])}
    created = out["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        out["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in out["dynamodb"]:
            out["dynamodb"][image] = _as_json(out["dynamodb"][image])
    return out


def _as_json(value: Any) -> Any:
    """An image as Lambda's JSON event carries it: binary values (a packed request,
    domain/wire.py) base64 text, never bytes."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value
