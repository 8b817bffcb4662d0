"""Free-form texts we send as written (a text message, an auto-reply, a tap's acknowledgement):
whether a customer could read one, and its Cloud API request. Pure."""

from __future__ import annotations

from typing import Any

from wa_notify.domain.problems import ProblemList
from wa_notify.domain.template_text import unreadable_problem

TEXT_MESSAGE_MAX = 4096


def unreadable_text(text: str) -> bool:
    """True for a text we send as written (free-form text, an auto-reply, a tap's acknowledgement)
    that a customer could not read as a message: blank, or holding control
    characters (other than line breaks and tabs) or lone surrogates. Blank counts the invisible
    format characters (Cf: zero-width space, BOM, bidi marks) and the fillers in template_text.INVISIBLE (Hangul
    filler, Braille blank) as space: "\u200b" or "\u3164" alone shows nothing."""
    import unicodedata

    return unreadable_problem(text) is not None or any(unicodedata.category(c) == "Cs" for c in text)


def text_request(to: str, body: str, *, callback_data: str | None = None) -> dict[str, Any]:
    """A free-form text message (only deliverable inside the 24 h customer-service window)."""
    problems = ProblemList()
    if not body.strip():
        problems.add("text", "cannot be empty")
    elif len(body) > TEXT_MESSAGE_MAX:
        problems.add("text", f"is {len(body)} characters; at most {TEXT_MESSAGE_MAX} allowed")
    problems.raise_if_any()
    request: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }
    if callback_data is not None:
        request["biz_opaque_callback_data"] = callback_data
    return request
