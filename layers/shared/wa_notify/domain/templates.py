"""Template registration rules, as Meta applies them (reference: whatsapp-cloud-api.md §5).

`validate_template` takes Meta's own template-creation JSON and returns a normalized
`TemplateSpec` or raises `Invalid` listing *every* problem, each named by its JSON path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from wa_notify.domain.problems import Invalid, Problem, ProblemList

NAME_MAX = 512
NAME_RE = re.compile(r"^[a-z0-9_]+$")
# Meta's language codes: `en`, `en_US`, `pt_BR`, `es_419`, `fil`; case-sensitive, underscore.
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2}|_[0-9]{3}|_[A-Z][a-z]{3})?$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
PARAMETER_FORMATS = ("POSITIONAL", "NAMED")
HEADER_TEXT_MAX = 60
BODY_TEXT_MAX = 1024
FOOTER_TEXT_MAX = 60
BUTTON_LABEL_MAX = 25
BUTTON_PHONE_MAX = 20
BUTTON_URL_MAX = 2000
COPY_CODE_EXAMPLE_MAX = 15
MAX_BUTTONS = 10
BUTTON_TYPE_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1, "VOICE_CALL": 1}
KNOWN_BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "VOICE_CALL", "OTP", "FLOW", "CATALOG", "MPM", "SPM")
MEDIA_HEADER_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "GIF")
HEADER_FORMATS = ("TEXT", "LOCATION", *MEDIA_HEADER_FORMATS)

# Anything that looks like a placeholder: `{{`, optional content, `}}`.
PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}")
POSITIONAL_VAR_RE = re.compile(r"^[1-9][0-9]*$")
NAMED_VAR_RE = re.compile(r"^[a-z_]+$")
# Words that make a template promotional. Meta's classifier is a model; this list catches
# the wording its guidelines name, so a UTILITY template is not silently re-filed as MARKETING.
PROMOTIONAL_WORDS = (
    "sale", "discount", "% off", "percent off", "promo", "promotion", "coupon", "offer",
    "deal", "limited time", "buy now", "shop now", "free gift", "special price", "clearance",
    "cashback", "bonus points", "exclusive", "hurry",
)  # fmt: skip
URL_RE = re.compile(r"https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Variable:
    """One placeholder: its name (`"1"` or `"first_name"`), where it sits, and its example."""

    name: str
    component: str  # header | body | button
    example: str | None = None
    button_index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "component": self.component, "example": self.example}
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


def placeholders(text: str) -> list[str]:
    """The raw contents of every `{{...}}` in text, in order."""
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(text)]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _check_text_variables(
    text: str, path: str, fmt: str, problems: ProblemList, *, max_vars: int | None = None, edges: bool = False
) -> list[str]:
    """Check placement and syntax of the placeholders in one text; return their names."""
    names: list[str] = []
    # Stray braces: `{{1}`, `{1}}`, `{{{1}}}` and friends.
    stripped = PLACEHOLDER_RE.sub("", text)
    if "{{" in stripped or "}}" in stripped or "{" in "".join(placeholders(text)):
        problems.add(path, "has mismatched braces: variables are written {{1}} or {{name}}")
    for raw in placeholders(text):
        if fmt == "POSITIONAL":
            if not POSITIONAL_VAR_RE.match(raw):
                problems.add(
                    path,
                    f"variable {{{{{raw}}}}} is not positional: with parameter_format POSITIONAL use {{{{1}}}}, {{{{2}}}}, ...",
                )
                continue
        elif not NAMED_VAR_RE.match(raw):
            problems.add(
                path,
                f"variable {{{{{raw}}}}} is not a valid named variable: lowercase letters and underscores only",
            )
            continue
        names.append(raw)
    if not names:
        return names
    if fmt == "POSITIONAL":
        numbers = [int(n) for n in names]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.add(path, "positional variables must be sequential and start at {{1}}: " + ", ".join(names))
    else:
        seen: set[str] = set()
        for n in names:
            if n in seen:
                problems.add(path, f"named variable {{{{{n}}}}} appears more than once")
            seen.add(n)
    if max_vars is not None and len(names) > max_vars:
        problems.add(path, f"has {len(names)} variables; at most {max_vars} allowed")
    body = text.strip()
    # Meta's 2388299 ("variables can't be at the start or end") is a body rule.
    if edges and PLACEHOLDER_RE.match(body):
        problems.add(path, "cannot start with a variable")
    if edges and re.search(r"\{\{[^{}]*\}\}$", body):
        problems.add(path, "cannot end with a variable")
    if re.search(r"\}\}\s*\{\{", text):
        problems.add(path, "has variables next to each other: put text or punctuation between them")
    fixed_words = re.findall(r"[^\W_]+", PLACEHOLDER_RE.sub(" ", text))
    if len(fixed_words) < len(names):
        problems.add(path, f"has too many variables for its length: {len(names)} variables, {len(fixed_words)} words")
    return names


def _examples(
    component: dict[str, Any], kind: str, names: list[str], fmt: str, path: str, problems: ProblemList
) -> dict[str, str]:
    """Find the example for each variable of a header or body; report missing or extra ones."""
    if not names:
        return {}
    example = component.get("example")
    ex_path = f"{path}.example"
    found: dict[str, str] = {}
    if not isinstance(example, dict):
        problems.add(ex_path, f"an example is required for every variable ({', '.join(names)})")
        return found
    if fmt == "POSITIONAL":
        key = f"{kind}_text"
        values = example.get(key)
        if kind == "body":
            # Meta nests body examples: [["v1", "v2"]].
            if isinstance(values, list) and values and isinstance(values[0], list):
                values = values[0]
            elif values is not None:
                problems.add(f"{ex_path}.{key}", 'must be a nested array: [["value1", "value2"]]')
                return found
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems.add(f"{ex_path}.{key}", f"an example string is required for each of {', '.join(names)}")
            return found
        if len(values) != len(names):
            problems.add(f"{ex_path}.{key}", f"has {len(values)} example(s) for {len(names)} variable(s)")
        found = {name: value for name, value in zip(names, values, strict=False)}
    else:
        key = f"{kind}_text_named_params"
        values = example.get(key)
        if not isinstance(values, list):
            problems.add(f"{ex_path}.{key}", f"a {{param_name, example}} entry is required for each of {', '.join(names)}")
            return found
        for i, item in enumerate(values):
            if not isinstance(item, dict) or not isinstance(item.get("param_name"), str) or not isinstance(item.get("example"), str):
                problems.add(f"{ex_path}.{key}[{i}]", "must be {param_name, example} with string values")
                continue
            found[item["param_name"]] = item["example"]
        for extra in sorted(set(found) - set(names)):
            problems.add(f"{ex_path}.{key}", f"example given for {extra!r}, which the text does not use")
    for name in names:
        if name not in found:
            problems.add(ex_path, f"missing example for variable {{{{{name}}}}}")
        elif not found[name].strip():
            problems.add(ex_path, f"example for variable {{{{{name}}}}} is empty")
    return found


def _text_field(component: dict[str, Any], path: str, limit: int, problems: ProblemList) -> str | None:
    text = component.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.add(f"{path}.text", "is required")
        return None
    if len(text) > limit:
        problems.add(f"{path}.text", f"is {len(text)} characters; at most {limit} allowed")
    return text


def validate_template(payload: Any) -> TemplateSpec:
    """Validate Meta's template-creation JSON the way Meta would; raise `Invalid` with every problem."""
    problems = ProblemList()
    if not isinstance(payload, dict):
        raise Invalid([Problem("", "the body must be a JSON object (Meta's template-creation JSON)")])

    name = payload.get("name")
    if not isinstance(name, str) or not name:
        problems.add("name", "is required")
    elif len(name) > NAME_MAX:
        problems.add("name", f"is {len(name)} characters; at most {NAME_MAX} allowed")
    elif not NAME_RE.match(name):
        problems.add("name", "may contain only lowercase letters, digits and underscores")

    language = payload.get("language")
    if not isinstance(language, str) or not language:
        problems.add("language", "is required")
    elif not LANGUAGE_RE.match(language):
        problems.add("language", f"{language!r} is not a WhatsApp language code such as en, en_US or pt_BR")

    category = _upper(payload.get("category"))
    if category not in CATEGORIES:
        problems.add("category", f"must be one of {', '.join(CATEGORIES)}")

    fmt = _upper(payload.get("parameter_format") or "POSITIONAL")
    if fmt not in PARAMETER_FORMATS:
        problems.add("parameter_format", "must be NAMED or POSITIONAL")
        fmt = "POSITIONAL"

    components = payload.get("components")
    header_format = header_text = footer_text = None
    body_text = ""
    buttons: list[Button] = []
    variables: list[Variable] = []
    normalized: list[dict[str, Any]] = []
    if not isinstance(components, list) or not components:
        problems.add("components", "is required: a list with at least a BODY component")
        components = []

    seen_types: dict[str, int] = {}
    for i, comp in enumerate(components):
        path = f"components[{i}]"
        if not isinstance(comp, dict):
            problems.add(path, "must be an object")
            continue
        ctype = _upper(comp.get("type"))
        comp = {**comp, "type": ctype}
        if "format" in comp:
            comp["format"] = _upper(comp["format"])
        normalized.append(comp)
        if ctype not in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
            problems.add(f"{path}.type", "must be HEADER, BODY, FOOTER or BUTTONS")
            continue
        if ctype in seen_types:
            problems.add(f"{path}.type", f"at most one {ctype} component is allowed")
            continue
        seen_types[ctype] = i

        if ctype == "HEADER":
            header_format = comp.get("format") or "TEXT"
            if header_format not in HEADER_FORMATS:
                problems.add(f"{path}.format", f"must be one of {', '.join(HEADER_FORMATS)}")
            elif header_format == "TEXT":
                header_text = _text_field(comp, path, HEADER_TEXT_MAX, problems)
                if header_text is not None:
                    if "\n" in header_text:
                        problems.add(f"{path}.text", "cannot contain new lines")
                    if any(ch in header_text for ch in "*~`"):
                        problems.add(f"{path}.text", "cannot contain markdown characters (* ~ `)")
                    names = _check_text_variables(header_text, f"{path}.text", fmt, problems, max_vars=1)
                    examples = _examples(comp, "header", names, fmt, path, problems)
                    variables += [Variable(n, "header", examples.get(n)) for n in names]
            elif header_format == "LOCATION":
                if category == "AUTHENTICATION":
                    problems.add(f"{path}.format", "LOCATION headers are for UTILITY or MARKETING templates only")
            else:
                handle = (comp.get("example") or {}).get("header_handle") if isinstance(comp.get("example"), dict) else None
                if not (isinstance(handle, list) and handle and all(isinstance(h, str) for h in handle)):
                    problems.add(f"{path}.example.header_handle", f"a media handle is required for a {header_format} header")
                if category == "AUTHENTICATION":
                    problems.add(f"{path}.format", "AUTHENTICATION templates cannot have media headers")

        elif ctype == "BODY":
            text = _text_field(comp, path, BODY_TEXT_MAX, problems)
            if text is not None:
                body_text = text
                names = _check_text_variables(text, f"{path}.text", fmt, problems, edges=True)
                examples = _examples(comp, "body", names, fmt, path, problems)
                variables += [Variable(n, "body", examples.get(n)) for n in names]
                if category == "AUTHENTICATION" and URL_RE.search(text):
                    problems.add(f"{path}.text", "AUTHENTICATION templates cannot contain URLs")
                if category == "UTILITY":
                    lowered = text.lower()
                    hits = [w for w in PROMOTIONAL_WORDS if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", lowered)]
                    if hits:
                        problems.add(
                            f"{path}.text",
                            f"promotional wording in a UTILITY template ({', '.join(hits)}): Meta files it as MARKETING; use category MARKETING",
                        )

        elif ctype == "FOOTER":
            text = _text_field(comp, path, FOOTER_TEXT_MAX, problems)
            if text is not None:
                footer_text = text
                if PLACEHOLDER_RE.search(text) or "{{" in text:
                    problems.add(f"{path}.text", "a footer cannot contain variables")

        else:  # BUTTONS
            buttons, button_vars = _check_buttons(comp, path, fmt, category, problems)
            variables += button_vars

    if "BODY" not in seen_types and isinstance(components, list) and components:
        problems.add("components", "a BODY component is required")

    problems.raise_if_any()
    return TemplateSpec(
        name=name,
        language=language,
        category=category,
        parameter_format=fmt,
        components=normalized,
        header_format=header_format,
        header_text=header_text,
        body_text=body_text,
        footer_text=footer_text,
        buttons=buttons,
        variables=variables,
    )


def _check_buttons(
    comp: dict[str, Any], path: str, fmt: str, category: Any, problems: ProblemList
) -> tuple[list[Button], list[Variable]]:
    raw = comp.get("buttons")
    out: list[Button] = []
    variables: list[Variable] = []
    if not isinstance(raw, list) or not raw:
        problems.add(f"{path}.buttons", "is required: a list of 1 to 10 buttons")
        return out, variables
    if len(raw) > MAX_BUTTONS:
        problems.add(f"{path}.buttons", f"has {len(raw)} buttons; at most {MAX_BUTTONS} allowed")
    counts: dict[str, int] = {}
    kinds: list[str] = []
    for j, btn in enumerate(raw):
        bpath = f"{path}.buttons[{j}]"
        if not isinstance(btn, dict):
            problems.add(bpath, "must be an object")
            continue
        btype = _upper(btn.get("type"))
        if btype not in KNOWN_BUTTON_TYPES:
            problems.add(f"{bpath}.type", f"must be one of {', '.join(KNOWN_BUTTON_TYPES)}")
            continue
        kinds.append(btype)
        counts[btype] = counts.get(btype, 0) + 1
        label = btn.get("text")
        if btype not in ("OTP", "CATALOG", "MPM", "SPM") or label is not None:
            if not isinstance(label, str) or not label.strip():
                problems.add(f"{bpath}.text", "a button label is required")
                label = ""
            elif len(label) > BUTTON_LABEL_MAX:
                problems.add(f"{bpath}.text", f"is {len(label)} characters; at most {BUTTON_LABEL_MAX} allowed")
            elif PLACEHOLDER_RE.search(label):
                problems.add(f"{bpath}.text", "a button label cannot contain variables")
        url = url_var = phone = None
        if btype == "URL":
            url = btn.get("url")
            if not isinstance(url, str) or not url:
                problems.add(f"{bpath}.url", "is required")
            else:
                if len(url) > BUTTON_URL_MAX:
                    problems.add(f"{bpath}.url", f"is {len(url)} characters; at most {BUTTON_URL_MAX} allowed")
                if not re.match(r"^https?://[^\s/{}]+", url, re.IGNORECASE):
                    problems.add(f"{bpath}.url", "must be an http(s) URL")
                found = placeholders(url)
                if len(found) > 1:
                    problems.add(f"{bpath}.url", "may hold at most one variable")
                if found:
                    raw_var = found[0]
                    ok = POSITIONAL_VAR_RE.match(raw_var) if fmt == "POSITIONAL" else NAMED_VAR_RE.match(raw_var)
                    if not ok:
                        problems.add(f"{bpath}.url", f"variable {{{{{raw_var}}}}} does not match parameter_format {fmt}")
                    if not re.search(r"\{\{[^{}]*\}\}$", url):
                        problems.add(f"{bpath}.url", "the variable must be at the end of the URL")
                    url_var = raw_var
                    example = btn.get("example")
                    if isinstance(example, str):
                        example = [example]
                    if not (isinstance(example, list) and example and isinstance(example[0], str) and example[0].strip()):
                        problems.add(f"{bpath}.example", "an example is required for the URL variable")
                        ex_value = None
                    else:
                        ex_value = example[0]
                    variables.append(Variable(raw_var, "button", ex_value, button_index=j))
        elif btype == "PHONE_NUMBER":
            phone = btn.get("phone_number")
            if not isinstance(phone, str) or not phone:
                problems.add(f"{bpath}.phone_number", "is required")
            elif len(phone) > BUTTON_PHONE_MAX:
                problems.add(f"{bpath}.phone_number", f"is {len(phone)} characters; at most {BUTTON_PHONE_MAX} allowed")
            elif not re.match(r"^\+?[0-9][0-9 ()-]{4,}$", phone):
                problems.add(f"{bpath}.phone_number", "is not a phone number")
        elif btype == "COPY_CODE":
            example = btn.get("example")
            if isinstance(example, list):
                example = example[0] if example else None
            if not isinstance(example, str) or not example:
                problems.add(f"{bpath}.example", "an example code is required")
            elif len(example) > COPY_CODE_EXAMPLE_MAX:
                problems.add(f"{bpath}.example", f"is {len(example)} characters; at most {COPY_CODE_EXAMPLE_MAX} allowed")
        elif btype == "OTP" and category != "AUTHENTICATION":
            problems.add(f"{bpath}.type", "OTP buttons are for AUTHENTICATION templates only")
        out.append(Button(index=j, type=btype, text=label or "", url=url, url_variable=url_var, phone_number=phone))
    for btype, limit in BUTTON_TYPE_LIMITS.items():
        if counts.get(btype, 0) > limit:
            problems.add(f"{path}.buttons", f"has {counts[btype]} {btype} buttons; at most {limit} allowed")
    # Quick replies must be grouped together, not interleaved with other kinds.
    qr_positions = [k for k, t in enumerate(kinds) if t == "QUICK_REPLY"]
    if qr_positions and qr_positions[-1] - qr_positions[0] + 1 != len(qr_positions):
        problems.add(f"{path}.buttons", "QUICK_REPLY buttons must be grouped together, not mixed between other button types")
    return out, variables


def spec_from_stored(item: dict[str, Any]) -> TemplateSpec:
    """Rebuild a spec from the stored registration JSON (it was valid when stored)."""
    return validate_template(
        {
            "name": item["name"],
            "language": item["language"],
            "category": item["category"],
            "parameter_format": item["parameter_format"],
            "components": item["components"],
        }
    )
