"""A tenant's business numbers: one row per number beside the phone-number lookup that routes its webhooks.

The tenant's default number is the profile's `phone_number_id` (tenants onboarded before
several numbers existed have no number row for it until Meta is first asked about it: no
migration). Every other number has a row and a lookup, written and removed together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys
from wa_notify.domain.records import NumberRow

REMOVED_LOOKUP_SECONDS = 30 * 24 * 3600  # a removed number's late status webhooks still find the tenant


@dataclass
class NumberRepository:
    table: Table

    def add(self, tenant_id: str, number: NumberRow, now_s: int) -> bool:
        """The number's row and its lookups, all or nothing; False when the number is another
        tenant's (or a removed one's lookup of another tenant has not expired), or already added.
        The WABA lookup is written too when the WABA is new (it may already be this tenant's)."""
        pnid, waba_id = number["phone_number_id"], number["waba_id"]
        values = {":t": tenant_id, ":now": now_s}
        mine_or_free = "attribute_not_exists(pk) OR tenant_id = :t OR expires_at < :now"
        return self.table.transact_put([
            (keys.number(tenant_id, pnid).item(dict(number)), "attribute_not_exists(pk)"),
            (keys.phone_number(pnid).item({"tenant_id": tenant_id}), mine_or_free),
            (keys.waba(waba_id).item({"tenant_id": tenant_id}), mine_or_free),
        ], values) is None

    def remove(self, tenant_id: str, phone_number_id: str, at: str, now_s: int) -> bool:
        """Delete the row; keep the lookup for 30 days (marked removed) so that statuses of
        messages already sent from it still reach the tenant. False when it is not the tenant's."""
        lookup = keys.phone_number(phone_number_id)
        row = keys.number(tenant_id, phone_number_id)
        return self.table.transact_put([], updates=[{
            "pk": lookup.pk, "sk": lookup.sk, "expression": "SET removed_at = :at, expires_at = :exp",
            "condition": "tenant_id = :t", "values": {":t": tenant_id, ":at": at, ":exp": now_s + REMOVED_LOOKUP_SECONDS},
        }], deletes=[{"pk": row.pk, "sk": row.sk, "condition": "attribute_exists(pk)"}]) is None

    def list(self, tenant_id: str) -> list[NumberRow]:
        items, _ = self.table.query("pk = :pk", {":pk": keys.numbers_pk(tenant_id)}, consistent=True)
        return cast("list[NumberRow]", items)

    def get(self, tenant_id: str, phone_number_id: str) -> NumberRow | None:
        return cast("NumberRow | None", self.table.get(*keys.number(tenant_id, phone_number_id), consistent=True))

    def save_meta(self, tenant_id: str, number: NumberRow, *, default: bool) -> bool:
        """Cache what Meta said on the row. The default number's row is created by it; another
        number's only updated (a removed one stays removed)."""
        key = keys.number(tenant_id, number["phone_number_id"])
        ok, _ = self.table.update(
            key.pk, key.sk,
            "SET quality_rating = :q, messaging_limit = :l, meta_checked_at = :c, display_phone_number = :d, "
            "waba_id = if_not_exists(waba_id, :w), phone_number_id = :p",
            condition=None if default else "attribute_exists(pk)",
            values={":q": number.get("quality_rating"), ":l": number.get("messaging_limit"), ":c": number.get("meta_checked_at", 0),
                    ":d": number.get("display_phone_number"), ":w": number.get("waba_id"), ":p": number["phone_number_id"]},
        )
        return ok

    def count_conversations(self, tenant_id: str, phone_number_id: str, row: NumberRow | None, n: int, limit: int,
                            now_ms: int, window_ms: int) -> dict[str, Any]:
        # (The caller never asks for more than `limit` at once: it shrinks the page to the room left.)
        """The update (for a transaction) that counts `n` business-initiated conversations in the
        number's current 24 h window, only while they fit in `limit`: in the window `row` holds,
        or in a new one starting now when that one is over (conditioned on the window read, so
        two writers never both start one)."""
        key = keys.number(tenant_id, phone_number_id)
        start = int((row or {}).get("limit_window_start") or 0)
        if start and now_ms < start + window_ms:
            return {"pk": key.pk, "sk": key.sk, "expression": "SET limit_used = limit_used + :n",
                    "condition": "limit_window_start = :start AND limit_used <= :room",
                    "values": {":n": n, ":start": start, ":room": limit - n}}
        return {"pk": key.pk, "sk": key.sk, "expression": "SET limit_window_start = :now, limit_used = :n, phone_number_id = :p",
                "condition": "limit_window_start = :start" if start else "attribute_not_exists(limit_window_start)",
                "values": {":n": n, ":now": now_ms, ":p": phone_number_id, **({":start": start} if start else {})}}
