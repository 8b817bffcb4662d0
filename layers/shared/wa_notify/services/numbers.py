"""A tenant's business numbers: listed with Meta's quality rating and messaging limit, chosen by
`from`, added and removed (the admin CLI), and each number's messaging limit for campaigns.

The default number is the tenant profile's `phone_number_id`; every other number has a row
(adapters/storage/numbers.py). What Meta says about a number is cached on its row for
`META_TTL_SECONDS`, so listing numbers does not call Meta each time.
"""

from __future__ import annotations

import re
from typing import Any

from wa_notify.domain.problems import Conflict, DomainError, Invalid, NotFound, Problem
from wa_notify.domain.records import NumberRow, TenantRow
from wa_notify.domain.whatsapp_errors import ProviderError
from wa_notify.models import NumbersView
from wa_notify.services.deps import Deps, iso, ttl_cached
from wa_notify.services.tenants import profile as tenant_profile

# The limit field is `whatsapp_business_manager_messaging_limit` since the limit moved to the
# business portfolio; `messaging_limit_tier` is the deprecated per-number one (still asked for:
# older API versions answer only it). whatsapp-cloud-api.md §3.3.
META_FIELDS = "display_phone_number,quality_rating,whatsapp_business_manager_messaging_limit,messaging_limit_tier,throughput"
META_TTL_SECONDS = 600
TIERS: dict[str, int | None] = {"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1_000, "TIER_2K": 2_000, "TIER_10K": 10_000,
                                "TIER_100K": 100_000, "TIER_UNLIMITED": None}
LIMIT_WINDOW_MS = 24 * 3600 * 1000
NUMBER_ID_RE = re.compile(r"[0-9]{1,32}")
_numbers_cache: dict[str, tuple[Any, float]] = {}


class MetaUnavailable(DomainError):
    status = 502
    title = "WhatsApp did not answer"


def conversations_per_day(tier: str | None) -> int | None:
    """Business-initiated conversations per 24 h a tier allows; None when unlimited or not known
    (an unknown tier name is not guessed at: campaigns then pace only by throughput)."""
    return TIERS.get(tier or "")


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def _rows(deps: Deps, tenant_id: str, *, fresh: bool = False) -> list[NumberRow]:
    """The tenant's number rows, cached per container like the profile (a `from` missing from
    the cache is looked up again once, so a number added a moment ago is found)."""
    if fresh:
        _numbers_cache.pop(tenant_id, None)
    return list(ttl_cached(_numbers_cache, tenant_id, deps.settings.api_key_cache_seconds,
                           lambda: deps.store.numbers.list(tenant_id)))


def sender(deps: Deps, tenant_id: str, tenant: TenantRow, value: str | None) -> str:
    """The phone_number_id a message goes from: `from` (a phone_number_id or the display number,
    in any format) or the default number. An unknown `from` is a 422 naming it."""
    default = tenant["phone_number_id"]
    if value is None or value == default:
        return default
    for fresh in (False, True):
        rows = _rows(deps, tenant_id, fresh=fresh)
        for row in rows:
            if value == row["phone_number_id"]:
                return value
        wanted = _display_digits(value)
        if wanted:
            for row in rows:
                if _digits(row.get("display_phone_number")) == wanted:
                    return row["phone_number_id"]
            if wanted == _digits(_default_row(deps, tenant_id, tenant).get("display_phone_number")):
                return default
    raise Invalid([Problem("from", "is not one of your numbers (GET /v1/numbers lists them): "
                                   "give its phone_number_id or its display number")])


DISPLAY_NUMBER_RE = re.compile(r"\+?[0-9][0-9 ()\-.]{5,22}[0-9]")


def _display_digits(value: str) -> str:
    """The digits of a display number written in any format. Not through phonenumbers' validity
    check: Meta's test business numbers (+1 555 ...) are not valid numbers to it, yet they are
    what GET /v1/numbers lists."""
    text = value.strip()
    return _digits(text) if DISPLAY_NUMBER_RE.fullmatch(text) else ""


def _default_row(deps: Deps, tenant_id: str, tenant: TenantRow) -> NumberRow:
    return deps.store.numbers.get(tenant_id, tenant["phone_number_id"]) or {
        "phone_number_id": tenant["phone_number_id"], "waba_id": tenant["waba_id"]}


def _refresh(deps: Deps, tenant_id: str, row: NumberRow, *, default: bool) -> NumberRow:
    """The row with Meta's current quality rating and limit, read at most every META_TTL_SECONDS."""
    now_s = int(deps.now().timestamp())
    if now_s - int(row.get("meta_checked_at") or 0) < META_TTL_SECONDS:
        return row
    pnid = row["phone_number_id"]
    try:
        try:
            data = deps.cloud_api.get_phone_number(pnid, META_FIELDS, deps.whatsapp_token(tenant_id, phone_number_id=pnid))
        except ProviderError as exc:
            if not exc.token_rejected:
                raise
            data = deps.cloud_api.get_phone_number(pnid, META_FIELDS,
                                                   deps.whatsapp_token(tenant_id, phone_number_id=pnid, force_fetch=True))
    except ProviderError as exc:
        raise MetaUnavailable(f"WhatsApp did not describe number {pnid}: ({exc.code}) {exc.title}",
                              [Problem("meta", f"Meta error code {exc.code}: {exc.title}")]) from exc
    limit = data.get("whatsapp_business_manager_messaging_limit") or data.get("messaging_limit_tier")
    fresh: NumberRow = {**row, "quality_rating": str(data["quality_rating"]) if data.get("quality_rating") else None,
                        "messaging_limit": str(limit) if limit else None, "meta_checked_at": now_s,
                        "display_phone_number": str(data.get("display_phone_number") or row.get("display_phone_number") or "") or None}
    deps.store.numbers.save_meta(tenant_id, fresh, default=default)
    return fresh


