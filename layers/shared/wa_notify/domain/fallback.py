"""SMS fallback rules (pure): which messages may fall back, when, and what the SMS says.

Only utility and authentication messages fall back (a marketing SMS needs its own consent
and its own rules), and only for a tenant that turned it on. Two triggers: WhatsApp says the
message is undeliverable (131026: not a WhatsApp user, old app, or the user cannot be
reached), or the tenant set a deadline for the template and the message is still unread then.
"""

from __future__ import annotations

from typing import Any

from wa_notify.domain.records import FallbackPlan

ELIGIBLE_CATEGORIES = frozenset({"UTILITY", "AUTHENTICATION"})
UNDELIVERABLE = 131026
SMS_MAX_BYTES = 1_600  # Amazon SNS refuses longer SMS messages


def sms_text(header: str | None, body: str, footer: str | None) -> str:
    """The rendered template as plain text, cut (on a character) to what SNS accepts."""
    text = "\n".join(part for part in (header, body, footer) if part)
    encoded = text.encode()
    if len(encoded) <= SMS_MAX_BYTES:
        return text
    return encoded[: SMS_MAX_BYTES - 3].decode(errors="ignore") + "..."


def plan(settings: dict[str, Any] | None, category: str | None, template_name: str, header: str | None, body: str,
         footer: str | None) -> FallbackPlan | None:
    """What to keep on the message for a fallback, or None when it cannot fall back."""
    if not settings or not settings.get("enabled") or category not in ELIGIBLE_CATEGORIES:
        return None
    minutes = (settings.get("unread_minutes") or {}).get(template_name)
    planned: FallbackPlan = {"text": sms_text(header, body, footer), "unread_minutes": int(minutes) if minutes else None}
    if settings.get("sender_id"):
        planned["sender_id"] = settings["sender_id"]
    return planned


def undeliverable(error: dict[str, Any] | None) -> bool:
    return error is not None and error.get("code") == UNDELIVERABLE
