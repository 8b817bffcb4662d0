"""Campaigns: one template to every opted-in contact of a segment, through the bulk lane.

`create` validates and renders once, records the campaign and queues a plan job; the plan
job (run by the sender, see `run_job`) writes one page of messages at a time in a single
transaction that also advances the campaign's cursor and counts the page against the daily
quota, so a redelivered job plans nothing twice. The next page is a new job behind the
page's sends: planning keeps pace with sending instead of piling up 100,000 rows at once.
Message ids are derived from (campaign, phone), so a contact listed twice gets one message.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

from wa_notify.domain import audience
from wa_notify.domain import status as st
from wa_notify.domain.conversation import billing, window_open
from wa_notify.domain.ids import new_id
from wa_notify.domain.languages import nearest
from wa_notify.domain.outcomes import CampaignPage
from wa_notify.domain.phone import to_e164
from wa_notify.domain.problems import Conflict, Invalid, NotFound, Problem, ProblemList
from wa_notify.domain.records import CampaignRow, ContactRow, MessageExtras, MessageRow, MessageTemplateRef, NumberRow
from wa_notify.domain.rendering import render
from wa_notify.domain.templates import TemplateSpec
from wa_notify.models import CampaignRequest, CampaignView, Page
from wa_notify.models_templates import spec_from_stored
from wa_notify.observability import logger, metrics
from wa_notify.services import campaign_audience, campaign_progress, clicks, template_lifecycle
from wa_notify.services import messages as message_service
from wa_notify.services import numbers as number_service
from wa_notify.services import templates as template_service
from wa_notify.services.deps import Deps, epoch_ms, iso, ttl_cached
from wa_notify.services.tenants import profile as tenant_profile

PAGE_SIZE = 97  # + the campaign's cursor and the quota counter: a transaction holds at most 100 items
MAX_LISTED_CONTACTS = 10_000
CAMPAIGN_ID_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
_status_cache: dict[str, tuple[Any, float]] = {}


def campaign_message_id(campaign_id: str, phone: str) -> str:
    digest = hashlib.sha256(f"{campaign_id}|{phone}".encode()).digest()[:17]
    return "msg_" + base64.b32encode(digest).decode().lower()[:26]


def create(deps: Deps, tenant_id: str, body: CampaignRequest) -> CampaignView:
    now = deps.now()
    problems = ProblemList()
    segment = body.segment
    phones: list[str] = []
    if (segment.tag is None) == (segment.contacts is None):
        problems.add("segment", "give either tag (every contact with it) or contacts (a list of phone numbers)")
    elif segment.contacts == []:  # a campaign to nobody would be accepted, count quota and complete at once
        problems.add("segment.contacts", "must list at least one phone number")
    for i, raw in enumerate(segment.contacts or []):
        try:
            phones.append(to_e164(raw))
        except ValueError as exc:
            if len(problems.items) < 50:
                problems.add(f"segment.contacts[{i}]", str(exc))
    start, end = (body.send_window.start, body.send_window.end) if body.send_window else (None, None)
    for name, moment in (("start", start), ("end", end)):
        if moment is not None and moment.tzinfo is None:
            problems.add(f"send_window.{name}", "needs a time zone offset, e.g. 2026-11-24T09:00:00+08:00")
    if not problems:
        if start is not None and start > now + timedelta(days=30):
            problems.add("send_window.start", "can be at most 30 days ahead")
        if end is not None and end <= max(start or now, now):
            problems.add("send_window.end", "must be after the start (and in the future)")
    audience.check(body.params, problems)
    problems.raise_if_any()

    name, language = body.template, body.language
    # Without a language each contact's locale picks the translation; the default's (else the first) is checked now.
    checked = language or _checked_language(deps, tenant_id, name)
    # A campaign's template is a name (`template`), not a {name, language} object: problems name `template`.
    spec, template_item = template_service.load_spec(deps, tenant_id, name, checked, name_field="template")
    # Render once now: a parameter problem is the caller's 422, not 100,000 failed messages.
    render(spec, audience.sample(body.params), body.button_params, to="+14155550100", callback_data="msg_check")

    tenant = tenant_profile(deps, tenant_id)
    sender = number_service.sender(deps, tenant_id, tenant, body.from_)
    message_service.check_quota(deps, tenant_id, tenant, now, len(set(phones)) if phones else 1)
    campaign_id = new_id("cmp")
    item: CampaignRow = {
        "id": campaign_id, "tenant_id": tenant_id, "name": body.name or name,
        "template": {"name": name, "category": template_item["category"], **({"language": language} if language else {})},
        "params": body.params, "button_params": body.button_params,
        "segment": {"tag": segment.tag} if segment.tag is not None else {"contacts": sorted(set(phones))},
        "send_window": {"start": iso(start) if start else None, "end": iso(end) if end else None},
        "status": "planning", "planned": 0, "excluded": 0, "excluded_by": {}, "cursor": "", "created_at": iso(now), "updated_at": iso(now),
    }
    if sender != tenant["phone_number_id"]:
        item["phone_number_id"] = sender
    deps.store.campaigns.put(tenant_id, item)
    try:
        deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": campaign_id})
    except Exception:
        # Without its planning job the campaign would sit in "planning" forever: take it back, so
        # the failed request leaves nothing behind and the platform's retry starts clean.
        deps.store.campaigns.drop_unplanned(tenant_id, campaign_id, item["created_at"])
        raise
    logger.info("campaign accepted", extra={"campaign_id": campaign_id, "template": name})
    return view(item, counts=None)


def _checked_language(deps: Deps, tenant_id: str, name: str) -> str:
    languages = sorted(template_service.translations(deps, tenant_id, name, field="template"))
    default = template_service.tenant_default_language(deps, tenant_id)
    return (nearest(languages, default) if default else None) or languages[0]


def view(item: CampaignRow, counts: dict[str, int] | None, *, listed: bool = False, counted_at: str | None = None) -> CampaignView:
    progress: dict[str, Any] = {"planned": int(item.get("planned", 0)), "queued": 0, "sent": 0, "delivered": 0, "read": 0, "failed": 0,
                                "cancelled": 0, "as_of": counted_at}
    if counts:
        progress.update({k: v for k, v in counts.items() if k in progress})
        # Pages planned between reading the campaign and counting its messages are counted too.
        progress["planned"] = max(progress["planned"], int(counts.get("total", 0)))
    excluded = item.get("excluded_by")
    if excluded is None:  # a campaign from before the reasons were counted: only opt-outs were excluded
        excluded = {audience.OPTED_OUT: int(item.get("excluded", 0))} if item.get("excluded") else {}
    return CampaignView.model_validate({
        "id": item["id"], "name": item.get("name"), "template": {"name": item["template"]["name"], "language": item["template"].get("language")},
        "segment": ({"tag": item["segment"]["tag"]} if "tag" in item["segment"] else {"contacts": len(item["segment"]["contacts"])}),
        "send_window": item.get("send_window"), "status": "sending" if item["status"] == "scheduled" else item["status"],  # "scheduled": rows from before issue 16
        "progress": None if listed else progress,
        "excluded_opted_out": int(excluded.get(audience.OPTED_OUT, 0)), "excluded": {k: int(v) for k, v in excluded.items()},
        "reason": item.get("reason"),
        "created_at": item["created_at"], "updated_at": item.get("updated_at"),
    })


def _funnel(deps: Deps, tenant_id: str, item: CampaignRow) -> tuple[dict[str, int] | None, str | None]:
    """The funnel and, for a large campaign, when it was counted (services/campaign_progress)."""
    if campaign_progress.is_large(item):
        return campaign_progress.snapshot(deps, tenant_id, item)
    return campaign_progress.count_now(deps, tenant_id, item["id"]), None


def _load(deps: Deps, tenant_id: str, campaign_id: str) -> CampaignRow:
    if not campaign_id.startswith("cmp_") or len(campaign_id) > 40 or not set(campaign_id[4:]) <= set(CAMPAIGN_ID_CHARS):
        raise NotFound(f"no campaign {campaign_id[:40]}")
    item = deps.store.campaigns.get(tenant_id, campaign_id)
    if item is None:
        raise NotFound(f"no campaign {campaign_id}")
    return item


def get(deps: Deps, tenant_id: str, campaign_id: str) -> CampaignView:
    item = _load(deps, tenant_id, campaign_id)
    counts, counted_at = _funnel(deps, tenant_id, item)
    return view(check_completed(deps, tenant_id, item, counts) if counts else item, counts, counted_at=counted_at)


def check_completed(deps: Deps, tenant_id: str, item: CampaignRow, counts: dict[str, int]) -> CampaignRow:
    """Checked when progress is counted (no request per message): a campaign whose every page is
    planned and whose every message left our hands (sent or beyond, failed or cancelled) is
    `completed`; one conditional write, once."""
    if (item["status"] == "sending" and item.get("planned_all") and counts["queued"] == 0
            and counts["total"] >= int(item.get("planned", 0))
            and deps.store.campaigns.complete(tenant_id, item["id"], iso(deps.now()))):
        return {**item, "status": "completed"}
    return item


def list_all(deps: Deps, tenant_id: str, cursor: str | None, limit: int) -> Page[CampaignView]:
    """Newest first; each without its funnel (GET one for it), a sending one checked for completion."""
    try:
        items, nxt = deps.store.campaigns.list(tenant_id, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise Invalid([Problem("cursor", str(exc))]) from exc
    views = []
    for item in items:
        if item["status"] == "sending" and item.get("planned_all") and not campaign_progress.is_large(item):
            item = check_completed(deps, tenant_id, item, campaign_progress.count_now(deps, tenant_id, item["id"]))
        elif item["status"] == "sending" and item.get("planned_all"):
            counts, _ = campaign_progress.snapshot(deps, tenant_id, item)  # its count job completes it
            item = check_completed(deps, tenant_id, item, counts) if counts else item
        views.append(view(item, None, listed=True))
    return Page[CampaignView](items=views, next=nxt)


def cancel(deps: Deps, tenant_id: str, campaign_id: str) -> CampaignView:
    """Stop what has not left: planning stops at once, queued messages are cancelled by a job on
    the high lane (not behind the campaign's own backlog), and the sender checks the
    campaign before each send in the meantime."""
    _load(deps, tenant_id, campaign_id)
    item = deps.store.campaigns.stop(tenant_id, campaign_id, iso(deps.now()))
    if item is None:
        item = _load(deps, tenant_id, campaign_id)
        if item["status"] != "cancelled":
            raise Conflict(f"campaign {campaign_id} is {item['status']}")
    else:
        deps.queues.send("high", {"kind": "campaign_cancel", "tenant_id": tenant_id, "campaign_id": campaign_id})
    _status_cache.pop(f"{tenant_id}#{campaign_id}", None)
    counts, counted_at = _funnel(deps, tenant_id, item)
    return view(item, counts, counted_at=counted_at)


def is_cancelled(deps: Deps, tenant_id: str, campaign_id: str) -> bool:
    """The sender's check before each campaign send (cached 2 s per container)."""
    def load() -> str:
        item = deps.store.campaigns.get(tenant_id, campaign_id)
        return item["status"] if item else "missing"

    return ttl_cached(_status_cache, f"{tenant_id}#{campaign_id}", 2.0, load) in ("cancelled", "missing")


# ---- the jobs (run by the sender) -------------------------------------------------------------
def run_job(deps: Deps, job: dict[str, Any]) -> str:
    if job["kind"] == "campaign_plan":
        return plan_page(deps, job["tenant_id"], job["campaign_id"])
    if job["kind"] == "campaign_cancel":
        return cancel_pending(deps, job["tenant_id"], job["campaign_id"])
    if job["kind"] == "campaign_count":
        return campaign_progress.count_job(deps, job)
    raise ValueError(f"unknown job kind {job['kind']!r}")


def _page(deps: Deps, tenant_id: str, campaign: CampaignRow, size: int) -> tuple[list[ContactRow], str | None, int]:
    """The next page of recipients: (contacts to send to, the next cursor or None, opted out).
    A tag matches the contact's own tags and its computed ones (inactive_30d, value tiers...)."""
    cursor = campaign.get("cursor") or ""
    segment = campaign["segment"]
    if "contacts" in segment:
        start = int(cursor or 0)
        phones = segment["contacts"][start : start + size]
        found = {c["phone"]: c for c in deps.store.contacts.get_many(tenant_id, phones)}
        contacts: list[ContactRow] = [found.get(p, {"phone": p}) for p in phones]
        nxt = str(start + size) if start + size < len(segment["contacts"]) else None
    else:
        contacts, nxt = deps.store.contacts.page(tenant_id, after=cursor or None, limit=size)
        tiers, now = deps.store.tenants.get_settings(tenant_id).get("value_tiers"), deps.now()
        # A malformed row (no phone) is left out, never a planning job that fails forever.
        contacts = [c for c in contacts if campaign_audience.has_tag(c, segment["tag"], now, tiers) and _has_phone(c)]
    eligible = [c for c in contacts if not c.get("opted_out")]
    return eligible, nxt, len(contacts) - len(eligible)


def _has_phone(contact: ContactRow) -> bool:
    if isinstance(contact.get("phone"), str):
        return True
    logger.warning("stored contact skipped: it has no phone", extra={"pk": contact.get("pk")})
    return False


def plan_page(deps: Deps, tenant_id: str, campaign_id: str, limit: int | None = None) -> str:
    """Plan the campaign's next page; `limit` shrinks it to what is left of today's quota."""
    campaign = deps.store.campaigns.get(tenant_id, campaign_id)
    if campaign is None or campaign["status"] not in ("planning", "paused_quota", "sending") or campaign.get("planned_all"):
        return "skipped"
    if campaign["template"].get("language") and (held := template_lifecycle.campaign_gate(deps, tenant_id, campaign)) is not None:
        return held  # its template is PAUSED (resumes when approved) or DISABLED (cancelled)
    now = deps.now()
    tenant = tenant_profile(deps, tenant_id)
    pnid = campaign.get("phone_number_id") or tenant["phone_number_id"]
    # The number's messaging limit: at most `room` new business-initiated conversations in this page.
    conversation_limit, number_row, room = number_service.conversation_room(deps, tenant_id, pnid, pnid == tenant["phone_number_id"])
    if conversation_limit is not None and room <= 0:
        return _wait_for_limit(deps, tenant_id, campaign_id, number_row, conversation_limit)
    size = min(limit or PAGE_SIZE, room if conversation_limit is not None else PAGE_SIZE)
    contacts, nxt, opted_out = _page(deps, tenant_id, campaign, size)
    chosen, excluded = campaign_audience.recipients(deps, tenant_id, campaign, contacts)
    if opted_out:
        excluded[audience.OPTED_OUT] += opted_out
    for row in {r.template["language"]: r.template for r in chosen}.values():
        if not campaign["template"].get("language") and row["status"] not in template_lifecycle.SENDABLE:
            # A translation this page needs is PAUSED or DISABLED: the campaign pauses or stops as a whole.
            ref: MessageTemplateRef = {**campaign["template"], "language": row["language"]}
            if (gated := template_lifecycle.campaign_gate(deps, tenant_id, {**campaign, "template": ref})) is not None:
                return gated
    window = campaign.get("send_window") or {}
    start = datetime.fromisoformat(start_at) if (start_at := window.get("start")) else None
    end_ms = epoch_ms(datetime.fromisoformat(end_at)) if (end_at := window.get("end")) else None
    items: list[MessageRow] = []
    contacts = []
    specs: dict[str, TemplateSpec] = {}
    for r in chosen:
        contact, template_item, language = r.contact, r.template, r.template["language"]
        message_id = campaign_message_id(campaign_id, contact["phone"])
        spec = specs.get(language) or specs.setdefault(language, spec_from_stored(template_item))
        try:
            rendered = render(spec, r.params, campaign.get("button_params") or {}, to=contact["phone"], callback_data=message_id)
        except Invalid as exc:  # this contact's value does not fit the template (too long, a newline...)
            excluded[f"invalid:{exc.problems[0].field}"] += 1
            continue
        contacts.append(contact)
        category = template_item["category"] if not campaign["template"].get("language") else campaign["template"]["category"]
        extra: MessageExtras = {"campaign": campaign_id,  # billing as direct messages show it (domain billing)
                                "billing": billing("template", category, window_open(contact.get("window_expires_at"), start or now))}
        if end_ms is not None:
            extra["not_after"] = end_ms
        items.append(message_service.build_item(
            deps, tenant_id, message_id=message_id, to=contact["phone"],
            template_ref={"name": campaign["template"]["name"], "language": language, "category": category, "language_reason": r.why},
            request=clicks.apply(deps, tenant_id, message_id, rendered.request, template_item.get("click_targets")),
            priority="bulk", send_at=start, metadata={"campaign": campaign_id}, now=now,
            phone_number_id=pnid, extra=extra))
    day, retry_s = message_service.quota_day(now)
    quota = message_service.daily_quota(deps, tenant)
    # Only contacts outside an open customer-service window start a conversation that counts.
    opening = sum(1 for c in contacts if not window_open(c.get("window_expires_at"), now))
    counted = None if conversation_limit is None or not opening else deps.store.numbers.count_conversations(
        tenant_id, pnid, number_row, opening, conversation_limit, epoch_ms(now), number_service.LIMIT_WINDOW_MS)
    outcome = deps.store.campaigns.write_page(
        tenant_id, campaign, items, next_cursor=nxt, excluded=dict(excluded), at=iso(now), quota=(day, quota), conversations=counted)
    if outcome is CampaignPage.OVER_LIMIT:
        # Another campaign of the number counted first: plan again on what is left.
        deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": campaign_id}, delay_seconds=1)
        return "retry"
    if outcome is CampaignPage.OVER_QUOTA:
        room = quota - deps.store.quota.used(tenant_id, day)
        if 0 < room < len(items):
            # Use the rest of today's quota first: a smaller page scans at most `room` contacts.
            return plan_page(deps, tenant_id, campaign_id, limit=room)
        # Over today's quota: wait (re-checking every 15 min) and carry on tomorrow.
        deps.store.campaigns.mark(tenant_id, campaign_id, "paused_quota", "the daily quota is used up; planning resumes at 00:00 UTC", iso(now))
        deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": campaign_id},
                         delay_seconds=min(900, retry_s))
        metrics.add_metric(name="CampaignPausedQuota", unit="Count", value=1)
        return "paused"
    if outcome is not CampaignPage.WRITTEN:
        return "skipped"  # a redelivered job whose page was written already, or a cancel won
    message_service.enqueue(deps, items)
    metrics.add_metric(name="CampaignPlanned", unit="Count", value=len(items))
    if nxt is not None:
        deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": campaign_id})
        return "planned"
    return "done"


