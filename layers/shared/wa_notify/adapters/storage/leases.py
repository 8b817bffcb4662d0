"""The sender's lease: queued (or due scheduled) -> sending for exactly one sender, and every way
out of it. Each way out is one conditional write on the lease token (`_end_lease`), so only
the sender holding the lease (or the dispatcher expiring that very lease) can move the message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.messages import OUT_OF_DUE_INDEX
from wa_notify.domain import status as st
from wa_notify.domain.records import ErrorInfo, MessageRow

LEASE = "lease_token, lease_until"


@dataclass
class LeaseRepository:
    table: Table
    due_shards: int = 4

    def take(self, tenant_id: str, message_id: str, token: str, lease_until_ms: int, at: str, *,
             release_by_ms: int = 0) -> MessageRow | None:
        """queued (or due scheduled) -> sending, won by exactly one sender. The message, or None.

        Its due time stays as it was (the stale-queue deadline, or a scheduled message's minute):
        moving it would rewrite its DueIndex entry (a key change: two index writes) on every send.
        A sender that dies holding the lease is found when both that time and the lease have
        passed (the dispatcher skips a live lease and sees the row again next minute)."""
        return self.take_or_current(tenant_id, message_id, token, lease_until_ms, at, release_by_ms=release_by_ms)[0]

    def take_or_current(self, tenant_id: str, message_id: str, token: str, lease_until_ms: int, at: str, *,
                        release_by_ms: int = 0) -> tuple[MessageRow | None, MessageRow | None]:
        """`take`: (the message leased, None), or (None, the message as it is: None when there is
        no row), read with the failed condition at no extra cost."""
        ok, new = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET #status = :sending, lease_token = :token, lease_until = :until, updated_at = :at, "
            "events.#queued = if_not_exists(events.#queued, :at)",
            # A scheduled message is leased straight from the dispatcher's job, but never before its minute.
            condition="#status = :queued OR (#status = :scheduled AND due_at <= :minute_end)",
            names={"#status": "status", "#queued": st.QUEUED},
            values={":sending": st.SENDING, ":queued": st.QUEUED, ":scheduled": st.SCHEDULED, ":token": token,
                    ":until": lease_until_ms, ":at": at, ":minute_end": (release_by_ms // 60_000 + 1) * 60_000 - 1},
            return_new=True, return_old_on_failure=True,
        )
        return (cast("MessageRow", new), None) if ok else (None, cast("MessageRow | None", new))

    def _end_lease(self, tenant_id: str, message_id: str, token: str, status: str, at: str, *, due_ms: int | None,
                   attempt: bool, fields: dict[str, Any] | None = None, history: bool = False, only_sending: bool = False) -> bool:
        """sending -> `status` for the holder of `token`; False when the lease is not its any more.

        `due_ms`: back in the due index at that time (None: out of it, the message is final);
        `attempt`: the provider was called, one more attempt; `fields`: set with it;
        `history`: the time goes into the message's status history (final statuses);
        `only_sending`: also require it to be still sending (the dispatcher expiring a lease)."""
        fields = fields or {}
        names = {"#status": "status"} | {f"#f{i}": name for i, name in enumerate(fields)}
        values: dict[str, Any] = {":status": status, ":at": at, ":token": token}
        values |= {f":f{i}": dynamo_safe(value) for i, value in enumerate(fields.values())}
        sets = ["#status = :status", *(f"#f{i} = :f{i}" for i in range(len(fields))), "updated_at = :at"]
        removes = LEASE
        if history:
            sets.append("events.#history = :at")
            names["#history"] = status
        if attempt:
            sets.append("attempts = attempts + :one")
            values[":one"] = 1
        if due_ms is None:
            removes += ", " + OUT_OF_DUE_INDEX
        else:
            # Its shard too: a message whose job intake queued first was written outside the index.
            sets += ["due_at = :due", "due_shard = :shard"]
            values |= {":due": due_ms, ":shard": keys.due_shard(message_id, self.due_shards)}
        condition = "lease_token = :token"
        if only_sending:
            condition = "#status = :sending AND " + condition
            values[":sending"] = st.SENDING
        ok, _ = self.table.update(*keys.message(tenant_id, message_id), f"SET {', '.join(sets)} REMOVE {removes}",
                                  condition=condition, names=names, values=values)
        return ok

    def release(self, tenant_id: str, message_id: str, token: str, due_ms: int, at: str) -> bool:
        """sending -> queued without an attempt (throttled before the provider call)."""
        return self._end_lease(tenant_id, message_id, token, st.QUEUED, at, due_ms=due_ms, attempt=False)

    def record_retry(self, tenant_id: str, message_id: str, token: str, error: ErrorInfo, due_ms: int, at: str) -> bool:
        """sending -> queued after an attempt that may be retried."""
        return self._end_lease(tenant_id, message_id, token, st.QUEUED, at, due_ms=due_ms, attempt=True, fields={"last_error": error})

    def record_pair_limited(self, tenant_id: str, message_id: str, token: str, error: ErrorInfo, refusals: int,
                            due_ms: int, at: str) -> bool:
        """sending -> queued after WhatsApp's pair limit (131056): nothing was sent and the limit
        refills, so it is not an attempt; `pair_refusals` only grows the next wait."""
        return self._end_lease(tenant_id, message_id, token, st.QUEUED, at, due_ms=due_ms, attempt=False,
                               fields={"last_error": error, "pair_refusals": refusals})

    def record_number_blocked(self, tenant_id: str, message_id: str, token: str, error: ErrorInfo, due_ms: int, at: str) -> bool:
        """sending -> queued after Meta blocked the number (368, 131048): nothing was sent, so it is
        not an attempt; it goes once the block lifts."""
        return self._end_lease(tenant_id, message_id, token, st.QUEUED, at, due_ms=due_ms, attempt=False, fields={"last_error": error})

    def record_failed(self, tenant_id: str, message_id: str, token: str, error: ErrorInfo, at: str) -> bool:
        # failed_key: into FailedIndex (?status=failed), once.
        return self._end_lease(tenant_id, message_id, token, st.FAILED, at, due_ms=None, attempt=True,
                               fields={"error": error, "failed_key": keys.failed_list_key(tenant_id)}, history=True)

    def record_unknown(self, tenant_id: str, message_id: str, token: str, reason: str, due_ms: int, at: str) -> bool:
        """The request may have reached WhatsApp: never re-send blindly; wait for a webhook."""
        return self._end_lease(tenant_id, message_id, token, st.UNKNOWN, at, due_ms=due_ms, attempt=True,
                               fields={"unknown_reason": reason})

    def hold(self, tenant_id: str, message_id: str, token: str, held_for: str, due_ms: int, at: str) -> bool:
        """sending -> scheduled without an attempt: its template (`held_for`, <name>#<language>) is
        PAUSED; released when it is APPROVED again, re-checked at `due_ms` regardless."""
        return self._end_lease(tenant_id, message_id, token, st.SCHEDULED, at, due_ms=due_ms, attempt=False, fields={"held_for": held_for})

    def cancel(self, tenant_id: str, message_id: str, token: str, reason: str, at: str) -> bool:
        """The sender, holding the lease, finds the message must not go (e.g. the contact opted out)."""
        return self._end_lease(tenant_id, message_id, token, st.CANCELLED, at, due_ms=None, attempt=False,
                               fields={"cancel_reason": reason}, history=True)

    def watch(self, tenant_id: str, message_id: str, token: str, lease_until_ms: int) -> bool:
        """A leased message outside the due index goes into it at its lease's end (the dispatcher
        expires a lease its sender never ended); False when that lease ended meanwhile or the
        message is in the index already."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id), "SET due_at = :due, due_shard = :shard",
            condition="#status = :sending AND lease_token = :token AND attribute_not_exists(due_at)",
            names={"#status": "status"},
            values={":sending": st.SENDING, ":token": token, ":due": lease_until_ms,
                    ":shard": keys.due_shard(message_id, self.due_shards)},
        )
        return ok

    def expire(self, tenant_id: str, message_id: str, token: str, due_ms: int, at: str) -> bool:
        """The dispatcher: a sender stopped while holding the lease; it may have sent."""
        return self._end_lease(tenant_id, message_id, token, st.UNKNOWN, at, due_ms=due_ms, attempt=False, only_sending=True,
                               fields={"unknown_reason": "the sender stopped while holding the lease; the request may have reached WhatsApp"})

    def record_accepted(self, tenant_id: str, message_id: str, wamid: str, at: str) -> bool:
        """WhatsApp said yes. Also from `unknown`: a slow answer after our lease was expired is still
        proof of acceptance. Only the one sender that leased the message can get here.

        The rendered request goes too: nothing sends it again, and without it the row is under
        1 KB, so each of the six or so writes still to come (statuses, callback claims) costs
        one write unit instead of two."""
        key = keys.message(tenant_id, message_id)
        names = {"#status": "status", "#accepted": st.ACCEPTED, "#request": "request"}
        values = {":accepted": st.ACCEPTED, ":wamid": wamid, ":at": at, ":one": 1, ":sending": st.SENDING, ":unknown": st.UNKNOWN}
        ok, old = self.table.update(
            *key,
            "SET #status = :accepted, wamid = :wamid, events.#accepted = :at, attempts = attempts + :one, updated_at = :at "
            f"REMOVE {LEASE}, {OUT_OF_DUE_INDEX}, #request",
            condition="#status IN (:sending, :unknown) AND attribute_not_exists(erased_at)",
            names=names, values=values, return_old_on_failure=True,
        )
        if not ok and old and old.get("erased_at"):
            # Its contact was erased while it was being sent: the acceptance without the wamid
            # (Meta's wamid carries the number), nothing else to keep.
            values.pop(":wamid")
            ok, _ = self.table.update(
                *key, "SET #status = :accepted, events.#accepted = :at, attempts = attempts + :one, updated_at = :at "
                f"REMOVE {LEASE}, {OUT_OF_DUE_INDEX}, #request",
                condition="#status IN (:sending, :unknown)", names=names, values=values)
            return ok
        if not ok:
            # A status webhook beat us to it and already moved the message on: keep its
            # status, just make sure the id and the attempt are recorded.
            self.table.update(
                *key,
                "SET wamid = if_not_exists(wamid, :wamid), attempts = attempts + :one, events.#accepted = if_not_exists(events.#accepted, :at)",
                condition="attribute_exists(pk)",
                names={"#accepted": st.ACCEPTED},
                values={":wamid": wamid, ":one": 1, ":at": at},
            )
        return ok
