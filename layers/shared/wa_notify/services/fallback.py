"""SMS fallback through Amazon SNS: claim once, publish, record; the message history shows both channels.

Like a WhatsApp send, an SMS has no idempotency key: the conditional claim on the message
comes first, so a redelivered webhook, a repeated tick or two containers racing send at most
one SMS; an SNS answer that was lost is recorded as `unknown`, never retried blindly.
"""

from __future__ import annotations

from datetime import datetime

from wa_notify.domain.phone import mask
from wa_notify.observability import logger, metrics, record_outcome
from wa_notify.services.deps import Deps, epoch_ms, iso

REASON_UNDELIVERABLE = "undeliverable"  # WhatsApp error 131026
REASON_UNREAD = "unread"  # the tenant's per-template deadline passed


def schedule_unread_deadline(deps: Deps, tenant_id: str, message_id: str, accepted_at: datetime, minutes: int) -> None:
    """WhatsApp accepted a message whose template has an unread deadline (from the stream: the
    same deadline item however often the change is delivered)."""
    due_ms = epoch_ms(accepted_at) + int(minutes) * 60_000
    deps.store.fallback.put_deadline(tenant_id, message_id, due_ms, due_ms // 1000 + 7 * 86_400)


def send(deps: Deps, tenant_id: str, message_id: str, reason: str) -> str | None:
    """Claim and send the SMS; returns its status (sent, failed, unknown) or None if not claimed."""
    at = iso(deps.now())
    message = deps.store.fallback.claim(tenant_id, message_id, reason, at, unread_only=reason == REASON_UNREAD)
    if message is None:
        return None
    fallback = message["fallback"]
    result = deps.sms.send(message["to"], fallback["text"], sender_id=fallback.get("sender_id"))
    deps.store.fallback.record(tenant_id, message_id, result.status, iso(deps.now()), result.provider_message_id, result.error)
    metrics.add_metric(name=f"SmsFallback{result.status.capitalize()}", unit="Count", value=1)
    if result.status == "sent":
        template = message.get("template")
        record_outcome(tenant_id, template["name"] if template else None, "fallback_sms")
    log = logger.info if result.status == "sent" else logger.warning
    log("SMS fallback", extra={"message_id": message_id, "to": mask(message["to"]), "reason": reason, "status": result.status,
                               "error": result.error})
    return result.status


def on_deadline(deps: Deps, tenant_id: str, message_id: str) -> str | None:
    """The dispatcher found an unread deadline due: SMS if still unread, and the deadline goes."""
    status = send(deps, tenant_id, message_id, REASON_UNREAD)
    deps.store.fallback.drop_deadline(tenant_id, message_id)
    return status
