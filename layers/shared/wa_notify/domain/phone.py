"""Phone numbers: parse any format phonenumbers understands, store E.164."""

from __future__ import annotations

import hashlib
import re

# One leading "+", then ASCII digits and the separators people write. phonenumbers itself is
# lenient on purpose: it reads "++886...", "tel:+886...", "call +886... now", "+886... ext. 5" and
# "+1 800 FLOWERS" as a number, dropping what it does not use; a message must go to exactly
# the number the client wrote, so anything beyond a plain number is refused first. Separators
# sit between digit groups (at most three together, as in "+1 (415) 555"): a path such as
# "+886912345678/../.." (a traversal in /v1/contacts/{phone}) is not a number written out.
_PLAIN = re.compile(r"\+?\(?[0-9]+(?:[ ().\-/]{1,3}[0-9]+)*\)?", re.ASCII)


def to_e164(raw: str, default_region: str | None = None) -> str:
    """E.164 form of `raw`; ValueError with a reason if it is not a valid number.

    Without a leading `+` a region is needed; we never guess one, because Meta would
    prepend the business's country code and could deliver to a stranger.
    """
    import phonenumbers

    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("is required")
    if not _PLAIN.fullmatch(raw.strip()):
        raise ValueError("is not a phone number: use international format such as +886912345678 (one +, digits, spaces or -()./ between them)")
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("is not a phone number: use international format such as +886912345678") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """For logs: country code and last two digits only."""
    if not e164:
        return e164
    digits = e164.lstrip("+")
    return "+" + digits[:2] + "*" * max(0, len(digits) - 4) + digits[-2:]


def fingerprint(e164: str, salt: str = "") -> str:
    """A stable, non-reversible token for correlating one recipient across log lines."""
    return hashlib.sha256((salt + e164).encode()).hexdigest()[:12]
