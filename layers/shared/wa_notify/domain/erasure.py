"""Erasure of a contact (LGPD/GDPR), pure: what a scrubbed message row keeps, the salted hash
that stands in for the phone, and the reason codes of `message.cancelled`.

A scrubbed message keeps what the platform counts and audits (ids, statuses, times, counts,
the template, the flow step, the campaign, billing and pricing) and loses everything that is
the customer's: the phone (replaced by a hash salted for that erasure, the salt thrown away
with the contact row), the rendered request, the free text, the SMS text, the replies, the
platform's metadata, the wamids (Meta's wamid carries the recipient's number, base64) and any
attribute this list does not name: a keep-list, so an attribute added later (an index key on
the phone, clicked URLs) is removed until someone decides it may stay.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

PHONE_HASH_PREFIX = "erased:"

# Attributes of a message row an erasure leaves as they are (keys, GSI keys that hold no phone).
KEEP = frozenset({
    "pk", "sk", "id", "tenant_id", "phone_number_id", "template", "priority", "status", "events", "attempts",
    "send_at", "created_at", "updated_at", "billing", "flow", "campaign", "campaign_key", "cancel_reason",
    "held_for", "pricing", "rating", "not_after", "pair_refusals", "unknown_reason",
    # an in-flight send keeps its lease and due time, so the sender's conditional end still applies
    "lease_token", "lease_until", "due_at", "due_shard",
    # TimeIndex and FailedIndex (per tenant) keep it; ContactIndex's `contact_key` names the phone: removed
    "tenant_key", "listed_at", "failed_key",
    # click tracking's time and count (the clicked URLs, `clicks`, go: a URL may carry the customer's data)
    "clicked_at", "click_count",
})
# Nested attributes kept field by field (the rest of each map is the customer's).
KEEP_NESTED: Mapping[str, frozenset[str]] = {
    "error": frozenset({"code", "title", "advice"}),
    "last_error": frozenset({"code", "title"}),
    "fallback": frozenset({"unread_minutes", "claimed_at", "reason", "status", "sending_at", "sent_at", "failed_at", "error"}),
    "last_reply": frozenset({"at", "action", "rating"}),
}


def phone_hash(salt: str, phone: str) -> str:
    """What stands in for the phone on every row of one erasure: the same within it, and
    unrelated to the phone once the salt is gone (a phone number is too small a space for an
    unsalted hash)."""
    return PHONE_HASH_PREFIX + hashlib.sha256(f"{salt}\x1f{phone}".encode()).hexdigest()[:32]


def is_erased(to: str) -> bool:
    return to.startswith(PHONE_HASH_PREFIX)


def scrub(row: Mapping[str, Any], hashed: str) -> tuple[dict[str, Any], list[str]]:
    """(attributes to set, attribute names to remove) that turn a message row into its erased form."""
    sets: dict[str, Any] = {"to": hashed}
    removes: list[str] = []
    for name, value in row.items():
        if name in KEEP or name == "to":
            continue
        if name in KEEP_NESTED and isinstance(value, Mapping):
            kept = {k: v for k, v in value.items() if k in KEEP_NESTED[name]}
            if kept != dict(value):
                sets[name] = kept
            continue
        removes.append(name)
    return sets, removes


_TRACKED = re.compile(r"/r/([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])")  # domain/clicks: <api base>/r/<token>
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def click_tokens_in(request: Mapping[str, Any]) -> list[str]:
    """The click-tracking tokens a stored request carries (domain/clicks.track put them there):
    a tracked URL button's parameter is the token itself, a tracked text URL is `.../r/<token>`.
    Kept on the message row (`click_tokens`), so an erasure finds the token rows once the request
    is gone; a candidate that is no token of this message is left (the delete is conditional)."""
    found: list[str] = []
    text = (request.get("text") or {}).get("body") if isinstance(request.get("text"), Mapping) else None
    strings = [text] if isinstance(text, str) else []
    for component in (request.get("template") or {}).get("components") or []:
        for param in component.get("parameters") or [] if isinstance(component, Mapping) else []:
            value = param.get("text") if isinstance(param, Mapping) else None
            if not isinstance(value, str):
                continue
            if component.get("sub_type") == "url" and _TOKEN.fullmatch(value):
                found.append(value)
            strings.append(value)
    for value in strings:
        found += _TRACKED.findall(value)
    return list(dict.fromkeys(found))


# ---- message.cancelled reasons -------------------------------------------------------------------
CANCEL_REASONS = ("platform", "customer", "opt_out", "template_disabled", "window_closed", "send_window_ended")
ERASED = "erased"  # the cancel_reason an erasure stores; the platform asked for it: reported as `platform`


def cancel_reason_code(stored: Any) -> str:
    """The contract's reason for a row's `cancel_reason` (free text written by each path that
    cancels): a customer's Cancel tap, an opt-out, a disabled template, a campaign's send window
    that ended, the 24 h window that closed; anything else (DELETE /v1/messages, a reschedule
    or cancel event, a cancelled campaign, an erasure) was the platform's doing."""
    text = str(stored or "").lower()
    if text in CANCEL_REASONS:
        return text
    if "opted out" in text or "opt_out" in text or "opt-out" in text:
        return "opt_out"
    if "template" in text and "disabled" in text:
        return "template_disabled"
    if "send window" in text or "send_window" in text:
        return "send_window_ended"
    if "24 h" in text or "window closed" in text or "window_closed" in text:
        return "window_closed"
    return "platform"
