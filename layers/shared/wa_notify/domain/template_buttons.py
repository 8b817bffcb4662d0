"""Template button rules, as Meta applies them (reference: whatsapp-cloud-api.md §5). Pure:
the typed buttons in, normalized `Button`s, their URL variables and every problem out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wa_notify.domain.problems import ProblemList
from wa_notify.domain.template_text import NAMED_VAR_RE, PLACEHOLDER_RE, POSITIONAL_VAR_RE, placeholders, unreadable_problem

if TYPE_CHECKING:
    from wa_notify.models_templates import TemplateButton

BUTTON_LABEL_MAX = 25
BUTTON_PHONE_MAX = 20
BUTTON_URL_MAX = 2000
COPY_CODE_EXAMPLE_MAX = 15
MAX_BUTTONS = 10
BUTTON_TYPE_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1, "VOICE_CALL": 1}
KNOWN_BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "VOICE_CALL", "OTP", "FLOW", "CATALOG", "MPM", "SPM")
UNLABELLED = ("OTP", "CATALOG", "MPM", "SPM", "COPY_CODE")  # Meta labels these itself ("Copy offer code"): a label is optional


@dataclass(frozen=True)
class Variable:
    """One placeholder: its name (`"1"` or `"first_name"`), where it sits, and its example."""

    name: str
    component: str  # header | body | button
    example: str | None = None
    button_index: int | None = None
    # The `params` key a send fills it by, when not its name: a POSITIONAL header's {{1}} beside
    # a body's {{1}} (Meta numbers each component on its own) is "header.1".
    key: str | None = None

    @property
    def param(self) -> str:
        return self.key or self.name

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.param, "component": self.component, "example": self.example}
        if self.button_index is not None:
            out["button_index"] = self.button_index
        return out


@dataclass(frozen=True)
class Button:
    index: int
    type: str
    text: str
    url: str | None = None
    url_variable: str | None = None
    phone_number: str | None = None


def _first(example: str | list[str] | None) -> str | None:
    """A button's example: Meta takes a string or a list of them; the first one counts."""
    if isinstance(example, list):
        return example[0] if example else None
    return example


URL_VARIABLE = "1"  # Meta's only form for a URL button's variable, in both parameter formats
URL_FORM = "a URL button holds one variable, written {{1}} (in both parameter formats), at the end of its URL: https://example.com/track/{{1}}"


def _check_url_variable(url: str, found: list[str], path: str, fmt: str, problems: ProblemList, *, stored: bool) -> None:
    """Meta takes exactly one variable in a URL, `{{1}}`, as its suffix. A template stored
    before this rule (`stored`) keeps the variable it was registered with, so it still sends."""
    if len(found) > 1:
        problems.add(path, f"has {len(found)} variables; {URL_FORM}")
    if not re.search(r"\{\{[^{}]*\}\}$", url):
        problems.add(path, f"the variable must be at the end of the URL; {URL_FORM}")
    raw = found[0]
    if stored:
        ok = POSITIONAL_VAR_RE.match(raw) if fmt == "POSITIONAL" else NAMED_VAR_RE.match(raw) or raw == URL_VARIABLE
        if not ok:
            problems.add(path, f"variable {{{{{raw}}}}} is not Meta's form; {URL_FORM}")
    elif raw != URL_VARIABLE:
        problems.add(path, f"variable {{{{{raw}}}}} is not Meta's form; {URL_FORM}")


