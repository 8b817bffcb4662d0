"""Template text rules: placeholders (`{{1}}`, `{{first_name}}`) and their examples, as Meta
checks them (reference: whatsapp-cloud-api.md §5). Pure: typed values in, problems out."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from wa_notify.domain.problems import ProblemList

if TYPE_CHECKING:
    from wa_notify.models_templates import ComponentExample

# Anything that looks like a placeholder: `{{`, optional content, `}}`.
PLACEHOLDER_RE = re.compile(r"\{\{(.*?)\}\}")
POSITIONAL_VAR_RE = re.compile(r"^[1-9][0-9]*$")
NAMED_VAR_RE = re.compile(r"^[a-z_]+$")
# A named variable Meta approved may hold digits (`{{address_line1}}`): imported ones are kept.
STORED_NAMED_VAR_RE = re.compile(r"^[a-z0-9_]+$")
NESTED_ARRAY = 'must be a nested array: [["value1", "value2"]]'


# Characters that render as nothing but are not Cf, so a text of them alone is blank too: the
# Hangul fillers (Lo), the Braille blank (So) and the default-ignorable combining marks (Mn:
# grapheme joiner, Mongolian and other variation selectors, Khmer inherent vowels), the usual
# ways to send a message that shows nothing.
INVISIBLE = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def shows_nothing(text: str) -> bool:
    """True for a text a phone shows as blank: spaces, invisible format characters (Cf: zero-width
    space, BOM, bidi marks) and the fillers in INVISIBLE (Hangul filler, Braille blank) only."""
    return all(c.isspace() or c in INVISIBLE or unicodedata.category(c) == "Cf" for c in text)


def reads_backwards(text: str) -> bool:
    """A direction override (U+202D, U+202E) in `text`: "\u202eanA" shows as "Ana". Right-to-left
    text needs marks and isolates, never an override (parameters, contact and profile names)."""
    return "\u202d" in text or "\u202e" in text


def unreadable_problem(text: str) -> str | None:
    """Why a template's text as written (header, body, footer, a button label) is not text a
    customer can read, or None: control characters other than line breaks and tabs (NUL, BEL...),
    or nothing but invisible format characters (zero-width space, bidi marks). The rule
    rendering.unreadable_text applies to the free-form texts we send."""
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        return "cannot contain control characters (only line breaks and tabs)"
    if shows_nothing(text):
        return "is required: invisible characters alone (zero-width, bidi marks, fillers) show nothing"
    return None


def placeholders(text: str) -> list[str]:
    """The raw contents of every `{{...}}` in text, in order."""
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(text)]


def check_text_variables(
    text: str, path: str, fmt: str, problems: ProblemList, *, max_vars: int | None = None, edges: bool = False,
    creation: ProblemList | None = None,
) -> list[str]:
    """Check placement and syntax of the placeholders in one text; return their names. Meta's
    review rules of placement (start, end, adjacent variables, too many for the words) go to
    `creation` when given: a template Meta approved (imported, or approved before a rule) is
    not refused by them again, and sends as Meta holds it."""
    placement = problems if creation is None else creation
    named_re = NAMED_VAR_RE if creation is None else STORED_NAMED_VAR_RE
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
        elif not named_re.match(raw):
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
        placement.add(path, "cannot start with a variable")
    if edges and re.search(r"\{\{[^{}]*\}\}$", body):
        placement.add(path, "cannot end with a variable")
    if re.search(r"\}\}\s*\{\{", text):
        placement.add(path, "has variables next to each other: put text or punctuation between them")
    fixed_words = re.findall(r"[^\W_]+", PLACEHOLDER_RE.sub(" ", text))
    if len(fixed_words) < len(names):
        placement.add(path, f"has too many variables for its length: {len(names)} variables, {len(fixed_words)} words")
    return names


def examples(
    example: ComponentExample | None, kind: str, names: list[str], fmt: str, path: str, problems: ProblemList
) -> dict[str, str]:
    """Find the example for each variable of a header or body; report missing or extra ones."""
    if not names:
        return {}
    ex_path = f"{path}.example"
    found: dict[str, str] = {}
    if example is None:
        problems.add(ex_path, f"an example is required for every variable ({', '.join(names)})")
        return found
    if fmt == "POSITIONAL":
        key = f"{kind}_text"
        if kind == "body":
            # Meta nests body examples: [["v1", "v2"]] (the model refuses any other shape).
            nested = example.body_text
            if nested is not None and not nested:
                problems.add(f"{ex_path}.{key}", NESTED_ARRAY)
                return found
            values = nested[0] if nested else None
        else:
            values = example.header_text
        if values is None:
            problems.add(f"{ex_path}.{key}", f"an example string is required for each of {', '.join(names)}")
            return found
        if len(values) != len(names):
            problems.add(f"{ex_path}.{key}", f"has {len(values)} example(s) for {len(names)} variable(s)")
        found = {name: value for name, value in zip(names, values, strict=False)}
    else:
        key = f"{kind}_text_named_params"
        named = example.header_text_named_params if kind == "header" else example.body_text_named_params
        if named is None:
            problems.add(f"{ex_path}.{key}", f"a {{param_name, example}} entry is required for each of {', '.join(names)}")
            return found
        found = {item.param_name: item.example for item in named}
        for extra in sorted(set(found) - set(names)):
            problems.add(f"{ex_path}.{key}", f"example given for {extra!r}, which the text does not use")
    for name in names:
        if name not in found:
            problems.add(ex_path, f"missing example for variable {{{{{name}}}}}")
        elif not found[name].strip():
            problems.add(ex_path, f"example for variable {{{{{name}}}}} is empty")
    return found
