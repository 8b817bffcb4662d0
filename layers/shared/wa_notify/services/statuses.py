"""Apply WhatsApp webhook changes: message statuses (forward only), inbound messages and template
updates (services/template_lifecycle.py). The webhook function applies them before answering 200
(a failure answers 5xx and Meta delivers the webhook again); what they owe the platform
(callbacks, counters, an SMS) follows the writes through the table's stream (services/changes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import ValidationError

from wa_notify.domain import status as st
from wa_notify.domain.conversation import (
    ESCALATE_BELOW,
    WINDOW,
    in_business_hours,
    inbound_summary,
    matching_rule,
    opt_decision,
    opt_intent,
    profile_name_of,
    rating,
    reply_action,
    window_open,
)
from wa_notify.domain.flows import ACK_ACTIONS
from wa_notify.domain.outcomes import StoredInbound
from wa_notify.domain.records import ErrorInfo, FlowRef, InboundRow
from wa_notify.domain.whatsapp_errors import advice
from wa_notify.jobs import StatusUpdate, WebhookChange, WhatsAppError
from wa_notify.observability import logger, metrics
from wa_notify.services import callbacks, template_lifecycle
from wa_notify.services.deps import Deps, iso

_tenant_by_pnid: dict[str, str] = {}
INBOX_TTL_SECONDS = 90 * 86_400


def _moment(timestamp: Any, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def _at(timestamp: Any, fallback: datetime) -> str:
    return iso(_moment(timestamp, fallback))


def _tenant_for_pnid(deps: Deps, pnid: str) -> str | None:
    # The mapping never changes once a number is onboarded: cache it per container.
    if pnid not in _tenant_by_pnid:
        tenant_id = deps.store.tenants.for_phone_number(pnid)
        if tenant_id is None:
            return None
        _tenant_by_pnid[pnid] = tenant_id
    return _tenant_by_pnid[pnid]


def apply_change(deps: Deps, change: WebhookChange) -> dict[str, int]:
    field = change.field
    value = change.value
    counts = {"applied": 0, "ignored": 0}
    if field == "messages":
        metadata = value.get("metadata")
        pnid = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
        tenant_id = _tenant_for_pnid(deps, pnid)
        if tenant_id is None:
            logger.warning("webhook for an unknown phone number id", extra={"phone_number_id": pnid})
            metrics.add_metric(name="WebhookUnknownNumber", unit="Count", value=1)
            return counts
        for raw in _objects(value, "statuses", counts):
            try:
                status = StatusUpdate.model_validate(raw)
            except ValidationError:
                # Untrusted input that Meta will not send differently on a retry: count and skip it.
                logger.warning("malformed status in webhook", extra={"phone_number_id": pnid})
                counts["ignored"] += 1
                continue
            with _malformed_part("status", counts):
                _apply_one_status(deps, tenant_id, status, counts)
        profiles = {str(c.get("wa_id")): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []
                    if isinstance(c, dict) and isinstance(c.get("profile") or {}, dict)} if isinstance(value.get("contacts"), list) else {}
        for raw in _objects(value, "messages", counts):
            with _malformed_part("inbound message", counts):
                _apply_one_inbound(deps, tenant_id, raw, counts, pnid, profiles.get(str(raw.get("from"))))
    elif field == "user_preferences":
        with _malformed_part("user preference", counts):
            _apply_user_preferences(deps, value, counts)
    elif field in template_lifecycle.FIELDS:
        with _malformed_part("template update", counts):
            counts["applied" if template_lifecycle.apply(deps, field, change.waba_id, value) else "ignored"] += 1
    else:
        counts["ignored"] += 1
    return counts


def _apply_user_preferences(deps: Deps, value: dict[str, Any], counts: dict[str, int]) -> None:
    """Meta's `user_preferences` field (reference §4.6): a customer chose in WhatsApp to stop (or
    resume) a business's marketing messages: the contact's marketing consent follows, as a STOP
    reply would; one recorded later than the webhook's time stays."""
    metadata = value.get("metadata")
    pnid = str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""
    tenant_id = _tenant_for_pnid(deps, pnid)
    if tenant_id is None:
        metrics.add_metric(name="WebhookUnknownNumber", unit="Count", value=1)
        counts["ignored"] += 1
        return
    for pref in _objects(value, "user_preferences", counts):
        wa_id, choice = str(pref.get("wa_id") or ""), pref.get("value")
        if pref.get("category") != "marketing_messages" or choice not in ("stop", "resume") or not wa_id.isdigit():
            counts["ignored"] += 1
            continue
        deps.store.contacts.set_opt_out(tenant_id, "+" + wa_id, choice == "stop", _at(pref.get("timestamp"), deps.now()),
                                        f"customer chose to {choice} marketing messages in WhatsApp", source="user_preferences",
                                        unless_changed_since=True)
        counts["applied"] += 1


