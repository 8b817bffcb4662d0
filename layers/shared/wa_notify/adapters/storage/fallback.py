"""SMS fallback: the unread deadline (its own due-index row) and the claim that sends an SMS at most once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys
from wa_notify.domain import status as st
from wa_notify.domain.records import MessageRow

FALLBACK_DUE = "fallback_due"  # the status of a deadline row, as the dispatcher reads it from the due index


@dataclass
class FallbackRepository:
    table: Table
    due_shards: int = 4

    def put_deadline(self, tenant_id: str, message_id: str, due_ms: int, expires_at: int) -> None:
        """A due-index entry of its own, so status moves never disturb it: at `due_ms` the
        dispatcher sends the SMS if the message is still unread. (UpdateItem creates it: the
        sender and the dispatcher need no PutItem or DeleteItem.)"""
        self.table.update(*keys.fallback_deadline(tenant_id, message_id),
                          "SET id = :id, tenant_id = :t, #status = :s, due_shard = :shard, due_at = :due, expires_at = :exp",
                          names={"#status": "status"},
                          values={":id": message_id, ":t": tenant_id, ":s": FALLBACK_DUE,
                                  ":shard": keys.due_shard(message_id, self.due_shards), ":due": due_ms, ":exp": expires_at})

    def drop_deadline(self, tenant_id: str, message_id: str) -> None:
        """Out of the due index; TTL deletes the rest."""
        self.table.update(*keys.fallback_deadline(tenant_id, message_id), "REMOVE due_shard, due_at", condition="attribute_exists(pk)")

    def claim(self, tenant_id: str, message_id: str, reason: str, at: str, *, unread_only: bool) -> MessageRow | None:
        """The one conditional write that makes an SMS happen at most once: the message has a
        fallback planned and nobody claimed it; for the unread deadline it must also still be
        unread (accepted, sent or delivered). Returns the message, or None."""
        condition = "attribute_exists(fallback.#text) AND attribute_not_exists(fallback.claimed_at)"
        values: dict[str, Any] = {":at": at, ":reason": reason, ":sending": "sending"}
        if unread_only:
            condition += " AND #status IN (:accepted, :sent, :delivered)"
            values |= {":accepted": st.ACCEPTED, ":sent": st.SENT, ":delivered": st.DELIVERED}
        ok, item = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET fallback.claimed_at = :at, fallback.reason = :reason, fallback.#fstatus = :sending",
            condition=condition, names={"#text": "text", "#fstatus": "status", **({"#status": "status"} if unread_only else {})},
            values=values, return_new=True,
        )
        return cast("MessageRow", item) if ok else None

    def record(self, tenant_id: str, message_id: str, status: str, at: str, provider_message_id: str | None, error: str | None) -> None:
        """What became of the claimed SMS (sent, or failed with `error`)."""
        sets = ["fallback.#fstatus = :s", "fallback.#at = :at", "updated_at = :at"]
        values: dict[str, Any] = {":s": status, ":at": at}
        if provider_message_id:
            sets.append("fallback.provider_message_id = :pmid")
            values[":pmid"] = provider_message_id
        if error:
            sets.append("fallback.#error = :err")
            values[":err"] = error
        self.table.update(*keys.message(tenant_id, message_id), "SET " + ", ".join(sets), condition="attribute_exists(fallback.claimed_at)",
                          names={"#fstatus": "status", "#at": f"{status}_at", **({"#error": "error"} if error else {})}, values=values)
