"""SQS: the send lanes (high / normal / bulk), the callback retry queue and its DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from wa_notify.domain.whatsapp_errors import MAX_BACKOFF_SECONDS


@dataclass
class Queues:
    lane_urls: dict[str, str]
    client: Any = None
    sent: int = field(default=0, init=False)  # requests made, for the per-message bill

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = boto3.client("sqs")

    def send(self, lane: str, body: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.send_to(self.lane_urls[lane], body, delay_seconds=delay_seconds)

    def send_to(self, url: str, body: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.sent += 1
        self.client.send_message(
            QueueUrl=url, MessageBody=json.dumps(body, separators=(",", ":")),
            DelaySeconds=max(0, min(MAX_BACKOFF_SECONDS, int(delay_seconds))),
        )

    def send_many(self, url: str, bodies: list[dict[str, Any]]) -> list[int]:
        """SendMessageBatch in chunks of 10; returns the indexes that failed."""
        failed: list[int] = []
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            self.sent += 1
            resp = self.client.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(start + i), "MessageBody": json.dumps(b, separators=(",", ":"))} for i, b in enumerate(chunk)],
            )
            failed += [int(f["Id"]) for f in resp.get("Failed", [])]
        return failed

    def send_lane_many(self, lane: str, bodies: list[dict[str, Any]]) -> list[int]:
        return self.send_many(self.lane_urls[lane], bodies)
