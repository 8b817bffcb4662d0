"""What one change of a stored item means (pure): the callbacks it owes the platform, the
analytics it counts and the SMS fallback it triggers.

The callback function reads the table's stream (NEW_AND_OLD_IMAGES) and asks this module what
each change means, so everything that follows a write is derived from the write itself: a
status webhook, the sender and a reply only change their item, and a change that is stored is
never lost for its side effects (the stream keeps it 24 h and redelivers until handled).

Stream delivery is at least once and moto (the local stack) adds records of its own (a no-op
write is a MODIFY; an update that creates an item is two INSERTs), so every answer here
depends on the difference between the old and the new image only, and every callback id is
derived from what it reports: a redelivered change yields the same ids, which platforms
dedupe on (X-WaNotify-Event-Id).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wa_notify.domain import status as st
from wa_notify.domain.erasure import cancel_reason_code
from wa_notify.domain.fallback import undeliverable

# Which item a change is of comes from its keys (adapters/storage/keys.stream_kind); template.yaml's
# FilterCriteria let through the same changes (tests/unit/test_stream_filters.py checks both agree).
STATUS_CALLBACKS = (st.SENT, st.DELIVERED, st.READ, st.FAILED)
OPT_SOURCES_REPORTED = ("reply", "131050", "user_preferences")  # a change made through the API is not reported back to its maker


@dataclass(frozen=True)
class Callback:
    """One event for the tenant's callback URL."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "created_at": self.created_at, "data": self.data}


