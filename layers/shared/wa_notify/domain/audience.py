"""A campaign's audience, contact by contact: params that name the contact, and why a contact
is left out. Pure.

A campaign's `params` value may name the contact instead of a fixed value:
`{"contact": "name"}` or `{"contact": "attributes.<field>"}`, with `"default"` for contacts that
lack it. A contact lacking it with no default is excluded and counted (`missing:<path>`).
"""

from __future__ import annotations

import re
from typing import Any

from wa_notify.domain.problems import ProblemList
from wa_notify.domain.records import ContactRow
from wa_notify.domain.template_text import shows_nothing

CONTACT_PATH_RE = re.compile(r"^(name|attributes\.[A-Za-z0-9_\-]{1,64})$")
SAMPLE = "Ana"  # what a contact param renders as when the campaign is checked at intake

# Why a contact got no message (the campaign's `excluded` counts these keys).
OPTED_OUT = "opted_out"


def is_contact_param(value: Any) -> bool:
    return isinstance(value, dict) and "contact" in value


def check(params: dict[str, Any], problems: ProblemList) -> None:
    """422 problems for contact params of the wrong shape."""
    for name, value in params.items():
        if not is_contact_param(value):
            continue
        if set(value) - {"contact", "default"}:
            problems.add(f"params.{name}", 'a contact param is {"contact": "name" | "attributes.<field>", "default"?}')
        path = value.get("contact")
        if not isinstance(path, str) or not CONTACT_PATH_RE.match(path):
            problems.add(f"params.{name}.contact", 'must be "name" or "attributes.<field>"')
        default = value.get("default")
        if default is not None and (not isinstance(default, (str, int, float)) or isinstance(default, bool)):
            problems.add(f"params.{name}.default", "must be a string or a number")
        elif isinstance(default, str) and shows_nothing(default):
            problems.add(f"params.{name}.default", "cannot be blank: it fills the parameter for contacts without the field "
                                                   "(WhatsApp refuses an empty one); leave it out to skip those contacts")


def sample(params: dict[str, Any]) -> dict[str, Any]:
    """The params with each contact param as a sample value (the intake's render check)."""
    # The default itself when given: a default WhatsApp would refuse fails the intake, not each contact.
    return {k: ((v["default"] if v.get("default") is not None else SAMPLE) if is_contact_param(v) else v) for k, v in params.items()}


def _lookup(contact: ContactRow, path: str) -> Any:
    if path == "name":
        return contact.get("name")
    attributes = contact.get("attributes")
    return attributes.get(path.split(".", 1)[1]) if isinstance(attributes, dict) else None


def for_contact(params: dict[str, Any], contact: ContactRow) -> tuple[dict[str, Any], str | None]:
    """(the params filled from this contact, None) or ({}, the exclusion reason `missing:<path>`)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if not is_contact_param(value):
            out[name] = value
            continue
        found = _lookup(contact, value["contact"])
        if isinstance(found, bool) or not isinstance(found, (str, int, float)) or (isinstance(found, str) and not found.strip()):
            found = value.get("default")
        if found is None:
            return {}, f"missing:{value['contact']}"
        out[name] = found
    return out, None
