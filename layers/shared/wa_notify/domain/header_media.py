"""Media and location headers: `params.header` in, the Cloud API header parameter out
(reference: whatsapp-cloud-api.md §1.2). Pure.

A template whose HEADER format is IMAGE, VIDEO, DOCUMENT (or GIF) is sent with
`params.header` = `{"image": {"link": "https://..."}}` or `{"image": {"id": "<media id>"}}` (a
document may add `"filename"`); a LOCATION header with
`{"location": {"latitude", "longitude", "name"?, "address"?}}`. The parameter goes out exactly as
Meta documents it: `{"type": "image", "image": {"link": ...}}`, `{"type": "location", ...}`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from wa_notify.domain import callback_urls
from wa_notify.domain.problems import ProblemList

HEADER_PARAM = "header"  # the params key that carries a media or location header
MEDIA_KINDS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document", "GIF": "gif"}
KINDS = {**MEDIA_KINDS, "LOCATION": "location"}
LINK_MAX = 2000
FILENAME_MAX = 240
LOCATION_TEXT_MAX = 1000
MEDIA_ID_RE = re.compile(r"^[0-9]{1,32}$")  # Meta's media ids (POST /{phone-number-id}/media) are digits
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
BIDI_RE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HTTPS_RE = re.compile(r"^https://[^\s/?#@]+\.[^\s/?#@]+(?:[/?#]\S*)?$", re.IGNORECASE)
# Meta refuses a wrong header parameter with 132012; these are the parameter types it tells apart.
PARAMETER_TYPES = ("text", "image", "video", "document", "gif", "location")


def kind_of(header_format: str | None) -> str | None:
    """The parameter kind a header format needs (`image`, `location`...), None for a text header."""
    return KINDS.get(header_format or "")


def _shape(kind: str) -> str:
    if kind == "location":
        return '{"location": {"latitude": 25.03, "longitude": 121.56, "name"?, "address"?}}'
    extra = ', "filename"?' if kind == "document" else ""
    return f'{{"{kind}": {{"link": "https://..."{extra}}}}} or {{"{kind}": {{"id": "<media id>"{extra}}}}}'


def _coordinate(value: Any, limit: int, path: str, problems: ProblemList) -> str | None:
    """A latitude or longitude (a JSON number, or a number as text) as Meta's text, in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.add(path, f"is required: a number from -{limit} to {limit}")
        return None
    try:
        number = float(value)
    except ValueError:
        problems.add(path, f"must be a number from -{limit} to {limit}")
        return None
    if not math.isfinite(number) or abs(number) > limit:
        problems.add(path, f"is out of range: from -{limit} to {limit}")
        return None
    return value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def _text(value: Any, path: str, limit: int, problems: ProblemList) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be non-empty text")
        return None
    if len(value) > limit:
        problems.add(path, f"is {len(value)} characters; at most {limit} allowed")
        return None
    if re.search(r"[\x00-\x1f\x7f]", value):
        problems.add(path, "cannot contain new lines or control characters")
        return None
    return value


def _media(kind: str, given: dict[str, Any], path: str, problems: ProblemList) -> dict[str, Any] | None:
    allowed = {"link", "id", "filename"} if kind == "document" else {"link", "id"}
    for key in sorted(set(given) - allowed):
        problems.add(f"{path}.{key}", f"is not a field of a {kind} header: {_shape(kind)}")
    link, media_id = given.get("link"), given.get("id")
    out: dict[str, Any] = {}
    if (link is None) == (media_id is None):
        problems.add(path, f"give either link or id, not {'both' if link is not None else 'neither'}: {_shape(kind)}")
    elif link is not None:
        if (not isinstance(link, str) or len(link) > LINK_MAX or not HTTPS_RE.match(link) or CONTROL_RE.search(link)
                or callback_urls.url_problem(link)):
            # Meta downloads it: a loopback, private or metadata address is never one it can reach.
            problems.add(f"{path}.link", f"must be a public https URL of at most {LINK_MAX} characters (Meta downloads it)")
        else:
            out["link"] = link
    elif not isinstance(media_id, str) or not MEDIA_ID_RE.match(media_id):
        problems.add(f"{path}.id", "must be the id Meta gave the uploaded media (digits, as text)")
    else:
        out["id"] = media_id
    if "filename" in given and kind == "document":
        filename = _text(given["filename"], f"{path}.filename", FILENAME_MAX, problems)
        if filename is not None and re.search(r"[/\\]", filename):
            problems.add(f"{path}.filename", "is a file name, without / or \\")
        elif filename is not None and BIDI_RE.search(filename):
            # U+202E makes "\u202efdp.exe" read as "exe.pdf" on the customer's phone.
            problems.add(f"{path}.filename", "cannot contain direction controls (U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)")
        elif filename is not None:
            out["filename"] = filename
    return out


