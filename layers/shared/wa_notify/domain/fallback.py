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


# GSM 03.38: the 7-bit alphabet (160 characters a segment, 153 when split) and its escaped
# extension (two septets each). One character outside both makes the whole SMS UCS-2: 70 a
# segment, 67 when split.
GSM7_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
# Typography Babel and editors put in text that has a GSM-7 twin: Babel's times carry U+202F
# before AM/PM ("10:00\u202fAM"), its numbers and currencies U+00A0 or U+202F as group separators.
GSM7_TWINS = {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
              "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00ad": ""}


def gsm7_safe(text: str) -> str:
    """Every space separator (U+00A0, U+2009, U+202F, ...) as a plain space and typographic quotes,
    dashes and ellipses as their ASCII twins, so one of them does not turn the SMS into UCS-2."""
    import unicodedata

    return "".join(" " if unicodedata.category(c) == "Zs" else GSM7_TWINS.get(c, c) for c in text)


def sms_segments(text: str) -> int:
    """How many SMS parts the text takes: GSM-7 when every character is in it, UCS-2 otherwise."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def sms_text(header: str | None, body: str, footer: str | None) -> str:
    """The rendered template as plain text, GSM-7-safe where it can be (gsm7_safe), cut (on a
    character) to what SNS accepts."""
    text = gsm7_safe("\n".join(part for part in (header, body, footer) if part))
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
