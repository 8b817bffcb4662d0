"""Tenants (platforms) and their API keys."""

from __future__ import annotations

import secrets
from typing import Any

from wa_notify.domain.ids import hash_api_key, new_api_key, new_id
from wa_notify.domain.problems import Unauthorized
from wa_notify.domain.records import TenantRow
from wa_notify.services.deps import Deps, iso, ttl_cached

_key_cache: dict[str, tuple[Any, float]] = {}
_profile_cache: dict[str, tuple[Any, float]] = {}


def create_tenant(
    deps: Deps, name: str, *, api_key: str | None = None, phone_number_id: str | None = None, waba_id: str | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """Onboard a platform: its profile, a hashed API key and its WhatsApp number mapping."""
    tenant_id = tenant_id or new_id("ten")
    api_key = api_key or new_api_key()
    tenant: TenantRow = {
        "tenant_id": tenant_id,
        "name": name,
        "phone_number_id": phone_number_id or str(10**14 + secrets.randbelow(9 * 10**14)),
        "waba_id": waba_id or str(10**14 + secrets.randbelow(9 * 10**14)),
        "created_at": iso(deps.now()),
    }
    if not deps.store.tenants.create(tenant, hash_api_key(api_key)):
        raise ValueError("tenant, API key, phone number id or WABA id already registered")
    return {**tenant, "api_key": api_key}


def rotate_api_key(deps: Deps, tenant_id: str) -> str:
    """A new API key for the tenant; the old one stops working (warm containers may accept it
    for up to `api_key_cache_seconds` more)."""
    api_key = new_api_key()
    if not deps.store.tenants.rotate_api_key(tenant_id, hash_api_key(api_key)):
        raise LookupError(f"no tenant {tenant_id}, or another rotation happened at the same time")
    return api_key


def list_tenants(deps: Deps) -> list[dict[str, Any]]:
    """Every tenant's public profile (no key hashes): for operators, not for the API."""
    out: list[dict[str, Any]] = []
    start = None
    while True:
        items, start = deps.store.tenants.list(start_key=start)
        out += [{k: i.get(k) for k in ("tenant_id", "name", "phone_number_id", "waba_id", "created_at")} for i in items]
        if not start:
            return sorted(out, key=lambda t: (t["created_at"] or "", t["tenant_id"]))


def authenticate(deps: Deps, authorization: str | None) -> str:
    """Tenant id for a `Bearer <key>` header; Unauthorized otherwise.

    Keys are looked up by hash and cached per container for a minute: one GetItem per
    key per minute instead of one per request.
    """
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send Authorization: Bearer <api key>")
    key = authorization[7:].strip()
    if not key:
        raise Unauthorized("send Authorization: Bearer <api key>")
    digest = hash_api_key(key)
    tenant_id = ttl_cached(_key_cache, digest, deps.settings.api_key_cache_seconds, lambda: deps.store.tenants.for_api_key(digest))
    if tenant_id is None:
        raise Unauthorized("unknown API key")
    return tenant_id


def profile(deps: Deps, tenant_id: str) -> TenantRow:
    """The tenant's profile (its WhatsApp number and WABA), cached per container like keys:
    it changes only when a platform is re-onboarded, and it is read on every send."""
    item = ttl_cached(_profile_cache, tenant_id, deps.settings.api_key_cache_seconds, lambda: deps.store.tenants.get(tenant_id))
    if item is None:
        raise Unauthorized("the tenant of this API key no longer exists")
    return item


def clear_key_cache() -> None:
    from wa_notify.services import numbers

    _key_cache.clear()
    _profile_cache.clear()
    numbers.clear_cache()
