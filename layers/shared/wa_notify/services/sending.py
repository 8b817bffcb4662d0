"""The sender: one SQS job -> at most one provider call, every outcome a conditional write."""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

from wa_notify.adapters.cloud_api import Accepted, Ambiguous, NotSent, Rejected
from wa_notify.domain.phone import mask
from wa_notify.domain.ratelimit import Rate
from wa_notify.domain.whatsapp_errors import ProviderError, backoff_seconds
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, epoch_ms, iso


def process(deps: Deps, job: dict[str, Any]) -> str:
    """Handle one send job; returns what happened (for logs and tests)."""
    s = deps.settings
    store = deps.store
    tenant_id, message_id = job["tenant_id"], job["message_id"]
    now = deps.now()
    now_ms = epoch_ms(now)
    token = uuid.uuid4().hex
    message = store.lease(tenant_id, message_id, token, now_ms + s.send_lease_seconds * 1000, iso(now))
    if message is None:
        # Redelivered, cancelled or already sent: the lease makes a second send impossible.
        return "skipped"
    pnid, to = message["phone_number_id"], message["to"]
    if (message.get("template") or {}).get("category") == "MARKETING":
        # The last gate before WhatsApp: a contact who opted out after this was planned gets nothing.
        contact = store.get_contact(tenant_id, to) or {}
        if contact.get("opted_out"):
            store.cancel_leased(tenant_id, message_id, token, "the contact opted out of marketing", iso(now))
            metrics.add_metric(name="SendCancelledOptOut", unit="Count", value=1)
            return "cancelled"
    now_us = now_ms * 1000
    wait_us = store.take_token(f"PNID#{pnid}", Rate.per_second(s.number_rate_per_second, s.number_burst), now_us)
    if not wait_us:
        wait_us = store.take_token(f"PAIR#{pnid}#{to}", Rate.every(s.pair_interval_seconds, s.pair_burst), now_us, ttl_s=86_400)
    if wait_us:
        delay = math.ceil(wait_us / 1_000_000)
        store.release(tenant_id, message_id, token, now_ms + (delay + s.stale_queue_seconds) * 1000, iso(now))
        deps.queues.send(message["priority"], job, delay_seconds=delay)
        metrics.add_metric(name="SendThrottled", unit="Count", value=1)
        return "throttled"

    outcome = deps.cloud_api.send_message(pnid, message["request"])
    at = iso(deps.now())
    attempt = int(message.get("attempts", 0)) + 1
    if isinstance(outcome, Accepted):
        store.record_accepted(tenant_id, message_id, outcome.wamid, at)
        metrics.add_metric(name="SendAccepted", unit="Count", value=1)
        logger.info("accepted by WhatsApp", extra={"message_id": message_id, "to": mask(to), "attempt": attempt})
        return "accepted"
    if isinstance(outcome, Ambiguous):
        store.record_unknown(tenant_id, message_id, token, outcome.reason, now_ms + s.unknown_reconcile_seconds * 1000, at)
        metrics.add_metric(name="SendOutcomeUnknown", unit="Count", value=1)
        logger.warning("send outcome unknown; waiting for a status webhook", extra={"message_id": message_id, "reason": outcome.reason})
        return "unknown"
    error = outcome.error if isinstance(outcome, Rejected) else ProviderError(code=None, title=outcome.reason)
    if (isinstance(outcome, NotSent) or error.retryable) and attempt < s.max_send_attempts:
        delay = backoff_seconds(attempt, error.code, jitter=random.random() * 0.25)  # noqa: S311 - jitter, not crypto
        store.record_retry(tenant_id, message_id, token, error.as_dict(), now_ms + (delay + s.stale_queue_seconds) * 1000, at)
        deps.queues.send(message["priority"], job, delay_seconds=delay)
        metrics.add_metric(name="SendRetried", unit="Count", value=1)
        logger.info("send will be retried", extra={"message_id": message_id, "code": error.code, "delay_s": delay, "attempt": attempt})
        return "retry"
    store.record_failed(tenant_id, message_id, token, error.as_dict(), at)
    metrics.add_metric(name="SendFailed", unit="Count", value=1)
    logger.info("send failed", extra={"message_id": message_id, "code": error.code, "title": error.title})
    return "failed"
