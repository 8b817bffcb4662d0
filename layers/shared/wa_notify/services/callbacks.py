"""Callbacks to the platform: every status change and reply, signed with the tenant's secret.

Delivered from the callback queue. A failed delivery is re-queued with a 4^n s delay (SQS
delays do not count as receives) and parked in the DLQ after `callback_max_attempts`; one
whose URL resolves to an address we never post to (adapters/callback_http.py) is parked at once. Status
callbacks of one message never go backwards: each claims its rank on the message before it
is posted (one conditional write), so a retried `sent` is dropped once `read` was claimed.
"""

from __future__ import annotations

import json
from typing import Any

from wa_notify.domain import signatures
from wa_notify.domain import status as st
from wa_notify.domain.ids import new_id
from wa_notify.domain.whatsapp_errors import backoff_seconds
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, iso, ttl_cached

_settings_cache: dict[str, tuple[dict[str, Any], float]] = {}
SETTINGS_CACHE_SECONDS = 30


def _settings(deps: Deps, tenant_id: str) -> dict[str, Any]:
    return ttl_cached(_settings_cache, tenant_id, SETTINGS_CACHE_SECONDS, lambda: deps.store.tenants.get_settings(tenant_id))


def tenant_settings(deps: Deps, tenant_id: str) -> dict[str, Any]:
    """The tenant's settings, cached for 30 s per container (read on every webhook change)."""
    return _settings(deps, tenant_id)


def event(kind: str, data: dict[str, Any], at: str) -> dict[str, Any]:
    return {"id": new_id("evt"), "type": kind, "created_at": at, "data": data}


def emit(deps: Deps, tenant_id: str, events: list[dict[str, Any]]) -> int:
    """Queue callbacks for a tenant that has a callback URL; returns how many were queued."""
    if not events or not _settings(deps, tenant_id).get("callback_url"):
        return 0
    failed = deps.queues.send_many(deps.settings.callback_queue_url, [{"tenant_id": tenant_id, "event": e, "attempt": 1} for e in events])
    if failed:
        raise RuntimeError(f"could not queue {len(failed)} callbacks")  # the status batch item is retried
    return len(events)


def deliver(deps: Deps, job: dict[str, Any]) -> str:
    tenant_id, payload, attempt = job["tenant_id"], job["event"], int(job.get("attempt", 1))
    settings = _settings(deps, tenant_id)
    url, secret = settings.get("callback_url"), settings.get("callback_secret")
    if not url or not secret:
        return "no_url"
    data = payload.get("data") or {}
    rank = st.RANK.get(data.get("status", ""), 0) if payload.get("type") == "message.status" else 0
    if rank and not deps.store.messages.claim_callback(tenant_id, data["message_id"], rank):
        metrics.add_metric(name="CallbackStaleDropped", unit="Count", value=1)
        return "stale"
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Signature-256": signatures.sign(secret, body),
               "X-WaNotify-Event": payload["type"], "X-WaNotify-Event-Id": payload["id"], "X-WaNotify-Attempt": str(attempt)}
    outcome, permanent = _post(deps, url, body, headers)
    if outcome is None:
        metrics.add_metric(name="CallbackDelivered", unit="Count", value=1)
        return "delivered"
    if permanent:
        # A refused address is parked at once: retrying would only knock on it again.
        metrics.add_metric(name="CallbackRefused", unit="Count", value=1)
    if permanent or attempt >= deps.settings.callback_max_attempts:
        deps.queues.send_many(deps.settings.callback_dlq_url, [{**job, "last_error": outcome, "parked_at": iso(deps.now())}])
        metrics.add_metric(name="CallbackParked", unit="Count", value=1)
        logger.warning("callback parked in the DLQ", extra={"tenant_id": tenant_id, "event_id": payload["id"], "error": outcome})
        return "parked"
    deps.queues.send_to(deps.settings.callback_queue_url, {**job, "attempt": attempt + 1, "last_error": outcome},
                        delay_seconds=backoff_seconds(attempt))
    metrics.add_metric(name="CallbackRetried", unit="Count", value=1)
    return "retry"


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
