"""What render() (domain/rendering.py) reads from a template on every send, worked out once per
template spec: its texts pre-split into literals and placeholder names, its header and body
variables in order with their limits, the parameter names it takes and its buttons' keys. Pure;
derived from the spec alone, never from a send's values."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wa_notify.domain.header_media import HEADER_PARAM, kind_of
from wa_notify.domain.template_text import PLACEHOLDER_RE

if TYPE_CHECKING:
    from wa_notify.domain.template_buttons import Button
    from wa_notify.domain.templates import TemplateSpec

HEADER_PARAM_MAX = 60
BODY_PARAM_MAX = 1024


@functools.lru_cache(maxsize=1024)
def split_text(text: str) -> tuple[str, ...]:
    """A template text pre-split once into literal, name, literal, name, ..., literal: filling it
    is then a join, with no regular expression per send (a campaign renders the same text
    100,000 times)."""
    parts: list[str] = []
    last = 0
    for match in PLACEHOLDER_RE.finditer(text):
        parts += [text[last : match.start()], match.group(1)]
        last = match.end()
    parts.append(text[last:])
    return tuple(parts)


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each placeholder replaced by its value; one without a value stays as written."""
    return fill_parts(split_text(text), values)


def fill_parts(parts: tuple[str, ...], values: dict[str, str]) -> str:
    """A text pre-split by split_text, filled: the names (odd places) replaced by their values."""
    if len(parts) == 1:
        return parts[0]
    out = list(parts)
    for i in range(1, len(parts), 2):
        name = parts[i]
        out[i] = values[name] if name in values else "{{" + name + "}}"
    return "".join(out)


@dataclass(frozen=True)
class RenderPlan:
    """One spec's plan (see the module's docstring)."""

    # header then body: (params key, placeholder name, component, length limit); the key is the
    # name except for a POSITIONAL header's variable beside a body one of its number ("header.1")
    text_variables: tuple[tuple[str, str, str, int], ...]
    header_variables: tuple[str, ...]  # placeholder names, in order
    body_variables: tuple[str, ...]
    expected: frozenset[str]  # every params key the template takes
    button_keys: frozenset[str]  # its buttons' indexes, as button_params keys
    buttons: tuple[tuple[Button, str, tuple[str, ...] | None], ...]  # each with its key and its URL's split_text
    media_header: bool  # an IMAGE, VIDEO, DOCUMENT, GIF or LOCATION header (domain/header_media.py)
    named: bool  # parameter_format NAMED: each parameter goes with its name
    header_parts: tuple[str, ...] | None  # split_text of the header text, None without one
    body_parts: tuple[str, ...]


_PLAN_ATTR = "_render_plan"


def plan_of(spec: TemplateSpec) -> RenderPlan:
    """The spec's plan, kept on the spec itself: a TemplateSpec is frozen, and services keep one per
    stored template row (services/templates.load_spec, a campaign's page), so a plan is made once
    per row read and is dropped with its spec: no cache to bound or to go stale."""
    plan: RenderPlan | None = spec.__dict__.get(_PLAN_ATTR)
    if plan is None:
        header = [v for v in spec.variables if v.component == "header"]
        body = [v for v in spec.variables if v.component == "body"]
        media = kind_of(spec.header_format) is not None
        plan = RenderPlan(
            text_variables=tuple((v.param, v.name, "header", HEADER_PARAM_MAX) for v in header)
            + tuple((v.param, v.name, "body", BODY_PARAM_MAX) for v in body),
            header_variables=tuple(v.name for v in header),
            body_variables=tuple(v.name for v in body),
            expected=frozenset(v.param for v in (*header, *body)) | ({HEADER_PARAM} if media else set()),
            button_keys=frozenset(str(b.index) for b in spec.buttons),
            buttons=tuple((b, str(b.index), split_text(b.url) if b.url else None) for b in spec.buttons),
            media_header=media,
            named=spec.parameter_format == "NAMED",
            header_parts=split_text(spec.header_text) if spec.header_text is not None else None,
            body_parts=split_text(spec.body_text),
        )
        spec.__dict__[_PLAN_ATTR] = plan  # not a field: equality, repr and asdict() ignore it
    return plan