def list_numbers(deps: Deps, tenant_id: str) -> NumbersView:
    """`GET /v1/numbers`: the default number first, then the others by phone_number_id."""
    from wa_notify.services.sending import number_rate

    tenant = tenant_profile(deps, tenant_id)
    rows = deps.store.numbers.list(tenant_id)
    default = next((r for r in rows if r["phone_number_id"] == tenant["phone_number_id"]), None) or {
        "phone_number_id": tenant["phone_number_id"], "waba_id": tenant["waba_id"]}
    others = sorted((r for r in rows if r["phone_number_id"] != tenant["phone_number_id"]), key=lambda r: r["phone_number_id"])
    rate, shards = number_rate(deps, tenant_id)
    per_second = round(1_000_000 / rate.interval_us * shards, 3)
    items = []
    for row in [default, *others]:
        is_default = row is default
        row = _refresh(deps, tenant_id, row, default=is_default)
        items.append({"phone_number_id": row["phone_number_id"], "display_phone_number": row.get("display_phone_number"),
                      "waba_id": row.get("waba_id") or tenant["waba_id"], "throughput_per_second": per_second,
                      "quality_rating": row.get("quality_rating"), "messaging_limit": row.get("messaging_limit"),
                      "default": is_default})
    return NumbersView.model_validate({"items": items})


def add_number(deps: Deps, tenant_id: str, phone_number_id: str, waba_id: str | None = None,
               display_phone_number: str | None = None) -> NumberRow:
    """Another number for the tenant (its WABA by default); its webhooks route to the tenant at once."""
    tenant = deps.store.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    if not NUMBER_ID_RE.fullmatch(phone_number_id):
        raise Invalid([Problem("phone_number_id", "must be Meta's numeric phone number id")])
    if phone_number_id == tenant["phone_number_id"]:
        raise Conflict(f"{phone_number_id} is already the tenant's default number")
    display = _display_digits(display_phone_number) if display_phone_number else None
    if display_phone_number and not display:
        raise Invalid([Problem("display_phone_number", "is not a phone number")])
    row: NumberRow = {"phone_number_id": phone_number_id, "waba_id": waba_id or tenant["waba_id"],
                      "display_phone_number": display, "added_at": iso(deps.now())}
    if not deps.store.numbers.add(tenant_id, row, int(deps.now().timestamp())):
        raise Conflict(f"number {phone_number_id} (or WABA {row['waba_id']}) is another tenant's, or already this tenant's")
    _numbers_cache.pop(tenant_id, None)
    return row


def remove_number(deps: Deps, tenant_id: str, phone_number_id: str) -> None:
    """Remove a number that is not the default. Messages already planned from it still go from
    it (the tenant's token still covers it at Meta), and their status webhooks still route to
    the tenant for 30 days (the lookup is kept, marked removed); new sends may no longer name it."""
    tenant = deps.store.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant {tenant_id}")
    if phone_number_id == tenant["phone_number_id"]:
        raise Conflict("the default number cannot be removed (it is the tenant's profile number)")
    now = deps.now()
    if not deps.store.numbers.remove(tenant_id, phone_number_id, iso(now), int(now.timestamp())):
        raise NotFound(f"number {phone_number_id} is not one of tenant {tenant_id}'s numbers")
    _numbers_cache.pop(tenant_id, None)


def conversation_room(deps: Deps, tenant_id: str, phone_number_id: str, default: bool) -> tuple[int | None, NumberRow | None, int]:
    """(the number's limit of business-initiated conversations per 24 h or None, its row as read,
    conversations still allowed in the current window). Meta unreachable: the last known tier."""
    row = deps.store.numbers.get(tenant_id, phone_number_id)
    try:
        row = _refresh(deps, tenant_id, row or {"phone_number_id": phone_number_id}, default=default)
    except MetaUnavailable:
        row = row or None
    limit = conversations_per_day((row or {}).get("messaging_limit"))
    if limit is None:
        return None, row, 0
    now_ms = int(deps.now().timestamp() * 1000)
    start = int((row or {}).get("limit_window_start") or 0)
    used = int((row or {}).get("limit_used") or 0) if start and now_ms < start + LIMIT_WINDOW_MS else 0
    return limit, row, max(0, limit - used)


def window_ends_in_s(row: NumberRow | None, now_ms: int) -> int:
    start = int((row or {}).get("limit_window_start") or 0)
    return max(1, (start + LIMIT_WINDOW_MS - now_ms) // 1000 + 1) if start else 1


def clear_cache() -> None:
    _numbers_cache.clear()