def _wait_for_limit(deps: Deps, tenant_id: str, campaign_id: str, row: NumberRow | None, conversation_limit: int) -> str:
    """The number's 24 h messaging limit is used up: pause (paused_quota) and plan again when its
    window ends (re-checking every 15 min), instead of drawing Meta's quality penalties."""
    now = deps.now()
    wait_s = number_service.window_ends_in_s(row, epoch_ms(now))
    resumes = iso(now + timedelta(seconds=wait_s))
    deps.store.campaigns.mark(tenant_id, campaign_id, "paused_quota",
                              f"the number's messaging limit ({conversation_limit} business-initiated conversations per 24 h) "
                              f"is reached; planning resumes at {resumes}", iso(now))
    deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": campaign_id},
                     delay_seconds=min(900, wait_s))
    metrics.add_metric(name="CampaignPausedMessagingLimit", unit="Count", value=1)
    return "paused"


def cancel_pending(deps: Deps, tenant_id: str, campaign_id: str) -> str:
    at = iso(deps.now())
    cancelled = 0
    for message_id, status in deps.store.campaigns.messages_of(tenant_id, campaign_id):
        if status in (st.SCHEDULED, st.QUEUED):
            ok, _ = deps.store.messages.cancel(tenant_id, message_id, at)
            cancelled += ok
    logger.info("campaign cancelled", extra={"campaign_id": campaign_id, "cancelled": cancelled})
    return "cancelled"
