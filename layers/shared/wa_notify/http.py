"""application/problem+json for every error the API returns."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from wa_notify.domain.problems import path_of

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None,
                 extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one builder of a problem+json body (RFC 9457): the api, the webhook and the local stack
    all answer through it. A plain dict, not `models.Problem(...)`: importing the models costs the
    webhook's cold start ~0.3 s, so `models.Problem` documents this shape and a unit test keeps the
    two equal. `extensions`: RFC 9457 extension members (e.g. how far a template import got)."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": errors or [], **(extensions or {})}


def problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
            extensions: dict[str, Any] | None = None) -> Response:
    body = json.dumps(problem_body(status, title, detail, errors, extensions))
    return Response(status_code=status, content_type=PROBLEM_JSON, body=body, headers=headers)


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """pydantic's error location as a field path: ("body", "params", "x") -> "params.x"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        source = parts.pop(0)
        if source != "body" and parts:
            return str(parts[-1])
    return path_of(parts)
