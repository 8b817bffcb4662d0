"""DELETE /v1/contacts/{phone}: erase a contact (LGPD/GDPR) and every stored copy of its phone,
name, params and rendered text (DESIGN.md "Erasure").

Steps, each conditional and safe to repeat, so the same DELETE after a failure half way
finishes the job (and a DELETE of a number we never stored answers 204 too):
1. the erasure's salt is kept on the contact row (created if there is none) until the end;
2. the contact's pending messages are cancelled (`cancel_reason` erased: `message.cancelled`
   with reason `platform`, the platform asked for it);
3. the campaigns of its messages, and any other campaign whose explicit segment names it (the
   tenant's campaign listing), lose the phone from their segment and their cursor;
4. every message row to the phone is scrubbed (domain/erasure.scrub: the phone becomes the
   salted hash, so `?to=` no longer finds it and it leaves any index keyed on the phone);
5. its inbound messages are deleted;
6. the receipt (`contact.erased` follows it through the stream), then the contact row with the salt.

A contact's messages are found through ContactIndex (the reading-back index on the phone), a
Query of that contact's entries only; the index keys are removed from every row scrubbed.
"""

from __future__ import annotations

import secrets

from wa_notify.domain import erasure as rules
from wa_notify.domain.phone import mask
from wa_notify.domain.problems import Invalid
from wa_notify.observability import logger, metrics
from wa_notify.services.contacts import phone_of
from wa_notify.services.deps import Deps, iso


def erase(deps: Deps, tenant_id: str, raw_phone: str) -> None:
    phone = phone_of(raw_phone, missing=Invalid)
    store = deps.store.erasure
    at = iso(deps.now())
    salt = store.begin(tenant_id, phone, secrets.token_hex(16), at)
    hashed = rules.phone_hash(salt, phone)
    message_ids = store.message_ids(tenant_id, phone)
    campaigns: set[str] = set()
    for message_id in deps.store.messages.pending_of(tenant_id, message_ids) if message_ids else []:
        # A conditional move each: one the sender took meanwhile is not cancelled (it is scrubbed).
        deps.store.messages.cancel_many(tenant_id, [message_id], at, rules.ERASED)
    for message_id in message_ids:
        row = deps.store.messages.get(tenant_id, message_id)
        if row is None or row.get("to") != phone:
            continue
        if row.get("campaign") and row["campaign"] not in campaigns:
            # Before its message: a rerun finds the campaign through the message not yet scrubbed.
            store.scrub_campaign(tenant_id, row["campaign"], phone)
            campaigns.add(row["campaign"])
        store.delete_click_tokens(row)
        store.scrub_message(row, phone, hashed, at)
    for campaign_id in _campaigns_naming(deps, tenant_id, phone) - campaigns:
        store.scrub_campaign(tenant_id, campaign_id, phone)  # named in its segment, excluded (no message)
    for sk in store.inbound_keys(tenant_id, phone):
        store.delete_inbound(tenant_id, phone, sk)
    store.write_receipt(tenant_id, hashed, at, len(message_ids))
    store.finish(tenant_id, phone, salt)
    metrics.add_metric(name="ContactsErased", unit="Count", value=1)
    logger.info("contact erased", extra={"to": mask(phone), "messages": len(message_ids), "campaigns": len(campaigns)})


def _campaigns_naming(deps: Deps, tenant_id: str, phone: str) -> set[str]:
    """Campaigns whose explicit segment or planning cursor holds the phone: the tenant's campaign
    listing read whole, 100 a page (campaigns are few; no index on segment members)."""
    found: set[str] = set()
    cursor: str | None = None
    while True:
        page, cursor = deps.store.campaigns.list(tenant_id, limit=100, cursor=cursor)
        found |= {c["id"] for c in page if phone in ((c.get("segment") or {}).get("contacts") or []) or c.get("cursor") == phone}
        if not cursor:
            return found
