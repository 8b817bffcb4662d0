"""JSON from strangers: `json.loads` with the limits the rest of the code relies on.

Python's parser takes things that later fail far from the request, as a 500 or as a write that
DynamoDB refuses: nesting deep enough to raise RecursionError (here or in any recursive code
downstream), integer literals over 4,300 digits (ValueError from int()), NaN and Infinity (not
JSON at all, RFC 8259 §6), `\\ud800`-style escapes that decode to lone surrogates, which no
UTF-8 encoder (boto3, httpx, the logger) accepts, and a key given twice in one object (RFC 8259
§4 leaves it to each parser: Python keeps the last, others the first). Each is refused here,
naming the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from wa_notify.domain.problems import Invalid, Malformed, Problem

MAX_DEPTH = 32  # our deepest document (a template's example) is 5 levels; stored ones stop at 16 (jsonsafe)
MAX_INT_DIGITS = 38  # DynamoDB's precision: a longer integer could never be stored
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape that may decode to a surrogate: only then do strings need a look (pairs decode to one character).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused:
    """Stands in for a literal json.loads must not turn into a value; the walk reports where it was."""

    __slots__ = ("malformed", "message")

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        self.message = message
        self.malformed = malformed


def loads(text: str) -> Any:
    """Parse `text`; json.JSONDecodeError when it is not JSON, Malformed for NaN/Infinity, Invalid
    (422) for too deep, too long an integer, a lone surrogate or a key given twice in one object,
    each naming the first such field."""
    refused: list[_Refused] = []

    def parse_int(literal: str) -> int | _Refused:
        if len(literal.lstrip("-")) > MAX_INT_DIGITS:
            refused.append(_Refused(f"is an integer of {len(literal.lstrip('-'))} digits; at most {MAX_INT_DIGITS} are allowed"))
            return refused[-1]
        return int(literal)

    def parse_constant(literal: str) -> _Refused:
        refused.append(_Refused(f"{literal} is not a JSON number", malformed=True))
        return refused[-1]

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # A key given twice: json.loads keeps the last, another parser (a WAF, a proxy, the
        # platform's own logs) the first, so two readers would see two requests. Refused.
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    refused.append(_Refused("appears twice in its object: each key may be given once"))
                    obj[key] = refused[-1]
                seen.add(key)
        return obj

    # The int hook costs a Python call per integer: only when a run of digits is long enough to matter.
    data = text.encode("utf-8", "surrogatepass")
    hooks: dict[str, Any] = {"parse_int": parse_int} if _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO) else {}
    try:
        value = json.loads(text, parse_constant=parse_constant, object_pairs_hook=unique_keys, **hooks)
    except RecursionError:
        raise Invalid([Problem("", f"the body is nested deeper than {MAX_DEPTH} levels")]) from None
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if not refused and not surrogates and not _too_deep(data):
        return value  # the common case: the walk below only finds where the problem is
    problem = _first_problem(value, "", 0, surrogates)
    if problem is None:
        return value
    field, message, malformed = problem
    if malformed:
        raise Malformed(f"{field or 'the body'}: {message}", [Problem(field, message)])
    raise Invalid([Problem(field, message)])


# Byte tables: bytes.translate and `in` run at C speed where a regex over 256 KB costs ~10 ms.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * (MAX_INT_DIGITS + 1)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def _too_deep(data: bytes) -> bool:
    """Maybe nested over MAX_DEPTH: everything but brackets dropped, then innermost pairs peeled
    MAX_DEPTH times (walking a 256 KB document in Python would cost ~100 ms).
    Brackets inside strings can only make it say yes wrongly; the walk then finds nothing."""
    brackets = data.translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * MAX_DEPTH:
        return False
    for _ in range(MAX_DEPTH):
        brackets, peeled = _INNERMOST.subn(b"", brackets)
        if not brackets or not peeled:
            break
    return bool(brackets)


def printable(key: str) -> str:
    """A key or value as it may appear in an answer or a log line: lone surrogates as `\\udXXX`."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{printable(key)}" if path else printable(key)


def _first_problem(value: Any, path: str, depth: int, surrogates: bool) -> tuple[str, str, bool] | None:
    """The first (in document order) field that is too deep, refused by the parser or holds a lone surrogate."""
    if isinstance(value, str):
        return (path, "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text", False) if surrogates and has_lone_surrogate(value) else None
    if isinstance(value, _Refused):
        return path, value.message, value.malformed
    if not isinstance(value, (dict, list)):
        return None
    if depth >= MAX_DEPTH:
        return path, f"is nested deeper than {MAX_DEPTH} levels", False
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if surrogates and isinstance(key, str) and has_lone_surrogate(key):
            return _join(path, key), "this key contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text", False
        found = _first_problem(item, _join(path, key), depth + 1, surrogates)
        if found is not None:
            return found
    return None
