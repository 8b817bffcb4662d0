"""The daily quota: one counter per tenant and UTC day, counted by the writes that create messages
(a conditional UpdateItem before a message, a transaction part with a campaign page)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys

KEEP_SECONDS = 3 * 86_400  # a day's counter outlives its day, then TTL deletes it
RESERVE_MAX = 10           # sends one write may reserve for this container (take_one)
RESERVE_PER = 10_000       # one reserved send per this many of the daily limit


def reservation_size(limit: int) -> int:
    """How many sends `take_one` counts in one write: 1 (exact) below a daily limit of 20,000,
    at most 10, and never more than one per 10,000 of the limit, so what containers reserve and
    never use (lost when they stop) costs a tenant at most 0.01% of its day per container."""
    return max(1, min(RESERVE_MAX, limit // RESERVE_PER))


def _day_expiry(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + KEEP_SECONDS


@dataclass
class QuotaRepository:
    table: Table
    # Sends this container counted ahead and has not used yet, per (tenant, day) (take_one).
    _reserved: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, tenant_id: str, day: str, n: int, limit: int) -> dict[str, Any]:
        """The transaction part that counts `n` sends against the tenant's daily quota; its
        condition fails (and with it the whole write) when they would go over."""
        key = keys.quota(tenant_id, day)
        return {"pk": key.pk, "sk": key.sk, "expression": "ADD used :n SET expires_at = :exp",
                "condition": "attribute_not_exists(used) OR used <= :room",
                "values": {":n": n, ":room": limit - n, ":exp": _day_expiry(day)}}

    def count(self, tenant_id: str, day: str, n: int, limit: int) -> bool:
        """Count `n` sends against the tenant's daily quota in one conditional UpdateItem; False
        (and nothing counted) when they would go over."""
        part = self.update(tenant_id, day, n, limit)
        ok, _ = self.table.update(part["pk"], part["sk"], part["expression"], condition=part["condition"], values=part["values"])
        return ok

    def take_one(self, tenant_id: str, day: str, limit: int) -> bool:
        """Count one send against the daily quota; False (nothing counted) when it would go over.
        Issue 14: a write per message was the intake's priciest step. With a large limit one
        conditional write reserves `reservation_size(limit)` sends for this container, and the
        next messages it takes spend them without a write; near the limit, when a reservation
        no longer fits, it counts exactly one. The counter never exceeds the limit; it may run
        ahead of the messages written by what running containers hold (GET /v1/settings'
        `quota_used_today` counts them as used)."""
        key = (tenant_id, day)
        with self._lock:
            if self._reserved.get(key, 0) > 0:
                self._reserved[key] -= 1
                return True
        size = reservation_size(limit)
        if size > 1 and self.count(tenant_id, day, size, limit):
            with self._lock:
                for other in [k for k in self._reserved if k[1] != day]:  # yesterday's are void
                    del self._reserved[other]
                self._reserved[key] = self._reserved.get(key, 0) + size - 1
            return True
        return self.count(tenant_id, day, 1, limit)

    def reserved(self, tenant_id: str, day: str) -> int:
        """Sends this container counted for the day and has not spent yet."""
        with self._lock:
            return self._reserved.get((tenant_id, day), 0)

    def used(self, tenant_id: str, day: str) -> int:
        item = self.table.get(*keys.quota(tenant_id, day), consistent=True)
        return int(item["used"]) if item else 0
