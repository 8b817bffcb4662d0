"""Who of a campaign's page gets a message, in which translation and with which params; who is
left out and why (issue 16). The segment's tag may be any tag `GET /v1/contacts?tag=` accepts,
computed ones included (domain/conversation.computed_tags)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wa_notify.domain import audience
from wa_notify.domain.conversation import computed_tags
from wa_notify.domain.languages import NO_TRANSLATION, pick_translation
from wa_notify.domain.records import CampaignRow, ContactRow, TemplateRow
from wa_notify.services.deps import Deps
from wa_notify.services.templates import tenant_default_language


@dataclass(frozen=True)
class Recipient:
    contact: ContactRow
    params: dict[str, Any]
    template: TemplateRow  # the translation it gets
    why: str  # why that translation (the message's language_reason)


def has_tag(contact: ContactRow, tag: str, now: datetime, tiers: list[dict[str, Any]] | None) -> bool:
    """The platform's own tags, then the computed ones (inactive_30d, active_7d, cold, value tiers)."""
    tags = contact.get("tags")
    return (isinstance(tags, list) and tag in tags) or tag in computed_tags(contact, now, tiers)


def recipients(deps: Deps, tenant_id: str, campaign: CampaignRow, contacts: list[ContactRow]) -> tuple[list[Recipient], Counter[str]]:
    """The page's recipients, and the others counted by reason (no_translation, missing:<path>)."""
    ref = campaign["template"]
    fixed = ref.get("language")
    if fixed:
        row = deps.store.templates.get(tenant_id, ref["name"], fixed)
        rows = {fixed: row} if row is not None else {}
        default = None
    else:
        rows = {i["language"]: i for i in deps.store.templates.list(tenant_id, name=ref["name"], limit=100)[0]}
        default = tenant_default_language(deps, tenant_id)
    excluded: Counter[str] = Counter()
    out: list[Recipient] = []
    for contact in contacts:
        if fixed:
            picked = (fixed, "given by the campaign") if fixed in rows else None
        else:
            picked = pick_translation(rows, contact.get("locale") if isinstance(contact.get("locale"), str) else None, default)
        if picked is None:
            excluded[NO_TRANSLATION] += 1
            continue
        params, missing = audience.for_contact(campaign.get("params") or {}, contact)
        if missing:
            excluded[missing] += 1
            continue
        out.append(Recipient(contact, params, rows[picked[0]], picked[1]))
    return out, excluded
