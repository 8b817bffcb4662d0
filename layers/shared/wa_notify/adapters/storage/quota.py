"""The daily quota: one counter per tenant and UTC day, counted by the writes that create messages
(a conditional UpdateItem before a message, a transaction part with a campaign page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys

KEEP_SECONDS = 3 * 86_400  # a day's counter outlives its day, then TTL deletes it


def _day_expiry(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + KEEP_SECONDS


@dataclass
class QuotaRepository:
    table: Table

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

    def used(self, tenant_id: str, day: str) -> int:
        item = self.table.get(*keys.quota(tenant_id, day), consistent=True)
        return int(item["used"]) if item else 0
