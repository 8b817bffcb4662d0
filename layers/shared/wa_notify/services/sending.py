"""The sender: one SQS job -> at most one provider call, every outcome a conditional write."""

from __future__ import annotations

import math
import random
import threading
import uuid
from datetime import datetime
from typing import Any

from wa_notify.adapters.cloud_api import Accepted, Ambiguous, NotSent, Rejected
from wa_notify.domain import status as st
from wa_notify.domain.phone import mask
from wa_notify.domain.ratelimit import Rate, shards_for
from wa_notify.domain.records import MessageRow
from wa_notify.domain.whatsapp_errors import (
    MAX_BACKOFF_SECONDS,
    NUMBER_BLOCK_SECONDS,
    PAIR_RATE_LIMIT,
    THROTTLE_CODES,
    ProviderError,
    backoff_seconds,
    pair_backoff_seconds,
)
from wa_notify.domain.wire import wire_request
from wa_notify.observability import logger, metrics, record_outcome
from wa_notify.services import template_lifecycle
from wa_notify.services.deps import Deps, epoch_ms, iso, parse_iso


class PacerBatch:
    """One invocation's reserve: the records still to send and the tokens taken for them. The
    threads sending one batch's records side by side share it, one take at a time (`lock`)."""

    def __init__(self, records: int = 1) -> None:
        self.pending = max(1, records)
        self.reserve: dict[str, int] = {}
        self.lock = threading.RLock()


class Pacer(threading.local):
    """Number tokens for one invocation's batch, taken in one write for the whole batch.

    The first record of a batch of ten takes (up to) ten tokens for its lane; the next
    records use them. Unused ones (a redelivered job, a cancelled message) are simply lost,
    which only ever errs on the slow side of WhatsApp's limit. Per thread, like the batch
    processor (`wa_notify.batch`): locally several sender containers are threads of one
    process, and a shared reserve would let two of them spend one token. The threads that
    send one invocation's records (`wa_notify.batch`) `join` its batch.
    """

    def __init__(self) -> None:
        self.batch = PacerBatch()

    def begin(self, records: int) -> None:
        self.batch = PacerBatch(records)

    def join(self, batch: PacerBatch) -> None:
        self.batch = batch

    @property
    def pending(self) -> int:
        return self.batch.pending

    @pending.setter
    def pending(self, value: int) -> None:
        self.batch.pending = value

    @property
    def reserve(self) -> dict[str, int]:
        return self.batch.reserve


pacer = Pacer()


