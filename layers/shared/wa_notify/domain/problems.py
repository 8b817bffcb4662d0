"""Errors the domain raises; handlers map them to application/problem+json."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, named by the field it concerns."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class DomainError(Exception):
    """Base class: carries an HTTP-like status so the one exception handler can map it."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, problems: list[Problem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class Invalid(DomainError):
    """Semantically invalid input: every problem is listed."""

    status = 422
    title = "Unprocessable request"

    def __init__(self, problems: list[Problem], detail: str | None = None) -> None:
        detail = detail or f"{len(problems)} problem(s) with the request"
        super().__init__(detail, problems)


class Malformed(DomainError):
    status = 400
    title = "Malformed request"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class OverQuota(DomainError):
    """The tenant's daily quota is spent: 429 with Retry-After (seconds until the next UTC day)."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, retry_after_s)


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


def path_of(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """A location as our field path: ("steps", 0, "at") -> "steps[0].at" (pydantic's error
    locations and the 422s' `field` use it alike)."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class ProblemList:
    """Collects problems so a validator can report all of them, not just the first."""

    items: list[Problem] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.items.append(Problem(field_name, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise Invalid(list(self.items))