def _objects(value: dict[str, Any], key: str, counts: dict[str, int]) -> list[dict[str, Any]]:
    """value[key] as a list of objects (the webhook function already drops the rest; older queued
    records may still carry it)."""
    items = value.get(key) or []
    if not isinstance(items, list):
        logger.warning("malformed webhook part skipped", extra={"part": key, "error": "not a list"})
        counts["ignored"] += 1
        return []
    return [item for item in items if isinstance(item, dict)]


@contextmanager
def _malformed_part(part: str, counts: dict[str, int]) -> Iterator[None]:
    """Skip one status or message whose data our code or DynamoDB cannot take (a wrong type deep
    inside, a float, a value DynamoDB refuses): the same data fails on every retry, so failing the
    record would only park the whole batch in the DLQ. Outages (throttling, timeouts) still raise."""
    try:
        yield
    except (TypeError, ValueError, AttributeError, KeyError, ValidationError) as exc:
        _skip(part, exc, counts)
    except Exception as exc:
        response = getattr(exc, "response", None)  # botocore's ClientError, without importing botocore
        if not isinstance(response, dict) or response.get("Error", {}).get("Code") != "ValidationException":
            raise
        _skip(part, exc, counts)


def _skip(part: str, exc: Exception, counts: dict[str, int]) -> None:
    logger.warning("malformed webhook part skipped", extra={"part": part, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
    metrics.add_metric(name="WebhookPartsDropped", unit="Count", value=1)
    counts["ignored"] += 1


def _apply_one_status(deps: Deps, tenant_id: str, status: StatusUpdate, counts: dict[str, int]) -> None:
    if status.status == "failed" and any(e.code == 131050 for e in status.errors or []) and status.recipient_id:
        # WhatsApp says the user stopped marketing messages: same as STOP (the contact's change is
        # reported to the platform from the stream). Before the status, so a retry of this
        # webhook after a failure in between still opts them out.
        phone = "+" + status.recipient_id.lstrip("+")
        deps.store.contacts.set_opt_out(tenant_id, phone, True, iso(deps.now()), "WhatsApp error 131050", source="131050")
    moved = apply_status(deps, tenant_id, status)
    counts["applied" if moved else "ignored"] += 1


def _apply_one_inbound(deps: Deps, tenant_id: str, raw: dict[str, Any], counts: dict[str, int], phone_number_id: str | None = None,
                       profile_name: Any = None) -> None:
    """Store the message (once per wamid), act on it, then mark it handled with the callbacks it
    owes: the stream posts them. A webhook retried after a failure in between finds the message
    stored but not handled and acts again (every effect is a conditional or idempotent write)."""
    stored = apply_inbound(deps, tenant_id, raw, phone_number_id, profile_name)
    if stored is None:
        return  # not a message we can take (no sender or id)
    if stored.handled:
        metrics.add_metric(name="InboundDuplicate", unit="Count", value=1)
        return
    counts["applied"] += 1
    metrics.add_metric(name="InboundReceived", unit="Count", value=1)
    summary = inbound_summary(raw)
    phone = "+" + str(raw.get("from"))
    received = {"from": phone, "wamid": raw.get("id"), "received_at": stored.received_at, **summary}
    owed = handle_reply(deps, tenant_id, received, resumed=stored.resumed, phone_number_id=phone_number_id)
    # After the reply is handled: a cancel word answering a booking's message cancelled the
    # booking and leaves consent alone; the same word with no such context opts out.
    action = received.get("action")
    if action is None and summary.get("payload") and "rating" not in received:  # a tap on a message we do not know
        action = reply_action(summary.get("payload"), summary.get("text"), deps.store.tenants.get_settings(tenant_id).get("reply_actions"))
    intent = opt_decision(summary["type"], summary.get("payload"), summary.get("text"), action,
                          bool((received.get("flow") or {}).get("key")))
    if intent:
        deps.store.contacts.set_opt_out(tenant_id, phone, intent == "out", iso(deps.now()),
                                        f"customer {'tapped' if summary.get('payload') else 'wrote'} {summary.get('text')!r}", source="reply")
    owed.append(_event("message.received", received))
    deps.store.contacts.mark_inbound_handled(tenant_id, phone, stored.received_at, str(raw.get("id")), iso(deps.now()), owed)


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "data": data}


def handle_reply(deps: Deps, tenant_id: str, received: dict[str, Any], *, resumed: bool = False,
                 phone_number_id: str | None = None) -> list[dict[str, Any]]:
    """A reply to one of our messages (a button tap or a quoted reply): act on its flow, record ratings.

    Adds `message_id`, `flow`, `action` and `rating` to `received` (it becomes the callback) and
    returns the extra callbacks owed (flow actions, rating, escalation) as {type, data}."""
    context_id = received.get("context_id")
    found = deps.store.messages.id_for_wamid(context_id) if context_id else None
    if found is None or found[0] != tenant_id:
        return []
    message_id = found[1]
    message = deps.store.messages.get(tenant_id, message_id)
    flow = message.get("flow") if message else None
    received["message_id"] = message_id
    if flow:
        received["flow"] = {"name": flow.get("name"), "key": flow.get("key")}
    out: list[dict[str, Any]] = []
    settings = deps.store.tenants.get_settings(tenant_id)
    stars = rating(received.get("payload"), received.get("text"), settings.get("rating_replies"))
    action = None if stars is not None else reply_action(received.get("payload"), received.get("text"), settings.get("reply_actions"))
    deps.store.messages.record_reply(tenant_id, message_id, {"at": received["received_at"], "text": received.get("text"),
                                                    "payload": received.get("payload"), "action": action, "rating": stars})
    if stars is not None:
        received["rating"] = stars
        data = {"message_id": message_id, "from": received["from"], "rating": stars, "flow": received.get("flow")}
        out.append(_event("rating.received", data))
        if stars < ESCALATE_BELOW:
            out.append(_event("rating.escalation", {**data, "reason": f"rated {stars} of 5: a person should follow up"}))
            metrics.add_metric(name="RatingEscalated", unit="Count", value=1)
    if action:
        received["action"] = action
        data = {"message_id": message_id, "from": received["from"], "flow": received.get("flow")}
        if action == "cancel" and flow and flow.get("key"):
            from wa_notify.services.flows import cancel_key

            data["cancelled"] = cancel_key(deps, tenant_id, flow["key"], str(received.get("wamid") or ""), resumed=resumed)
            out.append(_event("flow.cancelled_by_customer", data))
        elif action == "confirm":
            out.append(_event("flow.confirmed", data))
        elif action == "reschedule":
            out.append(_event("flow.reschedule_requested", data))
        if action in ACK_ACTIONS and flow and flow.get("key"):
            acknowledgement = acknowledge(deps, tenant_id, flow, action, received, phone_number_id)
            if acknowledgement:
                data["acknowledgement"] = acknowledgement  # the id of the text that answered the tap (in the flow.* callback)
    return out


def acknowledge(deps: Deps, tenant_id: str, flow: FlowRef, action: str, received: dict[str, Any],
                phone_number_id: str | None) -> str | None:
    """After a tap's action is applied: the flow's `acknowledge` text for it, as free-form text
    inside the window the tap opened, once (FlowRepository.claim_acknowledgement says which taps
    count). The id of the message sent, or None."""
    stored = deps.store.flows.get(tenant_id, flow["name"])
    texts = (stored.get("acknowledge") or {}) if stored and not stored.get("deleted_at") else {}
    if not texts:
        return None  # a flow without acknowledge: taps act and answer nothing, as before
    received_at = datetime.fromisoformat(str(received["received_at"]).replace("Z", "+00:00"))
    if not window_open(iso(received_at + WINDOW), deps.now()):
        return None  # a webhook delivered a day late: the window the tap opened has closed
    # Claimed even without a text for this action: a cancel then stops a later confirm's answer.
    if not deps.store.flows.claim_acknowledgement(tenant_id, flow.get("key", ""), flow["name"], action, iso(deps.now())):
        return None
    text = texts.get(action)
    if not text:
        return None
    message_id = send_auto_reply(deps, tenant_id, received["from"], text, f"ack_{action}", phone_number_id,
                                 metadata={"acknowledge": action, "flow": flow["name"]})
    metrics.add_metric(name="TapAcknowledged", unit="Count", value=1)
    return message_id


def apply_status(deps: Deps, tenant_id: str, status: StatusUpdate) -> bool:
    new_status = status.status
    wamid = status.id
    if new_status not in st.WEBHOOK_STATUSES:
        return False
    message_id = status.biz_opaque_callback_data
    if not message_id:
        found = deps.store.messages.id_for_wamid(wamid)
        if found is None or found[0] != tenant_id:
            metrics.add_metric(name="StatusForUnknownMessage", unit="Count", value=1)
            return False
        message_id = found[1]
    error: ErrorInfo | None = None
    if new_status == st.FAILED:
        first = (status.errors or [WhatsAppError()])[0]
        details = first.details
        error = {"code": first.code, "title": first.title or first.message, "details": details}
        if hint := advice(first.code):
            error["advice"] = hint  # e.g. 131049: not retried, and the platform should wait 24 h too
    at = _at(status.timestamp, deps.now())
    moved = deps.store.messages.apply_status(tenant_id, message_id, new_status, at=at, wamid=wamid, pricing=status.pricing, error=error)
    if moved is None:
        # Applied ones are counted by their outcome where the stream follows them (domain/changes.py).
        metrics.add_metric(name="StatusLateOrDuplicate", unit="Count", value=1)
    return moved is not None


def apply_inbound(deps: Deps, tenant_id: str, message: dict[str, Any], phone_number_id: str | None = None,
                  profile_name: Any = None) -> StoredInbound | None:
    """Store a customer's message once and open (or extend) their 24 h customer-service window;
    None for a message without a sender or an id. An auto-reply goes from the number written to
    (`phone_number_id`, the webhook's: Meta keeps the window per business number)."""
    sender = str(message.get("from") or "")
    wamid = str(message.get("id") or "")
    if not sender.isdigit() or not wamid:
        # Meta's usernames (2026): a customer who adopted one may write with an empty `from` and a
        # business-scoped `user_id` (reference §4.8). Contacts are keyed by phone here, so such a
        # message cannot be stored yet: said and counted, never silently gone.
        logger.warning("inbound message without a phone number dropped",
                       extra={"has_user_id": bool(message.get("user_id") or message.get("from_user_id")), "has_id": bool(wamid)})
        metrics.add_metric(name="InboundWithoutPhoneDropped", unit="Count", value=1)
        return None
    phone = "+" + sender
    moment = _moment(message.get("timestamp"), deps.now())
    summary = inbound_summary(message)
    before = deps.store.contacts.get(tenant_id, phone) or {}
    stored = deps.store.contacts.record_inbound(
        tenant_id, phone, wamid, iso(moment), iso(moment + WINDOW),
        cast("InboundRow", {"from": phone, "received_at": iso(moment), **summary}),  # the summary's keys: domain inbound_summary
        ttl_s=int(moment.timestamp()) + INBOX_TTL_SECONDS,
    )
    if stored.handled:
        return stored
    if not before.get("name") and (name := profile_name_of(profile_name)):
        deps.store.contacts.name_if_unnamed(tenant_id, phone, name, iso(deps.now()))  # once: the contact has a name after
    # A message after the window closed (or a first one) starts a new conversation.
    new_conversation = not before or not window_open(before.get("window_expires_at"), moment)
    if before and new_conversation:
        deps.store.contacts.start_conversation(tenant_id, phone, iso(moment), before.get("window_expires_at"))
    conversation = iso(moment) if new_conversation else (before.get("conversation_started_at") or iso(moment))
    if summary["type"] == "text" and opt_intent(summary.get("text")) is None and window_open(iso(moment + WINDOW), deps.now()):
        auto_reply(deps, tenant_id, phone, summary.get("text"), moment, conversation, phone_number_id)
    return stored


def auto_reply(deps: Deps, tenant_id: str, phone: str, text: str | None, moment: datetime, conversation: str,
               phone_number_id: str | None = None) -> list[str]:
    """Keyword replies and the out-of-hours reply, each at most once per conversation."""
    settings = callbacks.tenant_settings(deps, tenant_id)
    replies = []
    rule = matching_rule(text, settings.get("auto_replies"))
    if rule:
        replies.append((f"kw_{rule['id']}", rule["reply"]))
    if settings.get("out_of_hours_reply") and not in_business_hours(moment, settings.get("business_hours")):
        replies.append(("out_of_hours", settings["out_of_hours_reply"]))
    sent = []
    for rule_id, reply in replies:
        if deps.store.contacts.claim_auto_reply(tenant_id, phone, rule_id, conversation):
            sent.append(send_auto_reply(deps, tenant_id, phone, reply, rule_id, phone_number_id))
    return sent


def send_auto_reply(deps: Deps, tenant_id: str, phone: str, reply: str, rule_id: str, phone_number_id: str | None = None,
                    metadata: dict[str, Any] | None = None) -> str:
    from wa_notify.domain.ids import new_id
    from wa_notify.domain.rendering import text_request
    from wa_notify.services import messages as message_service
    from wa_notify.services.tenants import profile

    now = deps.now()
    message_id = new_id("msg")
    item = message_service.build_item(
        deps, tenant_id, message_id=message_id, to=phone, template_ref=None, request=text_request(phone, reply, callback_data=message_id),
        priority="high", send_at=None, metadata=metadata or {"auto_reply": rule_id}, now=now,
        phone_number_id=phone_number_id or profile(deps, tenant_id)["phone_number_id"],
        text=reply, extra={"billing": {"category": "service", "type": "free_customer_service", "billable": False}},
    )
    deps.store.messages.create(item, None)
    message_service.enqueue(deps, [item])
    if metadata is None:
        metrics.add_metric(name="AutoReplySent", unit="Count", value=1)
    return message_id
