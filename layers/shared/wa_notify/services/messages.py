"""Message intake, lookup and cancellation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from wa_notify.domain import fallback as fallback_rules
from wa_notify.domain import moments
from wa_notify.domain import status as st
from wa_notify.domain.conversation import billing, window_open
from wa_notify.domain.ids import body_hash, new_id
from wa_notify.domain.outcomes import MessageWrite
from wa_notify.domain.phone import mask, to_e164
from wa_notify.domain.problems import Conflict, DomainError, Invalid, NotFound, OverQuota, Problem, ProblemList
from wa_notify.domain.records import FallbackPlan, IdempotencyRow, MessageExtras, MessageRow, MessageTemplateRef, TenantRow
from wa_notify.domain.rendering import render, text_request
from wa_notify.models import MessageAccepted, MessageRequest, MessageView
from wa_notify.observability import logger
from wa_notify.services import clicks
from wa_notify.services import numbers as number_service
from wa_notify.services import templates as template_service
from wa_notify.services.deps import Deps, epoch_ms, iso, parse_iso
from wa_notify.services.tenants import profile as tenant_profile

LANES = ("high", "normal", "bulk")
MESSAGE_ID_RE = re.compile(r"msg_[a-z2-7]{26}")
METADATA_MAX_BYTES = 2_048


def minute_of(moment: datetime) -> int:
    return epoch_ms(moment) // 60_000


def view(item: MessageRow) -> MessageView:
    template = item.get("template")
    return MessageView.model_validate({
        "id": item["id"],
        "to": item["to"],
        "template": {"name": template["name"], "language": template["language"],
                     "language_reason": template.get("language_reason")} if template else None,
        "text": item.get("text"),
        "status": st.public_status(item["status"]),
        "stage": item["status"],
        "priority": item["priority"],
        "send_at": item.get("send_at"),
        "history": history(item),
        "error": item.get("error"),
        "last_error": item.get("last_error") if item["status"] not in (st.FAILED,) else None,
        "provider_message_id": item.get("wamid"),
        "pricing": item.get("pricing"),
        "billing": item.get("billing"),
        "metadata": item.get("metadata"),
        "flow": item.get("flow"),
        "campaign": item.get("campaign"),
        "reply": item.get("last_reply"),
        "rating": item.get("rating"),
        "attempts": item.get("attempts", 0),
        "created_at": item["created_at"],
        "fallback": fallback_view(item.get("fallback")),
        "cancel_reason": item.get("cancel_reason"),
        "held_for": item.get("held_for") if item.get("status") == st.SCHEDULED else None,
        "clicks": item.get("clicks") or [],
        "click_count": int(item.get("click_count") or 0),
    })


def history(item: MessageRow) -> list[dict[str, Any]]:
    """Both channels, in order: WhatsApp's statuses, then the SMS fallback if one went."""
    out: list[dict[str, Any]] = [{**entry, "channel": "whatsapp"} for entry in st.history(item.get("events", {}))]
    fallback = item.get("fallback")
    if fallback and fallback.get("claimed_at"):
        status = fallback.get("status", "sending")
        out.append({"status": status, "at": fallback.get(f"{status}_at") or fallback["claimed_at"], "channel": "sms",
                    "reason": fallback.get("reason")})
    return out


def fallback_view(fallback: FallbackPlan | None) -> dict[str, Any] | None:
    if not fallback or not fallback.get("claimed_at"):
        return None
    return {"channel": "sms", "reason": fallback.get("reason"), "status": fallback.get("status"), "at": fallback["claimed_at"],
            "provider_message_id": fallback.get("provider_message_id"), "error": fallback.get("error")}


def send_job(item: MessageRow) -> dict[str, Any]:
    """The SQS body: enough for the sender to rate-limit and lease without reading first."""
    return {
        "tenant_id": item["tenant_id"],
        "message_id": item["id"],
        "phone_number_id": item["phone_number_id"],
        "to": item["to"],
        "lane": item["priority"],
        # A job whose message row is still missing a minute after the message was made belongs
        # to a request that stopped before writing it (services/sending.py drops it).
        "created_ms": epoch_ms(parse_iso(item["created_at"])),
    }


def canonical_hash(body: dict[str, Any]) -> str:
    return body_hash(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode())


def legacy_request_hash(body: MessageRequest) -> str:
    """What an Idempotency-Key's record held of the request before `to` was normalized: the dict
    the api handed to `create` before it took the model (None fields left out, `send_at` always
    there, a datetime as str()). A record stored then still matches the same request replayed."""
    return canonical_hash({**body.model_dump(exclude_none=True, mode="python"), "send_at": body.send_at})


