"""The due index and the dispatcher's watermarks: what the minute tick reads and moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.messages import OUT_OF_DUE_INDEX
from wa_notify.domain import status as st
from wa_notify.domain.outcomes import DueClaim, Watermark
from wa_notify.domain.records import ErrorInfo, FallbackDeadlineRow, MessageRow


class DueEntry(TypedDict):
    """A DueIndex entry (KEYS_ONLY): the row's keys and its index keys; the row is read by them."""

    pk: str
    sk: str
    due_shard: str
    due_at: int


AHEAD_BY_MS = 60_000  # a watermark this far past the run's minute was moved on purpose (the clock)


@dataclass
class DispatchRepository:
    table: Table

    def claim_range(self, shard: int, through_ms: int) -> DueClaim:
        """Advance shard's dispatch watermark to `through_ms`: CLAIMED with the previous watermark
        (the range (after, through] is this run's to enqueue), TAKEN when a run got there first,
        AHEAD when the watermark is well past this run's minute."""
        ok, old = self.table.update(
            *keys.dispatch_watermark(shard), "SET through = :t", condition="attribute_not_exists(through) OR through < :t",
            values={":t": through_ms}, return_old=True, return_old_on_failure=True,
        )
        previous = (old or {}).get("through")
        if ok:
            return DueClaim(Watermark.CLAIMED, int(previous) if previous is not None else -1)
        if previous is not None and int(previous) > through_ms + AHEAD_BY_MS:
            # The clock was moved (e.g. by /_local/clock): release this minute message by message instead.
            return DueClaim(Watermark.AHEAD)
        return DueClaim(Watermark.TAKEN)

    def due_keys(self, shard: int, through_ms: int, limit: int) -> list[DueEntry]:
        """The keys of a shard's rows due by `through_ms`, from DueIndex. The index is KEYS_ONLY (a
        lease or status change never rewrites its entry): `due_rows` reads the rows themselves."""
        entries: list[DueEntry] = []
        start = None
        while len(entries) < limit:
            items, start = self.table.query(
                "due_shard = :s AND due_at <= :now", {":s": keys.due_shard_of(shard), ":now": through_ms},
                index="DueIndex", start_key=start,
            )
            entries.extend(cast("list[DueEntry]", items))
            if not start:
                break
        return entries

    def due_rows(self, entries: list[DueEntry], through_ms: int) -> dict[str, MessageRow | FallbackDeadlineRow]:
        """The rows of index entries (every shard's at once: BatchGetItem, 100 a call, consistent),
        by pk: messages, and SMS fallback deadlines (status `fallback_due`). What the tick acts on
        is each row as it is now; one that moved on since the index saw it (a later due time, or
        out of the index) is left out."""
        if not entries:
            return {}
        rows = self.table.batch_get([{"pk": e["pk"], "sk": e["sk"]} for e in entries])
        return {r["pk"]: cast("MessageRow | FallbackDeadlineRow", r) for r in rows
                if r.get("due_at") is not None and int(r["due_at"]) <= through_ms}

    def promote_scheduled(self, tenant_id: str, message_id: str, next_due_ms: int, at: str) -> bool:
        """scheduled -> queued (its job is being enqueued); due again at `next_due_ms` if it is lost."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET #status = :queued, events.#queued = if_not_exists(events.#queued, :at), due_at = :due, updated_at = :at",
            condition="#status = :scheduled",
            names={"#status": "status", "#queued": st.QUEUED},
            values={":queued": st.QUEUED, ":scheduled": st.SCHEDULED, ":due": next_due_ms, ":at": at},
        )
        return ok

    def claim_stale_queued(self, tenant_id: str, message_id: str, old_due_ms: int, next_due_ms: int) -> bool:
        """A queued message whose job is overdue: one run re-enqueues it."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET due_at = :next",
            condition="#status = :queued AND due_at = :old",
            names={"#status": "status"},
            values={":queued": st.QUEUED, ":old": old_due_ms, ":next": next_due_ms},
        )
        return ok

    def give_up_unknown(self, tenant_id: str, message_id: str, error: ErrorInfo, at: str) -> bool:
        """unknown -> failed: no status webhook came to tell whether the send reached WhatsApp."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id),
            f"SET #status = :failed, #error = :err, events.#failed = :at, updated_at = :at, failed_key = :fk REMOVE {OUT_OF_DUE_INDEX}",
            condition="#status = :unknown",
            names={"#status": "status", "#error": "error", "#failed": st.FAILED},
            values={":failed": st.FAILED, ":unknown": st.UNKNOWN, ":err": dynamo_safe(error), ":at": at,
                    ":fk": keys.failed_list_key(tenant_id)},
        )
        return ok
