"""Meta's template lifecycle: status, category and quality webhooks keep stored templates current,
and what a PAUSED or DISABLED template means for messages and campaigns already planned.

- The webhook function applies each change (one conditional write: Meta's retry of the same
  webhook changes nothing) before answering 200; the `template.status_changed` callback follows
  the write through the table's stream (domain/changes.py).
- PAUSED: new sends are refused at intake (409, services/templates.check_sendable). A queued or
  scheduled message of it that reaches the sender is *held*: parked back to `scheduled` with
  `held_for` = <name>#<language> and a re-check an hour later, and listed under the template's
  hold partition (keys.template_hold). APPROVED again reads that partition (no scan) and makes
  each held message due at the dispatcher's next minute; a campaign on it pauses
  (`paused_template`) and resumes the same way. The sender checks the template after parking,
  so an approval that lands in between is never missed (docs/decisions.md).
- DISABLED: held messages and campaigns are cancelled (reason `template_disabled`); queued and
  scheduled ones not yet held are cancelled by the sender when they come up.
- A category change updates the template's category, and with it the `billing` of every later
  message (intake reads it; campaign pages read it through `campaign_gate`).
"""

from __future__ import annotations

from typing import Any

from wa_notify.domain.records import CampaignRow, MessageRow, TemplateRow
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, epoch_ms, iso, ttl_cached

FIELDS = ("message_template_status_update", "template_category_update", "message_template_quality_update",
          "message_template_components_update")
EVENTS = ("APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "FLAGGED", "REINSTATED", "IN_APPEAL",
          "LIMIT_EXCEEDED", "LOCKED", "DELETED", "PENDING_DELETION", "ARCHIVED", "UNARCHIVED")  # fmt: skip
SENDABLE = ("APPROVED", "FLAGGED", "REINSTATED")  # FLAGGED: low quality, still sent until Meta pauses it
RELEASING = ("APPROVED", "REINSTATED")
DISABLED = "DISABLED"
REASON_DISABLED = "template_disabled"
PAUSED_CODE, DISABLED_CODE = 132015, 132016  # Meta's answers to a send of a paused or disabled template
META_CODES = (PAUSED_CODE, DISABLED_CODE)
HOLD_RECHECK_SECONDS = 3600  # a held message looks again even if no approval ever arrives
_status_cache: dict[str, tuple[Any, float]] = {}


# ---- the webhook ---------------------------------------------------------------------------------
def apply(deps: Deps, field: str, waba_id: str, value: dict[str, Any]) -> bool:
    """One template webhook change; True when it changed the stored template."""
    tenant_id = deps.store.tenants.for_waba(waba_id)
    name = value.get("message_template_name")
    language = str(value.get("message_template_language") or "").replace("-", "_")  # Meta's examples spell en-US too
    if tenant_id is None or not isinstance(name, str) or not name or not language:
        return False
    at = iso(deps.now())
    templates = deps.store.templates
    if field == "message_template_components_update":
        # Edited at Meta: its components are replaced whole (reference §5.1); sends rendered from
        # the stored copy would be refused (132000). Meta's copy is read again and stored.
        from wa_notify.services.template_sync import refresh_one

        metrics.add_metric(name="TemplateComponentsUpdated", unit="Count", value=1)
        return refresh_one(deps, tenant_id, waba_id, name, language) in ("imported", "updated")
    if field == "message_template_status_update":
        event = str(value.get("event") or "").upper()
        if event not in EVENTS:
            return False
        if templates.get(tenant_id, name, language) is None:
            # A template made in WhatsApp Manager after the last sync: imported with Meta's status.
            from wa_notify.services.template_sync import refresh_one

            return refresh_one(deps, tenant_id, waba_id, name, language) == "imported"
        reason = value.get("reason")
        detail = value.get("rejection_info") or value.get("other_info") or value.get("disable_info")
        changed = templates.apply_event(tenant_id, name, language, at=at, status=event,
                                        reason=reason if isinstance(reason, str) else None, detail=detail)
        # Also on a retry or a status we had already: releasing and cancelling are idempotent,
        # and a hold written after an earlier delivery is still found.
        if event in RELEASING:
            release(deps, tenant_id, name, language)
        elif event == DISABLED:
            cancel_held(deps, tenant_id, name, language)
        metrics.add_metric(name=f"TemplateStatus{event.title().replace('_', '')}", unit="Count", value=1)
        return changed
    if field == "template_category_update":
        category = str(value.get("new_category") or "").upper()
        if not category:
            return False
        previous = str(value.get("previous_category") or "").upper()
        reason = f"category changed from {previous} to {category}" if previous else f"category changed to {category}"
        return templates.apply_event(tenant_id, name, language, at=at, category=category, reason=reason)
    if field == "message_template_quality_update":
        quality = str(value.get("new_quality_score") or "").upper()
        return bool(quality) and templates.apply_event(tenant_id, name, language, at=at, quality=quality)
    return False


