"""Callbacks to the platform: every status change and reply, signed with the tenant's secret.

They follow the table's stream (services/changes.py): a change that owes a callback is posted
straight from the stream batch. A post that fails goes to the callback retry queue with the
whole event and a 4^n s delay capped at 900 s (SQS delays do not count as receives), so the
stream shard moves on and one platform's failing URL never holds up another's messages. It is
retried until `callback_max_age_seconds` (24 h) after its first failed post, which the job
carries as `first_failed_at` (or after `callback_max_attempts`, a backstop), then parked in the
DLQ; an address we never post to (adapters/callback_http.py) is parked at once. While a tenant's URL is failing, its next callbacks skip the
post and queue at once for a short while (a circuit breaker), so a URL that hangs costs one
timeout per tenant per batch, not one per record.

Status callbacks of one message never go backwards: the stream orders one item's changes,
and a retried status is dropped once the message has moved past it (one read, on the retry
path only).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from wa_notify.domain import signatures
from wa_notify.domain import status as st
from wa_notify.domain.changes import Callback
from wa_notify.domain.whatsapp_errors import backoff_seconds
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, iso, parse_iso, ttl_cached

_settings_cache: dict[str, tuple[dict[str, Any], float]] = {}
SETTINGS_CACHE_SECONDS = 30
BREAKER_SECONDS = 30  # after a failed post, a tenant's callbacks queue for retry without posting for this long
_failing: dict[str, tuple[float, str, bool]] = {}  # tenant -> (until, why the last post failed, permanent?)


def _settings(deps: Deps, tenant_id: str) -> dict[str, Any]:
    return ttl_cached(_settings_cache, tenant_id, SETTINGS_CACHE_SECONDS, lambda: deps.store.tenants.get_settings(tenant_id))


def tenant_settings(deps: Deps, tenant_id: str) -> dict[str, Any]:
    """The tenant's settings, cached for 30 s per container (read on every webhook change)."""
    return _settings(deps, tenant_id)


def reset() -> None:
    """Forget cached settings and open breakers (a new local stack or test)."""
    _settings_cache.clear()
    _failing.clear()


POST_BUDGET_SECONDS = 3.0  # how long one stream batch waits for posts before queueing what is left
THREADS_PER_TENANT = 8  # a tenant's messages posted side by side (each message's callbacks in order)
MAX_THREADS = 32


def ordering_key(callback: Callback) -> str:
    """What must be posted in order: one message's status callbacks; a tenant's other events
    (replies, opt-outs) keep their stream order among themselves, as before."""
    if callback.type == "message.status" and callback.data.get("message_id"):
        return f"message:{callback.data['message_id']}"
    if callback.type in ("message.cancelled", "message.fallback", "message.clicked") and callback.data.get("id"):
        return f"message:{callback.data['id']}"  # in order with the message's statuses
    return "events"


def send_all(deps: Deps, owed: list[tuple[str, Callback]], budget_s: float = POST_BUDGET_SECONDS) -> None:
    """Post a stream batch's callbacks: in order for one message, different messages side by side
    (up to THREADS_PER_TENANT a tenant), tenants side by side, and for at most `budget_s`. A
    tenant whose URL hangs (or whose DNS does) keeps only its own threads: at the deadline its
    callbacks not yet posted, and those in flight, go to the retry queue, so the shard moves on
    and every other tenant's callbacks are on time. Returns once each callback was posted or
    queued (a queue failure raises: the batch is then delivered again)."""
    if not owed:
        return
    by_tenant: dict[str, dict[str, list[Callback]]] = {}
    for tenant_id, callback in owed:
        by_tenant.setdefault(tenant_id, {}).setdefault(ordering_key(callback), []).append(callback)
    if len(by_tenant) == 1 and budget_s <= 0:
        for tenant_id, callback in owed:
            send(deps, tenant_id, callback)
        return
    import threading
    from concurrent.futures import ThreadPoolExecutor, wait

    lock = threading.Lock()
    groups = {tenant_id: list(keyed.values()) for tenant_id, keyed in by_tenant.items()}
    next_group = dict.fromkeys(groups, 0)  # per tenant: the next message no thread has taken
    posted: dict[tuple[str, int], int] = {}  # (tenant, group) -> callbacks done (posted or queued)
    abandoned: set[str] = set()

    def work(tenant_id: str) -> None:
        while True:
            with lock:
                if tenant_id in abandoned or next_group[tenant_id] >= len(groups[tenant_id]):
                    return
                g = next_group[tenant_id]
                next_group[tenant_id] += 1
                posted[(tenant_id, g)] = 0
            for callback in groups[tenant_id][g]:
                with lock:
                    if tenant_id in abandoned:
                        return
                send(deps, tenant_id, callback)
                with lock:
                    posted[(tenant_id, g)] += 1

    threads = {tenant_id: min(THREADS_PER_TENANT, len(tenant_groups)) for tenant_id, tenant_groups in groups.items()}
    pool = ThreadPoolExecutor(max_workers=min(MAX_THREADS, sum(threads.values())), thread_name_prefix="callbacks")
    futures = {pool.submit(work, tenant_id): tenant_id for tenant_id, n in threads.items() for _ in range(n)}
    done, late = wait(futures, timeout=budget_s)
    pool.shutdown(wait=False, cancel_futures=True)
    for future in done:
        future.result()  # a queue failure inside: the batch is delivered again
    late_tenants = {futures[future] for future in late}
    for tenant_id in late_tenants:
        with lock:
            abandoned.add(tenant_id)
            # Each message's callbacks not done yet, the one in flight too (its post may never return).
            left = [callback for g, group in enumerate(groups[tenant_id]) for callback in group[posted.get((tenant_id, g), 0):]]
        _failing[tenant_id] = (time.monotonic() + BREAKER_SECONDS, "the URL did not answer within the batch's time budget", False)
        for callback in left:
            _queue_retry(deps, {"tenant_id": tenant_id, "event": callback.as_dict(), "attempt": 1},
                         "the URL did not answer within the batch's time budget", permanent=False)
        metrics.add_metric(name="CallbackPostsDeferred", unit="Count", value=len(left))


