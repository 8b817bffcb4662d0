"""Messages: intake (with idempotency and quota, conditional writes), reads, cancels, statuses from WhatsApp,
replies and callback claims. The sender's lease is `leases`, the due index `dispatch`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.quota import QuotaRepository
from wa_notify.domain import status as st
from wa_notify.domain.erasure import click_tokens_in
from wa_notify.domain.outcomes import MessageWrite
from wa_notify.domain.records import ErrorInfo, IdempotencyRow, LastReply, MessageRow
from wa_notify.domain.wire import pack_request

# A message leaves the due index (and its GSI partition) when nothing is due for it any more.
OUT_OF_DUE_INDEX = "due_shard, due_at"


@dataclass
class MessageRepository:
    table: Table
    quota: QuotaRepository
    due_shards: int = 4

    def row(self, item: MessageRow) -> dict[str, Any]:
        """A message row: its keys, and its due-index shard when it has a due time (as written: numbers
        are Decimals, so the result is the wire dict, not a MessageRow)."""
        row = keys.message(item["tenant_id"], item["id"]).item(dynamo_safe(item))
        if item.get("request"):
            # Packed (domain/wire.py): the row stays under 1 KB, one write unit a write, not two.
            row["request"] = pack_request(item["request"])
        if item.get("due_at") is not None:
            row["due_shard"] = keys.due_shard(item["id"], self.due_shards)
        # ContactIndex and TimeIndex (GET /v1/messages, the timeline): set once, never changed, so
        # their KEYS_ONLY entries cost one write each at creation and none on a status change.
        row["contact_key"] = keys.contact_list_key(item["tenant_id"], item["to"])
        row["tenant_key"] = keys.messages_list_key(item["tenant_id"])
        row["listed_at"] = item["created_at"]
        # Its click-tracking tokens, for an erasure to find their rows once the request is gone.
        if tokens := click_tokens_in(item.get("request") or {}):
            row["click_tokens"] = tokens
        return row

    def update(self, tenant_id: str, message_id: str, expression: str, **kwargs: Any) -> bool:
        """One conditional transition of a message; False when its condition does not hold."""
        ok, _ = self.table.update(*keys.message(tenant_id, message_id), expression, **kwargs)
        return ok

    # ---- intake ------------------------------------------------------------------------------
    def create(self, item: MessageRow, idempotency: IdempotencyRow | None, *, now_s: int = 0,
               quota: tuple[str, int] | None = None, key_taken: bool = False) -> MessageWrite:
        """Write the message with plain conditional writes, in this order (issue 14):
        1. its idempotency record, only if the key is free or expired (taken: DUPLICATE_KEY);
        2. its count against the daily quota, only if that stays within the limit (else the record
           of step 1 is deleted again, so nothing is left, and OVER_QUOTA): no write when this
           container reserved sends earlier (QuotaRepository.take_one);
        3. the message itself, only if absent (present: ID_CLASH; after a resume, another request
           completed it first).
        Stopped between 1 and 3, the record names a message that is not there: a retry with the
        same key and body finds it and resumes with `key_taken` (steps 2 and 3, that message id).
        Stopped between 2 and 3, the quota counted one message more than was written."""
        refused = self.reserve(item, idempotency, now_s=now_s, quota=quota, key_taken=key_taken)
        return refused if refused is not None else self.write(item)

    def reserve(self, item: MessageRow, idempotency: IdempotencyRow | None, *, now_s: int = 0,
                quota: tuple[str, int] | None = None, key_taken: bool = False) -> MessageWrite | None:
        """Steps 1 and 2 of `create`: None when the message may be written (`write`), else why not
        (DUPLICATE_KEY, OVER_QUOTA). Intake puts the message's SQS job between the two (`_create`
        in services/messages.py: the job goes first, so the row's write is the commit point)."""
        tenant_id = item["tenant_id"]
        if idempotency and not key_taken:
            record = keys.idempotency(tenant_id, idempotency["key"]).item(idempotency)
            if not self.table.put_new(record, replace_expired_before=now_s):
                return MessageWrite.DUPLICATE_KEY
        if quota and not self.quota.take_one(tenant_id, quota[0], quota[1]):
            if idempotency:
                self.release_key(tenant_id, idempotency["key"], item["id"])
            return MessageWrite.OVER_QUOTA
        return None

    def write(self, item: MessageRow) -> MessageWrite:
        """Step 3 of `create`: the message, only if absent (WRITTEN, else ID_CLASH)."""
        return MessageWrite.WRITTEN if self.table.put_new(self.row(item)) else MessageWrite.ID_CLASH

    def release_key(self, tenant_id: str, key: str, message_id: str) -> None:
        """Delete an idempotency record whose message was refused (over quota), only while it still
        names that message: a retry of the request starts afresh instead of finding it."""
        self.table.delete(*keys.idempotency(tenant_id, key), condition="message_id = :m", values={":m": message_id})

    def get_idempotency(self, tenant_id: str, key: str) -> IdempotencyRow | None:
        return cast("IdempotencyRow | None", self.table.get(*keys.idempotency(tenant_id, key), consistent=True))

    def get(self, tenant_id: str, message_id: str) -> MessageRow | None:
        return cast("MessageRow | None", self.table.get(*keys.message(tenant_id, message_id), consistent=True))

    def id_for_wamid(self, wamid: str) -> tuple[str, str] | None:
        """(tenant id, message id) of the message WhatsApp calls `wamid`."""
        items, _ = self.table.query("wamid = :w", {":w": wamid}, index="WamidIndex", limit=1)
        if not items:
            return None
        return items[0]["tenant_id"], items[0]["id"]

    # ---- cancels -------------------------------------------------------------------------------
    def cancel(self, tenant_id: str, message_id: str, at: str) -> tuple[bool, MessageRow | None]:
        """scheduled/queued -> cancelled: (True, the message now) or (False, the message as it is)."""
        part = self.cancel_update(tenant_id, message_id, at)
        ok, item = self.table.update(part["pk"], part["sk"], part["expression"], condition=part["condition"], names=part["names"],
                                 values=part["values"], return_new=True, return_old_on_failure=True)
        return ok, cast("MessageRow | None", item)

    def pending_of(self, tenant_id: str, message_ids: list[str]) -> list[str]:
        """Which of these messages are still scheduled or queued (consistent reads, 100 a call)."""
        rows = self.table.batch_get([keys.message(tenant_id, m)._asdict() for m in message_ids],
                                    projection="id, #status", names={"#status": "status"})
        pending = {r["id"] for r in rows if r.get("status") in (st.SCHEDULED, st.QUEUED)}
        return [m for m in message_ids if m in pending]

    def cancelled_by(self, tenant_id: str, message_ids: list[str], cause: str) -> list[str]:
        """Which of these messages `cause` cancelled (a customer's reply, by its wamid): what a
        retried webhook reports as cancelled after its first delivery did the cancelling."""
        rows = self.table.batch_get([keys.message(tenant_id, m)._asdict() for m in message_ids],
                                    projection="id, cancelled_by", names=None)
        done = {r["id"] for r in rows if r.get("cancelled_by") == cause}
        return [m for m in message_ids if m in done]

    def cancel_update(self, tenant_id: str, message_id: str, at: str, reason: str | None = None, cause: str | None = None) -> dict[str, Any]:
        """scheduled/queued -> cancelled, as an update for one UpdateItem (`cancel`) or a transaction
        part (`cancel_many`, the plan swap); its condition fails (and with it the whole write) when
        the message left those states meanwhile. `reason`, when given, is kept on the row."""
        key = keys.message(tenant_id, message_id)
        values: dict[str, Any] = {":cancelled": st.CANCELLED, ":scheduled": st.SCHEDULED, ":queued": st.QUEUED, ":at": at}
        sets = "SET #status = :cancelled, events.#cancelled = :at, updated_at = :at"
        if reason is not None:
            sets += ", cancel_reason = :why"
            values[":why"] = reason
        if cause is not None:
            sets += ", cancelled_by = :cause"
            values[":cause"] = cause
        return {"pk": key.pk, "sk": key.sk, "expression": f"{sets} REMOVE {OUT_OF_DUE_INDEX}",
                "condition": "#status IN (:scheduled, :queued)",
                "names": {"#status": "status", "#cancelled": st.CANCELLED}, "values": values}

    def cancel_many(self, tenant_id: str, message_ids: list[str], at: str, reason: str, cause: str | None = None) -> bool:
        """Cancel these pending messages together (one transaction per 100): False when one of
        them left scheduled/queued meanwhile, and then none of that transaction's changed."""
        for start in range(0, len(message_ids), 100):
            chunk = message_ids[start : start + 100]
            if self.table.transact_put([], updates=[self.cancel_update(tenant_id, m, at, reason, cause) for m in chunk]) is not None:
                return False
        return True

    # ---- statuses from WhatsApp, replies, the status a retried callback checks --------------------------------------
    def apply_status(self, tenant_id: str, message_id: str, new_status: str, *, at: str, wamid: str,
                     pricing: dict[str, Any] | None, error: ErrorInfo | None) -> MessageRow | None:
        """Move forward to `new_status` if it outranks the current one and return the message as it
        is now (free: ALL_NEW costs no extra capacity); else only note when it happened, and None."""
        key = keys.message(tenant_id, message_id)
        below = st.statuses_below(new_status)
        values: dict[str, Any] = {":new": new_status, ":at": at, ":wamid": wamid}
        values.update({f":b{i}": s for i, s in enumerate(below)})
        sets = ["#status = :new", "events.#new = if_not_exists(events.#new, :at)", "wamid = if_not_exists(wamid, :wamid)", "updated_at = :at"]
        if pricing:
            sets.append("pricing = :pricing")
            values[":pricing"] = dynamo_safe(pricing)
        if error:
            sets.append("#error = :error")
            values[":error"] = dynamo_safe(error)
        if new_status == st.FAILED:  # FailedIndex (?status=failed): its one entry, written once
            sets.append("failed_key = :failed_key")
            values[":failed_key"] = keys.failed_list_key(tenant_id)
        names = {"#status": "status", "#new": new_status, "#request": "request"}
        if error:
            names["#error"] = "error"
        ok, now = self.table.update(
            *key,
            # WhatsApp has it: the rendered request (the customer's data) is not kept, even when this
            # status overtook the sender's own record of the acceptance.
            "SET " + ", ".join(sets) + f" REMOVE lease_token, lease_until, #request, {OUT_OF_DUE_INDEX}",
            # An erased message (erased_at) takes no status any more: it would bring the wamid back.
            condition=f"#status IN ({', '.join(f':b{i}' for i in range(len(below)))}) AND attribute_not_exists(erased_at)",
            names=names,
            values=values,
            return_new=True,
        )
        if ok:
            return cast("MessageRow", now)
        # Late or duplicate: the status does not change, but a late `delivered` still gets its
        # timestamp in the history, and pricing (sent with only one status) is kept.
        late_values: dict[str, Any] = {":at": at, ":cancelled": st.CANCELLED}
        late_sets = ["events.#new = :at"]
        if pricing:
            late_sets.append("pricing = if_not_exists(pricing, :pricing)")
            late_values[":pricing"] = dynamo_safe(pricing)
        self.table.update(
            *key,
            "SET " + ", ".join(late_sets),
            condition="attribute_exists(pk) AND attribute_not_exists(events.#new) AND #status <> :cancelled AND attribute_not_exists(erased_at)",
            names={"#new": new_status, "#status": "status"},
            values=late_values,
        )
        return None

    def record_reply(self, tenant_id: str, message_id: str, reply: LastReply) -> None:
        """What the customer answered to a message (its latest reply, and a rating if it was one)."""
        sets = ["last_reply = :reply"]
        values: dict[str, Any] = {":reply": dynamo_safe(reply)}
        if reply.get("rating") is not None:
            sets.append("rating = :rating")
            values[":rating"] = reply["rating"]
        self.update(tenant_id, message_id, "SET " + ", ".join(sets), condition="attribute_exists(pk)", values=values)

    def status_of(self, tenant_id: str, message_id: str) -> str | None:
        """The message's current status alone (a retried callback checks it has not gone stale)."""
        item = self.table.get(*keys.message(tenant_id, message_id), consistent=True, attributes=("status",))
        return str(item["status"]) if item else None