def number_rate(deps: Deps, tenant_id: str) -> tuple[Rate, int]:
    """The number's throughput: the tenant's setting (80/s by default, up to 1,000/s) as a rate
    per shard, and the shard count."""
    from wa_notify.services.callbacks import tenant_settings

    s = deps.settings
    per_second = float(tenant_settings(deps, tenant_id).get("throughput_per_second") or s.number_rate_per_second)
    burst = s.number_burst if per_second == s.number_rate_per_second else max(1, int(per_second))
    shards = shards_for(per_second)
    return Rate.per_second(per_second / shards, max(1, burst // shards)), shards


def take_number_token(deps: Deps, tenant_id: str, pnid: str, lane: str, now_us: int) -> int:
    """0 when this send may go now, else microseconds to wait."""
    with pacer.batch.lock:
        return _take_number_token(deps, tenant_id, pnid, lane, now_us)


def _take_number_token(deps: Deps, tenant_id: str, pnid: str, lane: str, now_us: int) -> int:
    key = f"{pnid}#{lane}"
    if pacer.reserve.get(key, 0) > 0:
        pacer.reserve[key] -= 1
        return 0
    rate, shards = number_rate(deps, tenant_id)
    shard = None if shards == 1 else random.randrange(shards)  # noqa: S311 - load spreading
    granted, wait = deps.store.buckets.take_number(pnid, shard, rate, now_us, n=pacer.pending, lane=lane)
    if granted:
        pacer.reserve[key] = granted - 1
        return 0
    return wait


def _number_blocked(deps: Deps, tenant_id: str, message_id: str, token: str, job: dict[str, Any], pnid: str, lane: str,
                    error: ProviderError, now_ms: int, at: str) -> str:
    """Meta blocked the number (368, 131048): pause every send from it (its pace buckets grant
    nothing until the block's end, so each message waits in its queue instead of being refused
    and failed one by one) and put this one back, with no attempt spent."""
    assert error.code is not None  # one of NUMBER_BLOCK_SECONDS
    block_s = NUMBER_BLOCK_SECONDS[error.code]
    _, shards = number_rate(deps, tenant_id)
    deps.store.buckets.block_number(pnid, shards, (now_ms + block_s * 1000) * 1000)
    for key in [k for k in pacer.reserve if k.startswith(f"{pnid}#")]:
        pacer.reserve[key] = 0  # tokens this batch took before the block are spent
    delay = min(MAX_BACKOFF_SECONDS, block_s)
    deps.store.leases.record_number_blocked(tenant_id, message_id, token, error.as_dict(),
                                            now_ms + (delay + deps.settings.stale_queue_seconds) * 1000, at)
    deps.queues.send(lane, job, delay_seconds=delay)
    metrics.add_metric(name="NumberBlocked", unit="Count", value=1)
    logger.warning("WhatsApp blocked the number: its sends pause", extra={"phone_number_id": pnid, "code": error.code,
                                                                           "title": error.title, "pause_s": block_s})
    return "number_blocked"


def template_name(message: MessageRow) -> str | None:
    return (message.get("template") or {}).get("name")


# Intake queues a message's job before writing its row (services/messages.py `_create`), so a
# sender can be quicker than that write: it looks again after these waits (seconds) ...
NO_ROW_WAITS_S = (0.05, 0.15, 0.4)
# ... and a job whose row is still missing this long after the message was made belongs to a
# request that stopped before the write (it answered no 202): nothing to send, the job is dropped.
NO_ROW_AFTER_MS = 60_000


class MessageNotWrittenYet(Exception):  # noqa: N818 - a state, reported as the record's failure
    """The job came before its message's row: SQS brings it back after the visibility timeout."""


def lease(deps: Deps, job: dict[str, Any], token: str, now: datetime) -> MessageRow | str:
    """The message leased to this sender, or why not: "skipped" (redelivered, cancelled, already
    sent or not yet due: the lease makes a second send impossible), "no_message" (a job for a
    row never written), "lease_expired" (a sender stopped holding it: now unknown, never re-sent).

    A queued message outside the due index (intake queued its job first) has no dispatcher to
    notice a sender that stopped while holding its lease: its own job does, when SQS delivers it
    again (the visibility timeout is longer than a lease): an expired lease is expired here, as
    the dispatcher does for the rows it sees. A job that finds a live lease on such a message
    (a duplicate, or a redelivery sooner than that) puts it in the due index at the lease's end
    before it is dropped, so the dispatcher watches it from then on: no receive is spent waiting,
    and no DLQ can strand it in `sending`."""
    s, store = deps.settings, deps.store
    tenant_id, message_id = job["tenant_id"], job["message_id"]
    at, now_ms = iso(now), epoch_ms(now)
    until = now_ms + s.send_lease_seconds * 1000
    release_by = job.get("due_by") or now_ms
    message, current = store.leases.take_or_current(tenant_id, message_id, token, until, at, release_by_ms=release_by)
    for wait in NO_ROW_WAITS_S:
        if message is not None or current is not None:
            break
        deps.sleep(wait)
        message, current = store.leases.take_or_current(tenant_id, message_id, token, until, at, release_by_ms=release_by)
    if message is not None:
        return message
    if current is None:
        created = job.get("created_ms")
        if created is None or now_ms - int(created) > NO_ROW_AFTER_MS:
            metrics.add_metric(name="SendJobWithoutMessage", unit="Count", value=1)
            return "no_message"
        raise MessageNotWrittenYet(f"message {message_id} is not written yet")
    if current.get("status") != st.SENDING:
        return "skipped"
    if int(current.get("lease_until", 0)) <= now_ms:
        expired = store.leases.expire(tenant_id, message_id, str(current.get("lease_token", "")),
                                      now_ms + s.unknown_reconcile_seconds * 1000, at)
        if expired:
            metrics.add_metric(name="SendLeaseExpired", unit="Count", value=1)
        return "lease_expired" if expired else "skipped"
    if current.get("due_at") is None:
        store.leases.watch(tenant_id, message_id, str(current.get("lease_token", "")), int(current.get("lease_until", 0)))
    return "skipped"  # in the due index: the dispatcher expires the lease if its sender stopped


def process(deps: Deps, job: dict[str, Any]) -> str:
    try:
        return _process(deps, job)
    finally:
        with pacer.batch.lock:
            pacer.pending = max(1, pacer.pending - 1)


def _process(deps: Deps, job: dict[str, Any]) -> str:
    """Handle one send job; returns what happened (for logs and tests)."""
    s = deps.settings
    store = deps.store
    tenant_id, message_id = job["tenant_id"], job["message_id"]
    now = deps.now()
    now_ms = epoch_ms(now)
    token = uuid.uuid4().hex
    message = lease(deps, job, token, now)
    if isinstance(message, str):
        return message  # not ours to send (skipped, no_message, lease_expired)
    pnid, to = message["phone_number_id"], message["to"]
    if message.get("not_after") is not None and now_ms > int(message["not_after"]):
        store.leases.cancel(tenant_id, message_id, token, "the campaign's send window closed before it could go", iso(now))
        metrics.add_metric(name="SendCancelledWindowClosed", unit="Count", value=1)
        return "cancelled"
    if message.get("campaign"):
        from wa_notify.services.campaigns import is_cancelled

        if is_cancelled(deps, tenant_id, message["campaign"]):
            store.leases.cancel(tenant_id, message_id, token, "the campaign was cancelled", iso(now))
            return "cancelled"
    if (held := template_lifecycle.gate(deps, tenant_id, message, token)) is not None:
        return held  # its template is PAUSED (held until approved) or DISABLED (cancelled)
    if (message.get("template") or {}).get("category") == "MARKETING":
        # The last gate before WhatsApp: a contact who opted out after this was planned gets nothing.
        contact = store.contacts.get(tenant_id, to) or {}
        if contact.get("opted_out"):
            store.leases.cancel(tenant_id, message_id, token, "the contact opted out of marketing", iso(now))
            metrics.add_metric(name="SendCancelledOptOut", unit="Count", value=1)
            return "cancelled"
    if message.get("template") is None and message.get("text") is not None:
        # Free text goes only inside the customer's 24 h window: one that closed while the message
        # waited is cancelled (window_closed), never sent to fail with Meta's 131047.
        from wa_notify.domain.conversation import window_open

        if not window_open((store.contacts.get(tenant_id, to) or {}).get("window_expires_at"), now):
            store.leases.cancel(tenant_id, message_id, token, "window_closed", iso(now))
            metrics.add_metric(name="SendCancelledOutsideWindow", unit="Count", value=1)
            return "cancelled"
    now_us = now_ms * 1000
    lane = message["priority"]
    wait_us = take_number_token(deps, tenant_id, pnid, lane, now_us)
    for _ in range(3):
        # A short wait is cheaper slept here than paid as a release, a delayed SQS job and a
        # second lease; anything longer goes back to the queue.
        if not wait_us or wait_us > s.max_inline_wait_ms * 1000:
            break
        deps.sleep(wait_us / 1_000_000)
        now_us = epoch_ms(deps.now()) * 1000
        wait_us = take_number_token(deps, tenant_id, pnid, lane, now_us)
    if wait_us:
        delay = min(MAX_BACKOFF_SECONDS, math.ceil(wait_us / 1_000_000))  # a blocked number waits up to an hour: SQS delays 15 min at most
        store.leases.release(tenant_id, message_id, token, now_ms + (delay + s.stale_queue_seconds) * 1000, iso(now))
        deps.queues.send(lane, job, delay_seconds=delay)
        metrics.add_metric(name="SendThrottled", unit="Count", value=1)
        return "throttled"

    request = wire_request(message.get("request"), to=message["to"], message_id=message_id)
    outcome = deps.cloud_api.send_message(pnid, request, deps.whatsapp_token(tenant_id, phone_number_id=pnid))
    if isinstance(outcome, Rejected) and outcome.error.token_rejected:
        # The token was rotated or revoked since it was cached: fetch it again and retry once.
        # A refused token means nothing was sent, so this cannot duplicate.
        metrics.add_metric(name="TokenRefetched", unit="Count", value=1)
        outcome = deps.cloud_api.send_message(pnid, request, deps.whatsapp_token(tenant_id, phone_number_id=pnid, force_fetch=True))
    if isinstance(outcome, Rejected) and outcome.error.code in template_lifecycle.META_CODES:
        return template_lifecycle.refused(deps, tenant_id, message, token, outcome.error.code)
    at = iso(deps.now())
    attempt = int(message.get("attempts", 0)) + 1
    if isinstance(outcome, Accepted):
        store.leases.record_accepted(tenant_id, message_id, outcome.wamid, at)
        due = message.get("send_at") or message.get("created_at")
        latency_ms = max(0.0, (deps.now() - parse_iso(due)).total_seconds() * 1000) if due else None
        # The analytics counter and an unread deadline follow the change (services/changes.py).
        record_outcome(tenant_id, template_name(message), "sent", latency_ms=latency_ms)
        logger.debug("accepted by WhatsApp", extra={"message_id": message_id, "to": mask(to), "attempt": attempt})
        return "accepted"
    if isinstance(outcome, Ambiguous):
        store.leases.record_unknown(tenant_id, message_id, token, outcome.reason, now_ms + s.unknown_reconcile_seconds * 1000, at)
        metrics.add_metric(name="SendOutcomeUnknown", unit="Count", value=1)
        logger.warning("send outcome unknown; waiting for a status webhook", extra={"message_id": message_id, "reason": outcome.reason})
        return "unknown"
    error = outcome.error if isinstance(outcome, Rejected) else ProviderError(code=None, title=outcome.reason)
    if error.code in NUMBER_BLOCK_SECONDS:
        return _number_blocked(deps, tenant_id, message_id, token, job, pnid, lane, error, now_ms, at)
    if error.code == PAIR_RATE_LIMIT:
        # WhatsApp's per-recipient pace (we keep no bucket for it: one write saved per send).
        # Nothing was sent and the pair window refills, so this is no attempt: a burst of
        # reminders to one person waits its turn and never fails for it (docs/decisions.md).
        refusals = int(message.get("pair_refusals", 0)) + 1
        delay = pair_backoff_seconds(refusals, jitter=random.random(), first=s.pair_retry_seconds)  # noqa: S311 - jitter
        store.leases.record_pair_limited(tenant_id, message_id, token, error.as_dict(), refusals,
                                         now_ms + (delay + s.stale_queue_seconds) * 1000, at)
        deps.queues.send(lane, job, delay_seconds=delay)
        metrics.add_metric(name="PairRateLimited", unit="Count", value=1)
        logger.info("pair rate limit: will be retried", extra={"message_id": message_id, "delay_s": delay, "refusals": refusals})
        return "pair_limited"
    if (isinstance(outcome, NotSent) or error.retryable) and attempt < s.max_send_attempts:
        delay = backoff_seconds(attempt, error.code, jitter=random.random() * 0.25)  # noqa: S311 - jitter, not crypto
        store.leases.record_retry(tenant_id, message_id, token, error.as_dict(), now_ms + (delay + s.stale_queue_seconds) * 1000, at)
        deps.queues.send(message["priority"], job, delay_seconds=delay)
        metrics.add_metric(name="SendRetried", unit="Count", value=1)
        if error.code in THROTTLE_CODES:
            # Our pacer should keep us under the number's tier: WhatsApp throttling us is alarmed on.
            metrics.add_metric(name="WhatsAppThrottled", unit="Count", value=1)
        logger.info("send will be retried", extra={"message_id": message_id, "code": error.code, "delay_s": delay, "attempt": attempt})
        return "retry"
    store.leases.record_failed(tenant_id, message_id, token, error.as_dict(), at)
    # The counters and an SMS fallback for an undeliverable number follow the change (services/changes.py).
    record_outcome(tenant_id, template_name(message), "failed", code=error.code)
    logger.info("send failed", extra={"message_id": message_id, "code": error.code, "title": error.title})
    return "failed"