def send(deps: Deps, tenant_id: str, callback: Callback) -> str:
    """Post one callback from the stream; a failure queues it for retry (raises only when the
    retry queue itself cannot take it: the stream record is then retried)."""
    if not _settings(deps, tenant_id).get("callback_url"):
        return "no_url"
    job = {"tenant_id": tenant_id, "event": callback.as_dict(), "attempt": 1}
    until, why, permanent = _failing.get(tenant_id, (0.0, "", False))
    if until > time.monotonic():
        # Not posted: the URL failed moments ago (the breaker is open). A refused address is
        # parked as the post itself would have been; anything else waits its retry.
        return _queue_retry(deps, job, f"{why} (not posted: the breaker is open)", permanent=permanent)
    return deliver(deps, job, from_stream=True)


def deliver(deps: Deps, job: dict[str, Any], *, from_stream: bool = False) -> str:
    """Post one job (from the stream or the retry queue): delivered, stale, no_url, retry or parked."""
    tenant_id, payload, attempt = job["tenant_id"], job["event"], int(job.get("attempt", 1))
    settings = _settings(deps, tenant_id)
    url, secret = settings.get("callback_url"), settings.get("callback_secret")
    if not url or not secret:
        return "no_url"
    if not from_stream and _superseded(deps, tenant_id, payload):
        metrics.add_metric(name="CallbackStaleDropped", unit="Count", value=1)
        return "stale"
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Signature-256": signatures.sign(secret, body),
               "X-WaNotify-Event": payload["type"], "X-WaNotify-Event-Id": payload["id"], "X-WaNotify-Attempt": str(attempt)}
    outcome, permanent = _post(deps, url, body, headers)
    if outcome is None:
        _failing.pop(tenant_id, None)
        metrics.add_metric(name="CallbackDelivered", unit="Count", value=1)
        return "delivered"
    _failing[tenant_id] = (time.monotonic() + BREAKER_SECONDS, outcome, permanent)
    return _queue_retry(deps, job, outcome, permanent=permanent)


def _queue_retry(deps: Deps, job: dict[str, Any], outcome: str, *, permanent: bool) -> str:
    tenant_id, payload, attempt = job["tenant_id"], job["event"], int(job.get("attempt", 1))
    if permanent:
        # A refused address is parked at once: retrying would only knock on it again.
        metrics.add_metric(name="CallbackRefused", unit="Count", value=1)
    now = deps.now()
    job = {**job, "first_failed_at": job.get("first_failed_at") or iso(now)}
    if permanent or _out_of_budget(deps, job, attempt, now):
        if deps.queues.send_many(deps.settings.callback_dlq_url, [{**job, "last_error": outcome, "parked_at": iso(now)}]):
            raise RuntimeError("could not park a callback in the DLQ")
        metrics.add_metric(name="CallbackParked", unit="Count", value=1)
        logger.warning("callback parked in the DLQ", extra={"tenant_id": tenant_id, "event_id": payload["id"], "error": outcome})
        return "parked"
    deps.queues.send_to(deps.settings.callback_retry_queue_url, {**job, "attempt": attempt + 1, "last_error": outcome},
                        delay_seconds=backoff_seconds(attempt))
    metrics.add_metric(name="CallbackRetried", unit="Count", value=1)
    return "retry"


def _out_of_budget(deps: Deps, job: dict[str, Any], attempt: int, now: datetime) -> bool:
    """Retried long enough: `callback_max_age_seconds` since the first failed post (not the
    event's own time: a status Meta redelivered days late still gets its full day), or the
    attempt backstop (alone, for a `first_failed_at` that does not parse)."""
    if attempt >= deps.settings.callback_max_attempts:
        return True
    try:
        first = parse_iso(str(job["first_failed_at"]))
    except ValueError:
        return False
    return (now - first).total_seconds() >= deps.settings.callback_max_age_seconds


def _superseded(deps: Deps, tenant_id: str, payload: dict[str, Any]) -> bool:
    """A retried status callback whose message has since moved to a later reported status: the
    later one went (or is queued) already, and the platform must not see the message go back."""
    if payload.get("type") != "message.status":
        return False
    data = payload.get("data") or {}
    current = deps.store.messages.status_of(tenant_id, str(data.get("message_id")))
    return current is not None and current != data.get("status") and st.RANK.get(current, 0) > st.RANK.get(str(data.get("status")), 0) \
        and current in (st.SENT, st.DELIVERED, st.READ, st.FAILED)


def _post(deps: Deps, url: str, body: bytes, headers: dict[str, str]) -> tuple[str | None, bool]:
    """(None, False) on a 2xx, else why it failed and whether that is permanent: a URL or
    resolved address that is not the platform's (SSRF) is never posted to, nor retried."""
    import httpx

    from wa_notify.adapters.callback_http import RefusedAddress

    try:
        response = deps.callback_http.post(url, content=body, headers=headers, allow_local=deps.settings.callback_allow_local)
    except RefusedAddress as exc:
        return f"refused: callback_url {exc}", True
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}", False
    if 200 <= response.status_code < 300:
        return None, False
    return f"HTTP {response.status_code}", False
