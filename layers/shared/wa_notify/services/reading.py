"""Reading back: GET /v1/messages with filters, and a contact's timeline (inbound and outbound).

`to` is read from ContactIndex, `status=failed` from FailedIndex (sparse: failed messages only),
everything else from TimeIndex (a tenant's messages by time); other statuses, template,
flow_key, campaign and metadata.<k> are checks on the rows a page reads (docs/decisions.md:
what each costs). Any of them may be combined; since/until bound the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from wa_notify.adapters.storage.listing import ListingRepository
from wa_notify.domain import status as st
from wa_notify.domain.phone import to_e164
from wa_notify.domain.problems import Invalid, Problem
from wa_notify.domain.records import MessageRow
from wa_notify.models_reading import TimelineItem
from wa_notify.models_views import MessageView, Page
from wa_notify.services.deps import Deps, iso, parse_iso, readable

METADATA_PREFIX = "metadata."
MAX_METADATA_FILTERS = 5
TEXT_MAX = 256  # a template name, a flow key, a campaign id, a metadata key or value
Row = dict[str, Any]


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not value or len(value) > TEXT_MAX or not value.isprintable():
        raise Invalid([Problem(field, f"must be 1..{TEXT_MAX} printable characters")])
    return value


def _moment(field: str, value: str | None) -> str | None:
    """An ISO 8601 time as the rows hold it (UTC, milliseconds): a naive one is UTC."""
    if value is None:
        return None
    try:
        if len(value) > 40:
            raise ValueError
        moment = parse_iso(value)
        datetime.fromisoformat(iso(moment).replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise Invalid([Problem(field, "must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z")]) from exc
    return iso(moment)


def _metadata_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, Decimal)):
        return str(value)
    return None


def metadata_filters(query: Mapping[str, str] | None) -> dict[str, str]:
    """`metadata.<k>=<v>` parameters (the raw query string: their names are the platform's)."""
    found = {name: value for name, value in (query or {}).items() if name.startswith(METADATA_PREFIX)}
    if len(found) > MAX_METADATA_FILTERS:
        raise Invalid([Problem("metadata", f"at most {MAX_METADATA_FILTERS} metadata.<key> filters")])
    out = {}
    for name, value in found.items():
        key = _text(name, name.removeprefix(METADATA_PREFIX) or None)
        if key is None:
            raise Invalid([Problem(name, "name a metadata key: metadata.<key>=<value>")])
        out[key] = _text(name, value) or ""
    return out


def _metadata_check(key: str, value: str) -> Callable[[Row], bool]:
    def check(row: Row) -> bool:
        metadata = row.get("metadata")
        return isinstance(metadata, dict) and _metadata_value(metadata.get(key)) == value
    return check


def list_messages(deps: Deps, tenant_id: str, *, to: str | None = None, status: str | None = None, template: str | None = None,
                  flow_key: str | None = None, campaign: str | None = None, metadata: Mapping[str, str] | None = None,
                  since: str | None = None, until: str | None = None, cursor: str | None = None,
                  limit: int = 50) -> Page[MessageView]:
    from wa_notify.services.messages import view

    if to is not None:
        try:
            # A literal + in a query string reads as a space: digits alone are taken as E.164 too.
            to = to_e164("+" + to.strip().lstrip("+"))
        except ValueError as exc:
            raise Invalid([Problem("to", str(exc))]) from exc
    if status is not None and status not in st.PUBLIC_STATUSES:
        raise Invalid([Problem("status", f"must be one of {', '.join(st.PUBLIC_STATUSES)}")])
    template, flow_key, campaign = _text("template", template), _text("flow_key", flow_key), _text("campaign", campaign)
    since, until = _moment("since", since), _moment("until", until)
    if since and until and since > until:
        raise Invalid([Problem("since", "must not be later than until")])
    checks: list[Callable[[Row], bool]] = []
    if status:
        checks.append(lambda row: st.public_status(row.get("status", "")) == status)
    if template:
        checks.append(lambda row: (row.get("template") or {}).get("name") == template)
    if flow_key:
        checks.append(lambda row: (row.get("flow") or {}).get("key") == flow_key)
    for key, value in (metadata or {}).items():
        checks.append(_metadata_check(key, value))
    if campaign:
        found = deps.store.campaigns.get(tenant_id, campaign) if campaign.startswith("cmp_") else None
        started = found.get("created_at") if found else None
        if started is None:  # not this tenant's campaign: nothing to read
            return Page[MessageView](items=[], next=None)
        # Its messages were all written after it: the time index is read from its start only.
        since = max(since or started, started)
        checks.append(lambda row: row.get("campaign") == campaign)
    try:
        rows, nxt = ListingRepository(deps.store.table).messages(
            tenant_id, to=to, since=since, until=until, cursor=cursor, limit=limit, keep=lambda row: all(c(row) for c in checks),
            failed_only=status == st.FAILED)
    except ValueError as exc:
        raise Invalid([Problem("cursor", str(exc))]) from exc
    return Page[MessageView](items=readable(rows, lambda row: view(cast("MessageRow", row))), next=nxt)


def timeline_item(row: Row) -> TimelineItem:
    if row.get("sk") == "MSG":
        template = row.get("template")
        return TimelineItem.model_validate({
            "direction": "outbound", "kind": "template" if template else "text", "at": row["created_at"], "id": row["id"],
            "status": st.public_status(row["status"]), "text": row.get("text"),
            "template": {"name": template["name"], "language": template["language"]} if template else None,
            "provider_message_id": row.get("wamid"),
        })
    return TimelineItem.model_validate({
        "direction": "inbound", "kind": row.get("type") or "unknown", "at": row["received_at"], "id": row["wamid"],
        "provider_message_id": row["wamid"], "text": row.get("text"), "payload": row.get("payload"), "emoji": row.get("emoji"),
        "context_id": row.get("context_id"),
    })


def timeline(deps: Deps, tenant_id: str, phone: str, cursor: str | None, limit: int) -> Page[TimelineItem]:
    try:
        rows, nxt = ListingRepository(deps.store.table).timeline(tenant_id, phone, cursor=cursor, limit=limit)
    except ValueError as exc:
        raise Invalid([Problem("cursor", str(exc))]) from exc
    return Page[TimelineItem](items=readable(rows, timeline_item), next=nxt)
