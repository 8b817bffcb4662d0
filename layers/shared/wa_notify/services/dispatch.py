"""The minute tick: everything in the due index whose time has come gets its next step."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, cast

from wa_notify.domain import status as st
from wa_notify.domain.outcomes import Watermark
from wa_notify.domain.records import ErrorInfo, MessageRow
from wa_notify.observability import logger
from wa_notify.services.deps import Deps, epoch_ms, iso
from wa_notify.services.messages import send_job


def run(deps: Deps, now: datetime) -> dict[str, int]:
    """One tick. Scheduled messages due by the end of this minute are enqueued without a write
    per message: each due shard's watermark is advanced with one conditional write, and only
    the run that advanced it enqueues the range (a double or overlapping fire enqueues
    nothing twice; the sender's lease would stop a second send anyway). A range whose run
    died before enqueueing is found again, later, by the stale sweep below."""
    s = deps.settings
    store = deps.store
    now_ms = epoch_ms(now)
    at = iso(now)
    counts: dict[str, int] = defaultdict(int)
    jobs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    next_due = now_ms + s.stale_queue_seconds * 1000
    stale_before = now_ms - s.stale_queue_seconds * 1000
    # The tick of minute M releases every scheduled message due before M+1 ("in that minute");
    # leases and stale jobs are judged against the exact time.
    minute_end_ms = (now_ms // 60_000 + 1) * 60_000 - 1
    # Each shard's range is claimed, then its due keys read (DueIndex is KEYS_ONLY); the rows of
    # every shard are read together (BatchGetItem), then each shard's are moved on.
    claims, entries = [], []
    for shard in range(store.due_shards):
        claims.append(store.dispatch.claim_range(shard, minute_end_ms))
        entries.append(store.dispatch.due_keys(shard, minute_end_ms, s.dispatch_max_items))
    rows = store.dispatch.due_rows([e for shard_entries in entries for e in shard_entries], minute_end_ms)
    for claim, shard_entries in zip(claims, entries, strict=True):
        claimed = claim.outcome is Watermark.CLAIMED
        for row in (rows[e["pk"]] for e in shard_entries if e["pk"] in rows):
            tenant_id, message_id, status, due_at = row["tenant_id"], row["id"], row["status"], int(row["due_at"])
            item = cast("MessageRow", row)  # read as a message only below, where the status is a message's (not fallback_due)
            if status == st.SCHEDULED:
                if claim.outcome is Watermark.AHEAD:
                    if store.dispatch.promote_scheduled(tenant_id, message_id, next_due, at):
                        jobs[item["priority"]].append(send_job(item))
                        counts["promoted"] += 1
                elif claimed and due_at > claim.after:
                    jobs[item["priority"]].append({**send_job(item), "due_by": minute_end_ms})
                    counts["promoted"] += 1
                elif due_at <= stale_before and (not claimed or due_at <= claim.after) and store.dispatch.promote_scheduled(
                    tenant_id, message_id, next_due, at
                ):
                    # Dispatched long ago and still not leased: its job was lost (or its run died).
                    jobs[item["priority"]].append(send_job(item))
                    counts["recovered"] += 1
            elif due_at > now_ms:
                continue
            elif status == "fallback_due":
                # A tenant's unread deadline (its own item, see fallback.schedule_unread_deadline).
                from wa_notify.services import fallback

                counts["sms_fallback" if fallback.on_deadline(deps, tenant_id, message_id) else "fallback_not_needed"] += 1
            elif status == st.QUEUED:
                # Its SQS job was lost or is overdue: enqueue again (the lease stops a double send).
                if store.dispatch.claim_stale_queued(tenant_id, message_id, due_at, next_due):
                    jobs[item["priority"]].append(send_job(item))
                    counts["requeued"] += 1
            elif status == st.SENDING:
                # Its due time is the one it had before the lease (taking a lease leaves the index
                # alone): a live lease is skipped, and the row is read again at the next tick.
                if int(item.get("lease_until", 0)) <= now_ms and store.leases.expire(
                    tenant_id, message_id, item.get("lease_token", ""), now_ms + s.unknown_reconcile_seconds * 1000, at
                ):
                    counts["lease_expired"] += 1
            elif status == st.UNKNOWN:
                error: ErrorInfo = {
                    "code": "outcome_unknown",
                    "title": "WhatsApp's answer to the send was lost and no status arrived",
                    "details": f"no status webhook within {s.unknown_reconcile_seconds} s; not re-sent to avoid a duplicate",
                }
                if store.dispatch.give_up_unknown(tenant_id, message_id, error, at):
                    counts["gave_up"] += 1
    for lane, lane_jobs in jobs.items():
        failed = deps.queues.send_lane_many(lane, lane_jobs)
        if failed:
            # They stay in the due index and the stale sweep enqueues them again.
            logger.error("enqueue failed", extra={"lane": lane, "failed": len(failed)})
    result = dict(counts)
    logger.info("dispatch tick", extra={"at": at, **result})
    return result
