"""The sandbox's template management beyond creation: Meta's list (`GET /{waba}/message_templates`),
templates a WABA already had before wa-notify (PUT /_local/sandbox/templates) and Meta's
template lifecycle (POST /_local/sandbox/template_event: the signed webhooks Meta sends).

Kept beside infra/local/sandbox.py (which calls in here) so the sandbox stays one class of
Graph API basics; these functions read and change its `templates`.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

if TYPE_CHECKING:
    from infra.local.sandbox import Sandbox

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
FIELDS = ("id", "name", "language", "status", "category", "parameter_format", "components", "quality_score", "rejected_reason")
PAUSE_INFO = {"title": "FIRST_PAUSE", "description": "Your template has been paused for 3 hours due to low quality."}


def _cursor(position: int) -> str:
    return base64.b64encode(f"sandbox:{position}".encode()).decode()


def _position(cursor: str) -> int | None:
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
        return int(number) if kind == "sandbox" and int(number) >= 0 else None
    except ValueError:
        return None


def _item(template: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """One template as Meta lists it: the asked fields (and always `id`), ids as strings."""
    full = {"id": str(template["id"]), "name": template["name"], "language": template["language"], "status": template["status"],
            "category": template["category"], "parameter_format": template.get("parameter_format") or "POSITIONAL",
            "components": template["components"],
            "quality_score": template.get("quality_score") or {"score": "UNKNOWN", "date": int(time.time())}}
    if template.get("rejected_reason"):
        full["rejected_reason"] = template["rejected_reason"]
    return {k: v for k, v in full.items() if k == "id" or k in fields}


def list_templates(sandbox: Sandbox, waba_id: str, query: str) -> tuple[int, dict[str, Any]]:
    """GET /{waba}/message_templates: `fields`, `limit` and the `after`/`before` cursors; `paging.next`
    only while more remain (what clients loop on)."""
    if waba_id not in {n["waba_id"] for n in sandbox.numbers.values()}:
        return 400, sandbox._error(100, f"Unsupported get request. Object with ID '{waba_id}' does not exist", None)
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    raw_limit = params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return 400, sandbox._error(100, "Invalid parameter", f"limit must be an integer from 1 to {MAX_LIMIT}")
    limit = int(raw_limit)
    fields = tuple(f.strip() for f in params["fields"].split(",")) if params.get("fields") else FIELDS
    with sandbox._lock:  # `name`: Meta's filter (one template's translations)
        templates = [t for (waba, name, _), t in sandbox.templates.items() if waba == waba_id and params.get("name") in (None, name)]
    start = 0
    if "after" in params or "before" in params:
        position = _position(params.get("after") or params.get("before") or "")
        if position is None:
            return 400, sandbox._error(100, "Invalid parameter", "the cursor is not valid")
        start = position + 1 if "after" in params else max(0, position - limit)
    chunk = templates[start:start + limit]
    body: dict[str, Any] = {"data": [_item(t, fields) for t in chunk]}
    if chunk:
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(start + len(chunk) - 1)}}
        if start + len(chunk) < len(templates):
            rest = {k: v for k, v in params.items() if k not in ("after", "before")}
            paging["next"] = (f"https://graph.facebook.com/v21.0/{waba_id}/message_templates?"
                              + urlencode({**rest, "limit": limit, "after": paging["cursors"]["after"]}))
        body["paging"] = paging
    return 200, body


def put_templates(sandbox: Sandbox, waba_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Templates the WABA has at Meta already (as Meta's list shows them), added or replaced."""
    with sandbox._lock:
        for item in items:
            template = {**item, "id": str(item.get("id") or 10**15 + secrets.randbelow(9 * 10**15))}
            template["status"] = str(item.get("status") or "APPROVED").upper()
            template["category"] = str(item["category"]).upper()
            template["parameter_format"] = str(item.get("parameter_format") or "POSITIONAL").upper()
            sandbox.templates[(waba_id, item["name"], item["language"])] = template
        count = sum(1 for (waba, _, _) in sandbox.templates if waba == waba_id)
    return {"waba_id": waba_id, "templates": count}


def template_event(sandbox: Sandbox, waba_id: str, name: str, language: str, event: str,
                   reason: str | None = None, new_category: str | None = None) -> dict[str, Any] | None:
    """Meta changes a template: its status (and category), then the signed webhook(s) Meta sends
    for it, delivered before this answers. None when the WABA has no such template."""
    with sandbox._lock:
        template = sandbox.templates.get((waba_id, name, language))
        if template is None:
            return None
        previous_category, previous_status = template["category"], template["status"]
        template["status"] = event
        if new_category:
            template["category"] = new_category
    value: dict[str, Any] = {"event": event, "message_template_id": int(template["id"]), "message_template_name": name,
                             "message_template_language": language, "reason": reason or "NONE",
                             "message_template_category": previous_category}
    if event == "PAUSED":
        value["other_info"] = PAUSE_INFO
    elif event == "DISABLED":
        value["disable_info"] = {"disable_date": int(time.time())}
    elif event == "APPROVED" and previous_status == "PAUSED":
        value["other_info"] = {"title": "UNPAUSE", "description": "Your template is active again."}
    statuses = [sandbox._emit(waba_id, "message_template_status_update", value, entry_time=True, wait=True)]
    if new_category and new_category != previous_category:
        change = {"message_template_id": int(template["id"]), "message_template_name": name, "message_template_language": language,
                  "previous_category": previous_category, "new_category": new_category}
        statuses.append(sandbox._emit(waba_id, "template_category_update", change, entry_time=True, wait=True))
    return {"name": name, "language": language, "status": event, "category": template["category"], "webhook_statuses": statuses}


# ---- the local routes' bodies (strict: a wrong type is a 422 naming the field) -----------------
NAME = r"^[a-z0-9_]{1,512}$"
LANGUAGE = r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$"
Category = Literal["MARKETING", "UTILITY", "AUTHENTICATION"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class MetaTemplate(BaseModel):
    """One item of Meta's GET message_templates list; other keys Meta lists are kept as given."""

    model_config = ConfigDict(strict=True, extra="allow")
    id: str | None = None
    name: Annotated[str, Field(pattern=NAME)]
    language: Annotated[str, Field(pattern=LANGUAGE)]
    # Meta's statuses (reference §5.2) and enums in any casing, stored upper-case as Meta lists them.
    status: Annotated[Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "FLAGGED", "LIMIT_EXCEEDED",
                              "PENDING_DELETION", "DELETED", "ARCHIVED", "REINSTATED", "LOCKED", "UNARCHIVED"],
                      BeforeValidator(_upper)] = "APPROVED"
    category: Annotated[Category, BeforeValidator(_upper)]
    parameter_format: Annotated[Literal["POSITIONAL", "NAMED"], BeforeValidator(_upper)] = "POSITIONAL"
    components: Annotated[list[dict[str, Any]], Field(min_length=1)]
    quality_score: dict[str, Any] | None = None
    rejected_reason: str | None = None


class SandboxTemplatesBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    templates: Annotated[list[MetaTemplate], Field(min_length=1, max_length=500)]


class TemplateEventBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: Annotated[str, Field(pattern=NAME)]
    language: Annotated[str, Field(pattern=LANGUAGE)]
    event: Literal["APPROVED", "REJECTED", "PAUSED", "DISABLED"]
    reason: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    new_category: Category | None = None