def check_buttons(
    raw: list[TemplateButton], path: str, fmt: str, category: str | None, problems: ProblemList, *, stored: bool = False
) -> tuple[list[Button], list[Variable]]:
    out: list[Button] = []
    variables: list[Variable] = []
    if len(raw) > MAX_BUTTONS:
        problems.add(f"{path}.buttons", f"has {len(raw)} buttons; at most {MAX_BUTTONS} allowed")
    counts: dict[str, int] = {}
    kinds: list[str] = []
    for j, btn in enumerate(raw):
        bpath = f"{path}.buttons[{j}]"
        btype = btn.type
        kinds.append(btype)
        counts[btype] = counts.get(btype, 0) + 1
        label = btn.text
        if btype not in UNLABELLED or label is not None:
            if label is None or not label.strip():
                problems.add(f"{bpath}.text", "a button label is required")
                label = ""
            elif len(label) > BUTTON_LABEL_MAX:
                problems.add(f"{bpath}.text", f"is {len(label)} characters; at most {BUTTON_LABEL_MAX} allowed")
            elif PLACEHOLDER_RE.search(label):
                problems.add(f"{bpath}.text", "a button label cannot contain variables")
            elif not stored and (why := unreadable_problem(label)):
                problems.add(f"{bpath}.text", why)
        url = url_var = phone = None
        if btype == "URL":
            url = btn.url
            if not url:
                problems.add(f"{bpath}.url", "is required")
            else:
                too_long = len(url) > BUTTON_URL_MAX
                if too_long:
                    problems.add(f"{bpath}.url", f"is {len(url)} characters; at most {BUTTON_URL_MAX} allowed")
                if not re.match(r"^https?://[^\s/{}]+", url, re.IGNORECASE):
                    problems.add(f"{bpath}.url", "must be an http(s) URL")
                found = [] if too_long else placeholders(url)  # not read further when too long (domain/templates._text_field)
                if found:
                    raw_var = found[0]
                    _check_url_variable(url, found, f"{bpath}.url", fmt, problems, stored=stored)
                    url_var = raw_var
                    ex_value = _first(btn.example)
                    if not (ex_value and ex_value.strip()):
                        problems.add(f"{bpath}.example", "an example is required for the URL variable")
                        ex_value = None
                    variables.append(Variable(raw_var, "button", ex_value, button_index=j))
        elif btype == "PHONE_NUMBER":
            phone = btn.phone_number
            if not phone:
                problems.add(f"{bpath}.phone_number", "is required")
            elif len(phone) > BUTTON_PHONE_MAX:
                problems.add(f"{bpath}.phone_number", f"is {len(phone)} characters; at most {BUTTON_PHONE_MAX} allowed")
            elif not re.match(r"^\+?[0-9][0-9 ()-]{4,}$", phone):
                problems.add(f"{bpath}.phone_number", "is not a phone number")
        elif btype == "COPY_CODE":
            code = _first(btn.example)
            if not code:
                problems.add(f"{bpath}.example", "an example code is required")
            elif len(code) > COPY_CODE_EXAMPLE_MAX:
                problems.add(f"{bpath}.example", f"is {len(code)} characters; at most {COPY_CODE_EXAMPLE_MAX} allowed")
        elif btype == "OTP" and category != "AUTHENTICATION":
            problems.add(f"{bpath}.type", "OTP buttons are for AUTHENTICATION templates only")
        elif btype == "MPM":
            # Meta refuses a multi-product send without the product sections chosen for it, which no
            # send here can carry yet: such a template (registered or imported) is not sendable.
            problems.add(f"{bpath}.type", "MPM (multi-product) buttons need product sections at send time, which wa-notify cannot send yet")
        out.append(Button(index=j, type=btype, text=label or "", url=url, url_variable=url_var, phone_number=phone))
    for btype, limit in BUTTON_TYPE_LIMITS.items():
        if counts.get(btype, 0) > limit:
            problems.add(f"{path}.buttons", f"has {counts[btype]} {btype} buttons; at most {limit} allowed")
    # Quick replies must be grouped together, not interleaved with other kinds.
    qr_positions = [k for k, t in enumerate(kinds) if t == "QUICK_REPLY"]
    # A review rule: a template Meta approved in another order (imported) still sends.
    if not stored and qr_positions and qr_positions[-1] - qr_positions[0] + 1 != len(qr_positions):
        problems.add(f"{path}.buttons", "QUICK_REPLY buttons must be grouped together, not mixed between other button types")
    return out, variables
