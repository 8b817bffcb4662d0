"""Template registration rules, as Meta applies them (reference: whatsapp-cloud-api.md §5).

The shape of Meta's template-creation JSON is `wa_notify.models_templates.TemplateRequest`
(pydantic: types, enums, lengths, each with its own message); the rules that relate its parts
are here, pure: `check_components` reads the typed components and lists *every* problem, each
named by its JSON path, and `build_spec` turns a valid template into a normalized `TemplateSpec`.
Text and example rules: domain/template_text.py; button rules: domain/template_buttons.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wa_notify.domain.problems import ProblemList
from wa_notify.domain.template_buttons import Button, Variable, check_buttons
from wa_notify.domain.template_text import PLACEHOLDER_RE as PLACEHOLDER_RE  # rendering and the sandbox read it here
from wa_notify.domain.template_text import check_text_variables, examples, unreadable_problem

if TYPE_CHECKING:
    from wa_notify.models_templates import TemplateComponent

NAME_MAX = 512
NAME_RE = re.compile(r"^[a-z0-9_]+$")
# Meta's language codes: `en`, `en_US`, `pt_BR`, `es_419`, `fil`; case-sensitive, underscore.
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[0-9]{3}|_[A-Z][a-z]{3})?$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
HEADER_TEXT_MAX = 60
BODY_TEXT_MAX = 1024
FOOTER_TEXT_MAX = 60
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "GIF")
HEADER_FORMATS = ("TEXT", "LOCATION", *MEDIA_HEADER_FORMATS)
# Words that make a template promotional. Meta's classifier is a model; this list catches
# the wording its guidelines name, so a UTILITY template is not silently re-filed as MARKETING.
PROMOTIONAL_WORDS = (
    "sale", "discount", "% off", "percent off", "promo", "promotion", "coupon", "offer",
    "deal", "limited time", "buy now", "shop now", "free gift", "special price", "clearance",
    "cashback", "bonus points", "exclusive", "hurry",
)  # fmt: skip
PROMOTIONAL_RE = re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in PROMOTIONAL_WORDS))
URL_RE = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Components:
    """What the components say, once checked: the texts, the buttons and every variable."""

    header_format: str | None = None
    header_text: str | None = None
    body_text: str = ""
    footer_text: str | None = None
    buttons: list[Button] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)


@dataclass(frozen=True)
class TemplateSpec:
    """A validated template, normalized (upper-case types, explicit parameter format)."""

    name: str
    language: str
    category: str
    parameter_format: str
    components: list[dict[str, Any]]
    header_format: str | None = None
    header_text: str | None = None
    body_text: str = ""
    footer_text: str | None = None
    buttons: list[Button] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)

    @property
    def header_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.component == "header"]

    @property
    def body_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.component == "body"]

    @property
    def button_variables(self) -> list[Variable]:
        return [v for v in self.variables if v.component == "button"]


def _text_field(text: str | None, path: str, limit: int, problems: ProblemList) -> str | None:
    """The component's text, or None when it is missing, blank or over `limit` (each a problem).
    An over-long text is not read further: finding its variables costs time in the square of its
    length when it holds many "{{" and no "}}" (a 200 KB body held the API for minutes), and its
    length is a problem already."""
    if text is None or not text.strip():
        problems.add(f"{path}.text", "is required")
        return None
    if len(text) > limit:
        problems.add(f"{path}.text", f"is {len(text)} characters; at most {limit} allowed")
        return None
    return text


def check_components(
    components: list[TemplateComponent], fmt: str, category: str | None, *, stored: bool = False
) -> tuple[Components, ProblemList]:
    """Meta's rules over the typed components of one template, for its parameter format and
    category (None when the category itself is wrong: then no category rule applies). `stored`:
    a template read back from the store, judged by the rules it was registered under."""
    problems = ProblemList()
    # Rules of creation only (examples, media handles, wording Meta would recategorize): a stored
    # template (registered here, or imported as Meta approved it) is not judged by them again.
    creation = ProblemList() if stored else problems
    header_format = header_text = footer_text = None
    body_text = ""
    buttons: list[Button] = []
    variables: list[Variable] = []
    seen_types: set[str] = set()
    body_path = "components"
    for i, comp in enumerate(components):
        path = f"components[{i}]"
        ctype = comp.type
        if ctype in seen_types:
            problems.add(f"{path}.type", f"at most one {ctype} component is allowed")
            continue
        seen_types.add(ctype)

        if ctype == "HEADER":
            header_format = comp.format or "TEXT"
            if header_format == "TEXT":
                header_text = _text_field(comp.text, path, HEADER_TEXT_MAX, problems)
                if header_text is not None:
                    if why := unreadable_problem(header_text):
                        creation.add(f"{path}.text", why)
                    if "\n" in header_text:
                        problems.add(f"{path}.text", "cannot contain new lines")
                    if any(ch in header_text for ch in "*~`"):
                        problems.add(f"{path}.text", "cannot contain markdown characters (* ~ `)")
                    names = check_text_variables(header_text, f"{path}.text", fmt, problems, max_vars=1,
                                                 creation=creation if stored else None)
                    found = examples(comp.example, "header", names, fmt, path, creation)
                    variables += [Variable(n, "header", found.get(n)) for n in names]
            elif header_format == "LOCATION":
                if category == "AUTHENTICATION":
                    problems.add(f"{path}.format", "LOCATION headers are for UTILITY or MARKETING templates only")
            else:
                if not stored and not (comp.example and comp.example.header_handle):
                    problems.add(f"{path}.example.header_handle", f"a media handle is required for a {header_format} header")
                if category == "AUTHENTICATION":
                    problems.add(f"{path}.format", "AUTHENTICATION templates cannot have media headers")

        elif ctype == "BODY":
            if category == "AUTHENTICATION" and not stored:
                # Meta writes an authentication template's body itself ("<code> is your verification
                # code.", from add_security_recommendation and code_expiration_minutes) and refuses
                # one of the business's own words: it is created at Meta and imported, text and all.
                problems.add(f"{path}.text", "an authentication template's body is Meta's preset text: create it in WhatsApp "
                                             "Manager (or Meta's API), then import it with POST /v1/templates/sync")
                continue
            text = _text_field(comp.text, path, BODY_TEXT_MAX, problems)
            if text is not None:
                body_text, body_path = text, path
                if why := unreadable_problem(text):
                    creation.add(f"{path}.text", why)
                names = check_text_variables(text, f"{path}.text", fmt, problems, edges=True, creation=creation if stored else None)
                found = examples(comp.example, "body", names, fmt, path, creation)
                variables += [Variable(n, "body", found.get(n)) for n in names]
                if category == "AUTHENTICATION" and URL_RE.search(text):
                    problems.add(f"{path}.text", "AUTHENTICATION templates cannot contain URLs")
                if category == "UTILITY" and not stored:
                    lowered = text.lower()
                    # One scan for the common case (no such word); then name each word found, in list order.
                    hits = [w for w in PROMOTIONAL_WORDS if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", lowered)] if PROMOTIONAL_RE.search(lowered) else []
                    if hits:
                        problems.add(
                            f"{path}.text",
                            f"promotional wording in a UTILITY template ({', '.join(hits)}): Meta files it as MARKETING; use category MARKETING",
                        )

        elif ctype == "FOOTER":
            if category == "AUTHENTICATION" and comp.text is None and not stored:
                continue  # Meta's preset footer (code_expiration_minutes): the body's problem says where it is made
            text = _text_field(comp.text, path, FOOTER_TEXT_MAX, problems)
            if text is not None:
                footer_text = text
                if why := unreadable_problem(text):
                    creation.add(f"{path}.text", why)
                if PLACEHOLDER_RE.search(text) or "{{" in text:
                    problems.add(f"{path}.text", "a footer cannot contain variables")

        else:  # BUTTONS
            if not comp.buttons:
                problems.add(f"{path}.buttons", "is required: a list of 1 to 10 buttons")
            else:
                buttons, button_vars = check_buttons(comp.buttons, path, fmt, category, problems, stored=stored)
                variables += button_vars

    if components and "BODY" not in seen_types:
        problems.add("components", "a BODY component is required")
    if header_format in ("LOCATION", *MEDIA_HEADER_FORMATS) and not stored and any(v.name == "header" for v in variables):
        # params.header carries the header's media (domain/header_media.py): a variable of that name could never be filled
        problems.add(f"{body_path}.text", f"a variable named {{{{header}}}} cannot go with a {header_format} header, whose media "
                                          "is sent as params.header: rename the variable")
    if fmt == "POSITIONAL":
        # Meta numbers each component's variables from {{1}}: a header's {{1}} is not the body's
        # {{1}}, so beside one it is given as params["header.1"] (one key could only fill both).
        body_names = {v.name for v in variables if v.component == "body"}
        variables = [Variable(v.name, v.component, v.example, v.button_index, key=f"header.{v.name}")
                     if v.component == "header" and v.name in body_names else v for v in variables]
    found_parts = Components(header_format, header_text, body_text, footer_text, buttons, variables)
    return found_parts, problems


def build_spec(
    name: str, language: str, category: str, fmt: str, components: list[TemplateComponent], parts: Components | None = None
) -> TemplateSpec:
    """The normalized spec of a template whose components passed `check_components` (`parts`,
    its answer, when the caller has it)."""
    if parts is None:
        parts, _ = check_components(components, fmt, category)
    return TemplateSpec(
        name=name,
        language=language,
        category=category,
        parameter_format=fmt,
        # As Meta gets them: what the client sent (unknown keys included), type and format upper-case.
        components=[c.model_dump(exclude_unset=True) for c in components],
        header_format=parts.header_format,
        header_text=parts.header_text,
        body_text=parts.body_text,
        footer_text=parts.footer_text,
        buttons=parts.buttons,
        variables=parts.variables,
    )
