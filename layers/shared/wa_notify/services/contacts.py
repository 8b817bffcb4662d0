"""Contacts: the platform's customers as the service knows them (profile + conversation state)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from wa_notify.domain.conversation import computed_tags, window_open
from wa_notify.domain.phone import mask, to_e164
from wa_notify.domain.problems import Invalid, NotFound, Problem
from wa_notify.domain.records import ContactRow
from wa_notify.models import ContactRequest, ContactView, Page
from wa_notify.services.deps import Deps, iso, readable

PROFILE_FIELDS = ("name", "locale", "timezone", "tags", "attributes")


def phone_of(raw: str, *, missing: type[Exception] = NotFound) -> str:
    raw = unquote(raw)
    try:
        return to_e164(raw if raw.startswith("+") else "+" + raw.strip())
    except ValueError as exc:
        if missing is NotFound:
            raise NotFound(f"no contact {raw[:32]}") from exc
        raise Invalid([Problem("phone", str(exc))]) from exc


def view(deps: Deps, item: ContactRow, value_tiers: list[dict[str, Any]] | None) -> ContactView:
    now = deps.now()
    return ContactView.model_validate({
        "phone": item["phone"],
        "name": item.get("name"),
        "locale": item.get("locale"),
        "timezone": item.get("timezone"),
        "tags": item.get("tags") or [],
        "computed_tags": computed_tags(item, now, value_tiers),
        "attributes": item.get("attributes") or {},
        "last_inbound_at": item.get("last_inbound_at"),
        "window_open": window_open(item.get("window_expires_at"), now),
        "window_expires_at": item.get("window_expires_at"),
        "opted_out": bool(item.get("opted_out")),
        "created_at": item.get("created_at"),
        "updated_at": item.get("updated_at"),
    })


def put(deps: Deps, tenant_id: str, raw_phone: str, body: ContactRequest) -> ContactView:
    """Only the fields the request names change; one given as null is cleared."""
    phone = phone_of(raw_phone, missing=Invalid)
    fields = {k: getattr(body, k) for k in PROFILE_FIELDS if k in body.model_fields_set}
    if body.opted_out is not None:
        deps.store.contacts.set_opt_out(tenant_id, phone, body.opted_out, iso(deps.now()), "set through the API", source="api")
    item = deps.store.contacts.put(tenant_id, phone, fields, iso(deps.now()))
    return view(deps, item, deps.store.tenants.get_settings(tenant_id).get("value_tiers"))


def get(deps: Deps, tenant_id: str, raw_phone: str) -> ContactView:
    item = deps.store.contacts.get(tenant_id, phone_of(raw_phone))
    if item is None:
        raise NotFound(f"no contact {raw_phone[:32]}")
    return view(deps, item, deps.store.tenants.get_settings(tenant_id).get("value_tiers"))


def list_by_tag(deps: Deps, tenant_id: str, tag: str | None, cursor: str | None, limit: int) -> Page[ContactView]:
    """Tags are matched on the platform's own tags and the computed ones; a page may hold fewer
    than `limit` items when filtering, `next` continues the scan."""
    tiers = deps.store.tenants.get_settings(tenant_id).get("value_tiers")
    try:
        items, nxt = deps.store.contacts.list(tenant_id, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise Invalid([Problem("cursor", str(exc))]) from exc
    views = readable(items, lambda i: view(deps, i, tiers), key=lambda sk: mask(str(sk)))
    if tag:
        views = [v for v in views if tag in v.tags or tag in v.computed_tags]
    return Page[ContactView](items=views, next=nxt)
