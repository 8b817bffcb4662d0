"""Client JSON that will be stored must fit DynamoDB's number type (38 digits, about 1e-130 to 1e125).

Numbers are bounded well inside that range, so a stored document can never fail to write.
"""

from __future__ import annotations

from typing import Any

from wa_notify.domain.problems import Problem

LIMIT = 1e15  # money, counts, spend: far beyond any real value, far inside DynamoDB's range
TINY = 1e-9


def unsafe_numbers(value: Any, path: str = "", depth: int = 0) -> list[Problem]:
    """A problem for each number that is out of range, and for documents nested too deep to store."""
    if depth > 16:
        return [Problem(path, "is nested too deeply")]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        if value != value or abs(value) >= LIMIT or (value != 0 and abs(value) < TINY):
            return [Problem(path, f"numbers must be below {LIMIT:.0e} and, unless 0, above {TINY:.0e} in magnitude")]
        return []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in unsafe_numbers(v, f"{path}.{k}" if path else str(k), depth + 1)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unsafe_numbers(v, f"{path}[{i}]", depth + 1)]
    return []


def check(value: Any) -> Any:
    """pydantic AfterValidator: raise ValueError naming the first bad number."""
    problems = unsafe_numbers(value)
    if problems:
        raise ValueError(f"{problems[0].field}: {problems[0].message}" if problems[0].field else problems[0].message)
    return value