def request_hash(body: MessageRequest) -> str:
    """What an Idempotency-Key's record holds of the request: as legacy_request_hash, with `to` as
    the E.164 number it names, so "+886 912 345 678" replays "+886912345678"."""
    try:
        to = to_e164(body.to)
    except ValueError:
        to = body.to  # refused later, by the same rule, with its problem
    return canonical_hash({**body.model_dump(exclude_none=True, mode="python"), "to": to, "send_at": body.send_at})


def create(deps: Deps, tenant_id: str, body: MessageRequest, idempotency_key: str | None) -> tuple[MessageAccepted, bool]:
    """Accept a message; returns (response, created). Replays of an idempotent request return the original.

    A replay is found by the write itself (the idempotency record is put first, only if absent),
    so the normal path reads nothing first; a request refused before the write is checked
    against an earlier accepted one, so a replay still answers the original even if the
    template or the contact changed since."""
    fingerprint = request_hash(body)
    try:
        return _create(deps, tenant_id, body, idempotency_key, fingerprint)
    except DomainError:
        if idempotency_key is not None:
            replay = _replay(deps, tenant_id, idempotency_key, fingerprint, legacy_request_hash(body))
            if isinstance(replay, MessageAccepted):
                return replay, False
        raise


def quota_day(now: datetime) -> tuple[str, int]:
    """The UTC day a send counts against, and seconds until the next one."""
    day = now.astimezone(UTC).date()
    next_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    return day.isoformat(), int((next_day - now).total_seconds()) + 1


def daily_quota(deps: Deps, tenant: TenantRow) -> int:
    return int(tenant.get("daily_quota") or deps.settings.default_daily_quota)


def over_quota(deps: Deps, tenant: TenantRow, now: datetime) -> OverQuota:
    _, retry = quota_day(now)
    return OverQuota(f"the daily quota of {daily_quota(deps, tenant)} messages is used up; it resets at 00:00 UTC", retry)


def check_quota(deps: Deps, tenant_id: str, tenant: TenantRow, now: datetime, need: int) -> tuple[str, int]:
    """Refuse (429) a request that would take `need` sends over today's quota; returns (day, quota)
    for the write, which re-checks it atomically."""
    day, _ = quota_day(now)
    limit = daily_quota(deps, tenant)
    if need and deps.store.quota.used(tenant_id, day) + need > limit:
        raise over_quota(deps, tenant, now)
    return day, limit