@dataclass
class Effects:
    """Everything one change asks for."""

    tenant_id: str = ""
    callbacks: list[Callback] = field(default_factory=list)
    # (UTC timestamp the counts belong to, template {name, language} or None, counter -> n)
    counts: list[tuple[str, dict[str, Any] | None, dict[str, int]]] = field(default_factory=list)
    inbound_at: str | None = None  # an inbound message to count in the activity matrix
    sms_undeliverable: str | None = None  # message id: WhatsApp cannot deliver it, send its SMS
    unread_deadline: tuple[str, str, int] | None = None  # (message id, accepted at, minutes)
    # Outcome metrics a status webhook moved (template name or None, outcome, error code or None):
    # the sender counts its own acceptances and refusals; what only a webhook tells is counted here.
    outcomes: list[tuple[str | None, str, int | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.callbacks or self.counts or self.inbound_at or self.sms_undeliverable or self.unread_deadline
                    or self.outcomes)


def event_id(*parts: str) -> str:
    """A callback id that is the same for the same fact, however often the change is delivered."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    return "evt_" + base64.b32encode(digest).decode().rstrip("=").lower()


def of(kind: str | None, tenant_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Effects:
    """The effects of one stream record: the kind of item (message, inbound, contact), its
    tenant and its images (None when absent)."""
    if not new:
        return Effects()  # a deletion (TTL) owes nobody anything
    if kind == "message" and "status" in new:
        return message_change(tenant_id, old or {}, new)
    if kind == "inbound" and "handled_at" in new and "received_at" in new:
        return inbound_change(tenant_id, old or {}, new)
    if kind == "contact" and "opted_out" in new and "phone" in new:
        return contact_change(tenant_id, old or {}, new)
    if kind == "template" and "status" in new and "name" in new:
        return template_change(tenant_id, old or {}, new)
    if kind == "erasure" and "erased_at" in new and not (old or {}).get("erased_at"):
        return contact_erased(tenant_id, new)
    return Effects()


def message_change(tenant_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Effects:
    message_id = str(new.get("id") or "")
    effects = Effects(tenant_id=tenant_id)
    before, now = old.get("status"), str(new["status"])
    events: Mapping[str, Any] = new.get("events") or {}
    template = _template_ref(new.get("template"))
    if before != now and now in st.RANK and st.RANK[now] > st.RANK.get(str(before), -1):
        at = str(events.get(now) or new.get("updated_at") or "")
        went_out = now in (st.ACCEPTED, st.SENT, st.DELIVERED, st.READ) or (now == st.FAILED and bool(new.get("wamid")))
        if went_out and st.RANK.get(str(before), -1) < st.RANK[st.ACCEPTED]:
            # The first word that WhatsApp took it: the sender's acceptance, or a status webhook
            # that overtook it (or stood in for a lost answer). Counted once, whichever came first.
            effects.counts.append((at, template, {"sent": 1}))
            minutes = (new.get("fallback") or {}).get("unread_minutes")
            if minutes:
                effects.unread_deadline = (message_id, at, int(minutes))
        if now == st.DELIVERED:
            effects.counts.append((at, template, {"delivered": 1}))
        elif now == st.READ:
            counts = {"read": 1}
            if st.DELIVERED not in events:  # read outranks delivered: a read that came first was delivered too
                counts["delivered"] = 1
            sent_at = events.get(st.SENT) or events.get(st.ACCEPTED)
            if sent_at:
                from wa_notify.domain.analytics import read_time_bucket

                counts[read_time_bucket(_seconds_between(str(sent_at), at))] = 1
            effects.counts.append((at, template, counts))
        elif now == st.FAILED:
            unsent = not new.get("wamid")
            effects.counts.append((at, template, {"failed": 1, **({"failed_unsent": 1} if unsent else {})}))
            if new.get("fallback") and undeliverable(new.get("error")):
                effects.sms_undeliverable = message_id
        outcome = webhook_outcome(before, now, new)
        if outcome:
            effects.outcomes.append(outcome)
        if now in STATUS_CALLBACKS:
            effects.callbacks.append(status_callback(new, now, at))
    effects.callbacks += cancel_and_fallback_callbacks(old, new)
    if new.get("last_reply") and not old.get("last_reply"):
        reply_at = str((new.get("last_reply") or {}).get("at") or new.get("updated_at") or "")
        effects.counts.append((reply_at, template, {"replied": 1}))
    if new.get("clicked_at") and not old.get("clicked_at"):
        effects.callbacks.append(clicked_callback(message_id, new))
        effects.counts.append((str(new["clicked_at"]), template, {"clicked": 1}))
    return effects


def clicked_callback(message_id: str, new: Mapping[str, Any]) -> Callback:
    """The first click on one of the message's tracked links (services/clicks.py sets `clicked_at`)."""
    at = str(new["clicked_at"])
    first = next((c for c in new.get("clicks") or [] if isinstance(c, Mapping)), {})
    return Callback(event_id(message_id, "clicked"), "message.clicked", at, {"id": message_id, "url": first.get("url"), "at": at})


def webhook_outcome(before: Any, now: str, new: Mapping[str, Any]) -> tuple[str | None, str, int | None] | None:
    """The outcome metric of a forward move only a status webhook makes: `sent` when no acceptance
    by the sender came first (its answer was lost or overtaken), `delivered`, `read`, and `failed`
    after WhatsApp took it (a wamid; the sender counts the refusals it gets itself)."""
    events: Mapping[str, Any] = new.get("events") or {}
    name = (new.get("template") or {}).get("name")
    if now == st.SENT and st.ACCEPTED not in events:
        return name, "sent", None
    if now in (st.DELIVERED, st.READ):
        return name, now, None
    if now == st.FAILED and new.get("wamid"):
        code = (new.get("error") or {}).get("code")
        return name, "failed", int(code) if isinstance(code, (int, float)) and not isinstance(code, bool) else None
    return None


def status_callback(message: Mapping[str, Any], status: str, at: str) -> Callback:
    data: dict[str, Any] = {"message_id": message.get("id"), "status": status, "at": at, "provider_message_id": message.get("wamid")}
    error = message.get("error")
    if status == st.FAILED and error:
        data["error"] = {"code": _number(error.get("code")), "title": error.get("title")}
        # Meta's details and our advice when there are any (131049: wait 24 h before resending).
        data["error"].update({k: error[k] for k in ("details", "advice") if isinstance(error.get(k), str)})
    if message.get("pricing"):
        data["pricing"] = _plain(message["pricing"])
    return Callback(event_id(str(message.get("id")), "status", status), "message.status", at, data)


def cancel_and_fallback_callbacks(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Callback]:
    """`message.cancelled` once a message is cancelled (its reason: domain/erasure.cancel_reason_code),
    `message.fallback` once its SMS has an outcome (sent, failed, unknown)."""
    message_id, out = str(new.get("id") or ""), []
    if new.get("status") == st.CANCELLED and old.get("status") != st.CANCELLED:
        at = str((new.get("events") or {}).get(st.CANCELLED) or new.get("updated_at") or "")
        data = {"id": message_id, "reason": cancel_reason_code(new.get("cancel_reason"))}
        out.append(Callback(event_id(message_id, "cancelled"), "message.cancelled", at, data))
    sms, sms_before = new.get("fallback") or {}, old.get("fallback") or {}
    if sms.get("status") not in (None, "sending") and sms.get("status") != sms_before.get("status"):
        status = str(sms["status"])
        at = str(sms.get(f"{status}_at") or new.get("updated_at") or "")
        out.append(Callback(event_id(message_id, "fallback", status), "message.fallback", at, {"id": message_id, "channel": "sms", "status": status}))
    return out


def contact_erased(tenant_id: str, new: Mapping[str, Any]) -> Effects:
    """An erasure finished (its receipt, written last but for the contact row): never the phone."""
    at = str(new["erased_at"])
    data = {"phone_hash": new.get("phone_hash"), "erased_at": at}
    return Effects(tenant_id=tenant_id, callbacks=[Callback(event_id(tenant_id, "erased", str(new.get("phone_hash"))), "contact.erased", at, data)])


def inbound_change(tenant_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Effects:
    """An inbound message becomes `handled` once its effects are done: then its callbacks go."""
    if old.get("handled_at"):
        return Effects()
    effects = Effects(tenant_id=tenant_id, inbound_at=str(new["received_at"]))
    created_at = str(new["handled_at"])
    for i, raw in enumerate(new.get("callbacks") or []):
        effects.callbacks.append(Callback(event_id(str(new["wamid"]), str(raw["type"]), str(i)), str(raw["type"]), created_at,
                                          _plain(raw.get("data") or {})))
    return effects


def contact_change(tenant_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Effects:
    """A customer's STOP (or START), or WhatsApp's 131050, changed their marketing opt-out."""
    if bool(old.get("opted_out")) == bool(new.get("opted_out")) or new.get("opt_source") not in OPT_SOURCES_REPORTED:
        return Effects()
    kind = "contact.opted_out" if new.get("opted_out") else "contact.opted_in"
    at = str(new.get("opt_changed_at") or "")
    callback = Callback(event_id(tenant_id, str(new["phone"]), kind, at), kind, at, {"phone": new["phone"], "reason": new["opt_source"]})
    return Effects(tenant_id=tenant_id, callbacks=[callback])


def template_change(tenant_id: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Effects:
    """Meta changed a stored template's status or category (a lifecycle webhook, or an import that
    found Meta's copy changed): `template.status_changed`. Owed once Meta has decided on it
    (`status_source`, set by Meta's webhooks and imports): a new template, and the review of
    one registered here (its first decision; POST /v1/templates answers PENDING and GET shows
    the decision), owe nothing; nor does a quality change alone."""
    if not old.get("status_source") or (old.get("status") == new.get("status") and old.get("category") == new.get("category")):
        return Effects()
    at = str(new.get("updated_at") or "")
    data = {"name": new["name"], "language": new.get("language"), "status": new["status"], "previous_status": old.get("status"),
            "category": new.get("category"), "reason": new.get("status_reason")}
    callback = Callback(event_id(tenant_id, str(new["name"]), str(new.get("language")), str(new["status"]), str(new.get("category")), at),
                        "template.status_changed", at, data)
    return Effects(tenant_id=tenant_id, callbacks=[callback])


def _seconds_between(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def _template_ref(template: Any) -> dict[str, Any] | None:
    if not isinstance(template, Mapping):
        return None
    return {"name": template.get("name"), "language": template.get("language")}


def _number(value: Any) -> Any:
    """Stream images carry numbers as Decimal: back to int where they are whole."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _plain(value: Any) -> Any:
    """An image's value as JSON would carry it (Decimal -> int/float, sets -> lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return _number(value)