def _location(given: dict[str, Any], path: str, problems: ProblemList) -> dict[str, Any]:
    for key in sorted(set(given) - {"latitude", "longitude", "name", "address"}):
        problems.add(f"{path}.{key}", f"is not a field of a location header: {_shape('location')}")
    out: dict[str, Any] = {}
    for key, limit in (("latitude", 90), ("longitude", 180)):
        value = _coordinate(given.get(key), limit, f"{path}.{key}", problems)
        if value is not None:
            out[key] = value
    for key in ("name", "address"):
        if key in given:
            text = _text(given[key], f"{path}.{key}", LOCATION_TEXT_MAX, problems)
            if text is not None:
                out[key] = text
    return out


def header_parameter(header_format: str | None, params: dict[str, Any], problems: ProblemList) -> dict[str, Any] | None:
    """The Cloud API header parameter for a media or location header, from `params.header`;
    every problem is added, named `params.header...`. None for a text header (or a problem)."""
    kind = kind_of(header_format)
    if kind is None:
        return None
    path = f"params.{HEADER_PARAM}"
    value = params.get(HEADER_PARAM)
    if value is None:
        problems.add(path, f"is required: the template's header is {header_format}, sent as {_shape(kind)}")
        return None
    if not isinstance(value, dict) or len(value) != 1:
        problems.add(path, f"must be one object for the template's {header_format} header: {_shape(kind)}")
        return None
    (given_kind, given), = value.items()
    if given_kind != kind:
        problems.add(f"{path}.{given_kind}"[:120], f"the template's header is {header_format}, not {str(given_kind)[:16]}: {_shape(kind)}")
        return None
    if not isinstance(given, dict):
        problems.add(f"{path}.{kind}", f"must be an object: {_shape(kind)}")
        return None
    before = len(problems.items)
    out = _location(given, f"{path}.{kind}", problems) if kind == "location" else _media(kind, given, f"{path}.{kind}", problems)
    if out is None or len(problems.items) > before:
        return None
    return {"type": kind, kind: out}


def parameter_mismatch(header_format: str | None, parameters: list[Any]) -> str | None:
    """What Meta finds wrong (132012) in the header parameters sent for a template whose header is
    `header_format`: a media or location header needs exactly one parameter of its own type
    carrying its object; any other header takes only text. None when they match."""
    kind = kind_of(header_format)
    if kind is None:
        wrong = [p.get("type") for p in parameters if isinstance(p, dict) and p.get("type") != "text"]
        return f"header parameter of type {wrong[0]!r} sent for a {header_format or 'missing'} header" if wrong else None
    if len(parameters) != 1 or not isinstance(parameters[0], dict):
        return f"a {header_format} header needs one {kind} parameter, got {len(parameters)}"
    param = parameters[0]
    if param.get("type") != kind or not isinstance(param.get(kind), dict):
        return f"a {header_format} header needs a {kind} parameter, got {param.get('type')!r}"
    obj = param[kind]
    if kind == "location":
        ok = all(k in obj for k in ("latitude", "longitude"))
    else:
        ok = ("link" in obj) != ("id" in obj)
    return None if ok else f"the {kind} parameter lacks {'latitude and longitude' if kind == 'location' else 'a link or an id'}"