def _create(deps: Deps, tenant_id: str, body: MessageRequest, idempotency_key: str | None, fingerprint: str,
            resume_id: str | None = None) -> tuple[MessageAccepted, bool]:
    """Validate, render and write one message. With `resume_id`, the message an earlier request
    with this key recorded but did not write (it stopped between its writes): this one writes
    it under that id, so the key still names one message, sent once."""
    problems = ProblemList()
    try:
        to = to_e164(body.to)
    except ValueError as exc:
        problems.add("to", str(exc))
        to = None
    has_template = body.template is not None
    has_text = body.text is not None
    if has_template and has_text:
        problems.add("text", "give either template (a template message) or text (free-form, inside the 24 h window), not both")
    elif not has_template and not has_text:
        problems.add("template", "is required (a template message), unless text is given (free-form, inside the 24 h window)")
    if has_text and (body.params or body.button_params):
        problems.add("params", "params are for template messages")
    metadata = body.metadata
    if metadata is not None and len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        problems.add("metadata", f"is larger than {METADATA_MAX_BYTES} bytes")
    now = deps.now()
    send_at: datetime | None = body.send_at
    if send_at is not None and send_at.tzinfo is None:
        problems.add("send_at", "needs a time zone offset, e.g. 2026-11-24T09:00:00+08:00")
        send_at = None
    if send_at is not None and send_at > now + moments.MAX_AHEAD:
        problems.add("send_at", f"{moments.AHEAD_PROBLEM}: messages are planned at most {moments.MAX_AHEAD.days} days ahead")
    problems.raise_if_any()
    assert to is not None  # a number that does not parse is one of the problems raised above

    tenant = tenant_profile(deps, tenant_id)
    sender = number_service.sender(deps, tenant_id, tenant, body.from_)  # `from`, else the default number
    contact = deps.store.contacts.get(tenant_id, to) or {}
    in_window = window_open(contact.get("window_expires_at"), now)
    if has_text and not in_window:
        last = contact.get("last_inbound_at")
        raise Conflict(
            "free-form text is only allowed inside the 24 h customer-service window, and "
            + (f"{to} last wrote at {last}" if last else f"{to} has not written to you")
            + ": send an approved template instead"
        )
    message_id = resume_id or new_id("msg")
    template_ref: MessageTemplateRef | None = None
    sms = None
    if body.template is not None:
        name, language, why = body.template.name, body.template.language, "given in the request"
        if language is None:
            language, why = template_service.language_for(deps, tenant_id, name, contact.get("locale"))
        spec, template_item = template_service.load_spec(deps, tenant_id, name, language)
        if template_item["category"] == "MARKETING" and contact.get("opted_out"):
            raise Conflict(f"{to} opted out of marketing messages at {contact.get('opt_changed_at')}; only utility and authentication templates go")
        rendered = render(spec, body.params, body.button_params, to=to, callback_data=message_id)
        request = clicks.apply(deps, tenant_id, message_id, rendered.request, template_item.get("click_targets"))
        template_ref = {"name": name, "language": language, "category": template_item["category"], "language_reason": why}
        if template_item["category"] in fallback_rules.ELIGIBLE_CATEGORIES:
            from wa_notify.services.callbacks import tenant_settings

            sms = fallback_rules.plan(tenant_settings(deps, tenant_id).get("sms_fallback"), template_item["category"], name,
                                      rendered.header, rendered.body, rendered.footer)
    else:
        assert body.text is not None  # neither or both is one of the problems raised above
        request = clicks.apply(deps, tenant_id, message_id, text_request(to, body.text, callback_data=message_id), None)

    item = build_item(deps, tenant_id, message_id=message_id, to=to, template_ref=template_ref, request=request,
                      priority=body.priority, send_at=send_at, metadata=metadata, now=now,
                      phone_number_id=sender, text=body.text,
                      extra={"billing": billing("text" if has_text else "template", template_ref["category"] if template_ref else None, in_window),
                             **({"fallback": sms} if sms else {})})
    status: Any = item["status"]  # scheduled or queued (build_item); MessageAccepted validates it
    idempotency: IdempotencyRow | None = None
    if idempotency_key is not None:
        idempotency = {
            "key": idempotency_key,
            "tenant_id": tenant_id,
            "message_id": message_id,
            "body_hash": fingerprint,
            "created_at": iso(now),
            "expires_at": int(now.timestamp()) + deps.settings.idempotency_ttl_seconds,
        }
    day, _ = quota_day(now)
    written = deps.store.messages.reserve(item, idempotency, now_s=int(now.timestamp()), quota=(day, daily_quota(deps, tenant)),
                                          key_taken=resume_id is not None)
    if written is None:
        # The SQS job goes before the row, so the row's write is the commit point: a request
        # stopped between the two left a job for no message (the sender drops it, see
        # sending.NO_ROW_AFTER_MS) and answered no 202, never a 202 for a message nobody sends.
        # With the job already queued the row stays out of the due index: two index writes
        # fewer a message (issue 14). A resumed request does the same: a job its first attempt
        # queued before stopping finds the row this one writes, and the lease lets one of the two send.
        if enqueue_first(deps, item):
            item.pop("due_at", None)
        written = deps.store.messages.write(item)
    if written is MessageWrite.OVER_QUOTA:
        raise over_quota(deps, tenant, now)
    if written is MessageWrite.DUPLICATE_KEY or (written is MessageWrite.ID_CLASH and idempotency_key is not None):
        # Another request with the same key was first: it wrote the record (DUPLICATE_KEY), or,
        # resuming this request's own record, the message (ID_CLASH). Answer what it wrote.
        assert idempotency_key is not None  # only a write carrying a key can clash on it
        replay = _replay(deps, tenant_id, idempotency_key, fingerprint, legacy_request_hash(body))
        if isinstance(replay, MessageAccepted):
            return replay, False
        if isinstance(replay, str) and resume_id is None:
            return _create(deps, tenant_id, body, idempotency_key, fingerprint, resume_id=replay)
        raise Conflict("a request with this Idempotency-Key is being processed; retry")
    if written is MessageWrite.ID_CLASH:  # pragma: no cover - 80 random bits
        raise Conflict("message id clash; retry")
    logger.debug("message accepted", extra={"message_id": message_id, "to": mask(to), "status": status, "priority": item["priority"]})
    return MessageAccepted(id=message_id, status=status), True