def release(deps: Deps, tenant_id: str, name: str, language: str) -> int:
    """APPROVED again: every held message is due at the dispatcher's next minute, every paused
    campaign resumes. Each one is marked done once handled, so a webhook that times out part
    way is continued by Meta's retry."""
    now = deps.now()
    at, next_minute, now_s = iso(now), (epoch_ms(now) // 60_000 + 1) * 60_000, int(now.timestamp())
    held, done = f"{name}#{language}", 0
    _status_cache.pop(f"{tenant_id}#{held}", None)
    for ref in deps.store.templates.holds(tenant_id, name, language):
        kind, _, ref_id = ref.partition("#")
        if kind == "MSG":
            done += deps.store.templates.release_message(tenant_id, ref_id, held, next_minute, at)
        elif kind == "CMP" and (resumed := deps.store.templates.resume_campaign(tenant_id, ref_id, at)) is not None:
            done += 1
            if resumed in ("planning", "paused_quota"):
                deps.queues.send("bulk", {"kind": "campaign_plan", "tenant_id": tenant_id, "campaign_id": ref_id})
        deps.store.templates.drop_hold(tenant_id, name, language, ref, now_s)
    if done:
        logger.info("template approved again: held messages and campaigns released", extra={"template": held, "released": done})
    return done


def cancel_held(deps: Deps, tenant_id: str, name: str, language: str) -> int:
    """DISABLED: held messages are cancelled (reason template_disabled), paused campaigns stopped."""
    now = deps.now()
    at, held, done = iso(now), f"{name}#{language}", 0
    _status_cache.pop(f"{tenant_id}#{held}", None)
    for ref in deps.store.templates.holds(tenant_id, name, language):
        kind, _, ref_id = ref.partition("#")
        if kind == "MSG":
            done += deps.store.templates.cancel_message(tenant_id, ref_id, held, REASON_DISABLED, at)
        elif kind == "CMP":
            _stop_campaign(deps, tenant_id, ref_id)
        deps.store.templates.drop_hold(tenant_id, name, language, ref, int(now.timestamp()))
    metrics.add_metric(name="SendCancelledTemplateDisabled", unit="Count", value=done)
    return done


def _stop_campaign(deps: Deps, tenant_id: str, campaign_id: str) -> None:
    if deps.store.campaigns.stop(tenant_id, campaign_id, iso(deps.now())) is not None:
        deps.queues.send("high", {"kind": "campaign_cancel", "tenant_id": tenant_id, "campaign_id": campaign_id})


# ---- the sender ----------------------------------------------------------------------------------
def current_status(deps: Deps, tenant_id: str, name: str, language: str, *, fresh: bool = False) -> str | None:
    """The template's stored status, cached 2 s per container (read again, consistently, before
    acting on anything but a sendable status)."""
    key = f"{tenant_id}#{name}#{language}"
    if fresh:
        _status_cache.pop(key, None)

    def load() -> str | None:
        item = deps.store.templates.get(tenant_id, name, language)
        return item["status"] if item else None

    return ttl_cached(_status_cache, key, 2.0, load)


def gate(deps: Deps, tenant_id: str, message: MessageRow, token: str) -> str | None:
    """Before a template send: None to go on, else what happened (held or cancelled)."""
    template = message.get("template")
    if not template:
        return None
    name, language = template["name"], template["language"]
    if current_status(deps, tenant_id, name, language) in SENDABLE:
        return None
    status = current_status(deps, tenant_id, name, language, fresh=True)
    if status == DISABLED:
        return _cancel(deps, tenant_id, message, token)
    if status == "PAUSED":
        return hold(deps, tenant_id, message, token)
    return None  # not ours to judge (deleted, pending...): Meta answers the send


def refused(deps: Deps, tenant_id: str, message: MessageRow, token: str, code: int | None) -> str:
    """Meta answered the send 132015 (paused) or 132016 (disabled) before its webhook reached us."""
    if code == DISABLED_CODE:
        return _cancel(deps, tenant_id, message, token)
    return hold(deps, tenant_id, message, token, check_after=False)


def hold(deps: Deps, tenant_id: str, message: MessageRow, token: str, *, check_after: bool = True) -> str:
    """Park the message (scheduled, held_for, re-checked in an hour) and list it under its template.
    Listed first, then parked, then the template read again: an approval that came in between
    either finds the listing or is seen here, so the message is never stuck until the re-check.
    (Not after Meta's own 132015: our copy may still say APPROVED until Meta's webhook comes.)"""
    template = message.get("template") or {"name": "", "language": ""}
    name, language = template["name"], template["language"]
    now = deps.now()
    held = f"{name}#{language}"
    deps.store.templates.hold(tenant_id, name, language, f"MSG#{message['id']}", int(now.timestamp()))
    if not deps.store.leases.hold(tenant_id, message["id"], token, held, epoch_ms(now) + HOLD_RECHECK_SECONDS * 1000, iso(now)):
        return "skipped"
    if message.get("campaign"):
        pause_campaign(deps, tenant_id, message["campaign"], name, language)
    metrics.add_metric(name="SendHeldTemplatePaused", unit="Count", value=1)
    logger.info("held: its template is paused", extra={"message_id": message["id"], "template": held})
    if check_after and current_status(deps, tenant_id, name, language, fresh=True) in RELEASING:
        # Approved meanwhile: its release may have run before this message was parked (and
        # dropped the listing), so this one is released here; release() does the rest.
        deps.store.templates.release_message(tenant_id, message["id"], held, (epoch_ms(now) // 60_000 + 1) * 60_000, iso(now))
        release(deps, tenant_id, name, language)
    return "held"


def _cancel(deps: Deps, tenant_id: str, message: MessageRow, token: str) -> str:
    deps.store.leases.cancel(tenant_id, message["id"], token, REASON_DISABLED, iso(deps.now()))
    metrics.add_metric(name="SendCancelledTemplateDisabled", unit="Count", value=1)
    return "cancelled"


# ---- campaigns -----------------------------------------------------------------------------------
def pause_campaign(deps: Deps, tenant_id: str, campaign_id: str, name: str, language: str) -> None:
    reason = f"template {name} ({language}) is paused by Meta; the campaign resumes when it is approved again"
    deps.store.templates.hold(tenant_id, name, language, f"CMP#{campaign_id}", int(deps.now().timestamp()))
    if deps.store.templates.pause_campaign(tenant_id, campaign_id, reason, iso(deps.now())):
        metrics.add_metric(name="CampaignPausedTemplate", unit="Count", value=1)


def campaign_gate(deps: Deps, tenant_id: str, campaign: CampaignRow) -> str | None:
    """Before planning a campaign's page: None to plan, else what happened (paused or cancelled).
    The template's current category goes into the campaign's template reference, so the page's
    messages carry the `billing` of a category Meta changed since the campaign was created."""
    ref = campaign["template"]
    item: TemplateRow | None = deps.store.templates.get(tenant_id, ref["name"], ref["language"])
    status = item["status"] if item else "DELETED"
    if item is not None and status in SENDABLE:
        ref["category"] = item["category"]
        return None
    if status == DISABLED:
        _stop_campaign(deps, tenant_id, campaign["id"])
        return "cancelled"
    pause_campaign(deps, tenant_id, campaign["id"], ref["name"], ref["language"])
    if status in RELEASING:  # approved while pausing: see hold()
        release(deps, tenant_id, ref["name"], ref["language"])
    return "paused"
