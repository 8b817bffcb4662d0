"""Apply WhatsApp webhook changes: message statuses (forward only) and template status updates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wa_notify.domain import status as st
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, iso

_tenant_by_pnid: dict[str, str] = {}
TEMPLATE_EVENTS = ("APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "FLAGGED", "REINSTATED", "IN_APPEAL",
                   "LIMIT_EXCEEDED", "LOCKED", "DELETED", "PENDING_DELETION", "ARCHIVED", "UNARCHIVED")  # fmt: skip


def _at(timestamp: Any, fallback: datetime) -> str:
    try:
        return iso(datetime.fromtimestamp(int(timestamp), UTC))
    except (TypeError, ValueError, OverflowError):
        return iso(fallback)


def _tenant_for_pnid(deps: Deps, pnid: str) -> str | None:
    # The mapping never changes once a number is onboarded: cache it per container.
    if pnid not in _tenant_by_pnid:
        tenant_id = deps.store.tenant_for_phone_number(pnid)
        if tenant_id is None:
            return None
        _tenant_by_pnid[pnid] = tenant_id
    return _tenant_by_pnid[pnid]


def apply_change(deps: Deps, change: dict[str, Any]) -> dict[str, int]:
    field = change.get("field")
    value = change.get("value") or {}
    counts = {"applied": 0, "ignored": 0}
    if field == "messages":
        pnid = str((value.get("metadata") or {}).get("phone_number_id", ""))
        tenant_id = _tenant_for_pnid(deps, pnid)
        if tenant_id is None:
            logger.warning("webhook for an unknown phone number id", extra={"phone_number_id": pnid})
            metrics.add_metric(name="WebhookUnknownNumber", unit="Count", value=1)
            return counts
        for status in value.get("statuses") or []:
            key = "applied" if apply_status(deps, tenant_id, status) else "ignored"
            counts[key] += 1
        inbound = len(value.get("messages") or [])
        if inbound:
            # Replies, windows and callbacks arrive with issue 4; count them meanwhile.
            metrics.add_metric(name="InboundReceived", unit="Count", value=inbound)
    elif field == "message_template_status_update":
        counts["applied" if apply_template_status(deps, str(change.get("waba_id", "")), value) else "ignored"] += 1
    else:
        counts["ignored"] += 1
    return counts


def apply_status(deps: Deps, tenant_id: str, status: dict[str, Any]) -> bool:
    new_status = status.get("status")
    wamid = status.get("id")
    if new_status not in st.WEBHOOK_STATUSES or not wamid:
        return False
    message_id = status.get("biz_opaque_callback_data")
    if not message_id:
        found = deps.store.message_id_for_wamid(wamid)
        if found is None or found[0] != tenant_id:
            metrics.add_metric(name="StatusForUnknownMessage", unit="Count", value=1)
            return False
        message_id = found[1]
    error = None
    if new_status == st.FAILED:
        first = (status.get("errors") or [{}])[0]
        details = first.get("error_data", {}).get("details") if isinstance(first.get("error_data"), dict) else None
        error = {"code": first.get("code"), "title": first.get("title") or first.get("message"), "details": details}
    moved = deps.store.apply_status(
        tenant_id, str(message_id), new_status, at=_at(status.get("timestamp"), deps.now()), wamid=wamid,
        pricing=status.get("pricing"), error=error,
    )
    metrics.add_metric(name="StatusApplied" if moved else "StatusLateOrDuplicate", unit="Count", value=1)
    return moved


def apply_template_status(deps: Deps, waba_id: str, value: dict[str, Any]) -> bool:
    tenant_id = deps.store.tenant_for_waba(waba_id)
    event = str(value.get("event", "")).upper()
    if tenant_id is None or event not in TEMPLATE_EVENTS:
        return False
    # Meta's examples spell the language both en_US and en-US.
    language = str(value.get("message_template_language", "")).replace("-", "_")
    return deps.store.set_template_status(
        tenant_id, str(value.get("message_template_name")), language, event, at=iso(deps.now()),
        reason=value.get("reason"), detail=value.get("rejection_info") or value.get("other_info"),
    )