def build_item(
    deps: Deps, tenant_id: str, *, message_id: str, to: str, template_ref: MessageTemplateRef | None, request: dict[str, Any],
    priority: str, send_at: datetime | None, metadata: Any, now: datetime, phone_number_id: str, text: str | None = None,
    extra: MessageExtras | None = None,
) -> MessageRow:
    """The message row, scheduled or queued. The due index is the outbox: a queued message the
    sender has not leased by `due_at` is enqueued again by the dispatcher, so a lost SQS send
    loses nothing. Intake drops `due_at` when the job went on its lane first (`_create`)."""
    # The schedule fires once a minute: a send_at in the current minute (or the past) goes now,
    # anything in a later minute waits for that minute's tick, never earlier.
    if send_at is not None and minute_of(send_at) > minute_of(now):
        status, due_at = st.SCHEDULED, epoch_ms(send_at)
    else:
        status, due_at = st.QUEUED, epoch_ms(now) + deps.settings.stale_queue_seconds * 1000
    return {
        "id": message_id,
        "tenant_id": tenant_id,
        "to": to,
        "template": template_ref,
        "text": text,
        "priority": priority,
        "request": request,
        "phone_number_id": phone_number_id,
        "status": status,
        "events": {status: iso(now)},
        "attempts": 0,
        "metadata": metadata,
        "send_at": iso(send_at) if send_at else None,
        "created_at": iso(now),
        "updated_at": iso(now),
        "due_at": due_at,
        **(extra or {}),
    }


def enqueue_first(deps: Deps, item: MessageRow) -> bool:
    """A queued message's job on its lane before its row is written; False when SQS refused it
    (or the message is scheduled): the row is then written with its due time, the outbox the
    dispatcher sweeps."""
    return item["status"] == st.QUEUED and enqueue(deps, [item])


def enqueue(deps: Deps, items: list[MessageRow]) -> bool:
    """Put the queued ones on their lanes; a failure is healed by the dispatcher from the due index.
    True when SQS took every job."""
    by_lane: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item["status"] == st.QUEUED:
            by_lane.setdefault(item["priority"], []).append(send_job(item))
    taken = True
    for lane, jobs in by_lane.items():
        try:
            if len(jobs) == 1:
                deps.queues.send(lane, jobs[0])
            else:
                taken = not deps.queues.send_lane_many(lane, jobs) and taken
        except Exception:  # noqa: BLE001 - the dispatcher re-enqueues them from the due index
            logger.exception("enqueue failed; the dispatcher will pick the messages up", extra={"lane": lane, "count": len(jobs)})
            taken = False
    return taken


def _replay(deps: Deps, tenant_id: str, key: str, fingerprint: str, legacy: str) -> MessageAccepted | str | None:
    """What an earlier request with this key answered; its message id alone when the record is
    there but the message is not (that request stopped between its writes, or is still writing:
    the caller writes it under that id); None when the key has no live record."""
    record = deps.store.messages.get_idempotency(tenant_id, key)
    if record is None or record.get("expires_at", 0) < int(deps.now().timestamp()):
        return None
    if record["body_hash"] not in (fingerprint, legacy):  # legacy: a record stored before `to` was normalized
        raise Conflict("this Idempotency-Key was used with a different body")
    item = deps.store.messages.get(tenant_id, record["message_id"])
    if item is None:
        return str(record["message_id"])
    return MessageAccepted.model_validate({"id": item["id"], "status": st.public_status(item["status"])})


def _check_id(message_id: str) -> None:
    if not MESSAGE_ID_RE.fullmatch(message_id):
        raise NotFound(f"no message {message_id[:64]}")


def get(deps: Deps, tenant_id: str, message_id: str) -> MessageView:
    _check_id(message_id)
    item = deps.store.messages.get(tenant_id, message_id)
    if item is None:
        raise NotFound(f"no message {message_id}")
    return view(item)


def cancel(deps: Deps, tenant_id: str, message_id: str) -> MessageView:
    _check_id(message_id)
    ok, item = deps.store.messages.cancel(tenant_id, message_id, iso(deps.now()))
    if ok and item is not None:  # ALL_NEW: the message as cancelled
        return view(item)
    if item is None:
        raise NotFound(f"no message {message_id}")
    if item["status"] == st.CANCELLED:
        return view(item)
    raise Conflict(f"message {message_id} is {st.public_status(item['status'])}: it was already handed to WhatsApp")


def validate_lane(priority: str) -> None:
    if priority not in LANES:
        raise Invalid([Problem("priority", "must be high, normal or bulk")])
