"""The tenant's own settings."""

from __future__ import annotations

import secrets
from typing import Any, cast

from wa_notify.domain.records import SettingsRow
from wa_notify.models import SettingsRequest, SettingsView
from wa_notify.services.deps import Deps, iso


def get(deps: Deps, tenant_id: str) -> SettingsView:
    from wa_notify.domain import callback_urls
    from wa_notify.services.messages import daily_quota, quota_day
    from wa_notify.services.tenants import profile

    stored = deps.store.tenants.get_settings(tenant_id)
    day, _ = quota_day(deps.now())
    return SettingsView.model_validate({"throughput_per_second": stored.get("throughput_per_second") or int(deps.settings.number_rate_per_second),
            "daily_quota": daily_quota(deps, profile(deps, tenant_id)), "quota_used_today": deps.store.quota.used(tenant_id, day),
            "callback_url": callback_urls.shown(stored.get("callback_url")), "callback_secret": stored.get("callback_secret"),
            "value_tiers": stored.get("value_tiers"), "reply_actions": stored.get("reply_actions"),
            "rating_replies": stored.get("rating_replies"),
            "auto_replies": stored.get("auto_replies"), "business_hours": stored.get("business_hours"),
            "out_of_hours_reply": stored.get("out_of_hours_reply"), "sms_fallback": stored.get("sms_fallback"),
            "track_clicks": bool(stored.get("track_clicks")), "default_language": stored.get("default_language"),
            "updated_at": stored.get("updated_at")})


def put(deps: Deps, tenant_id: str, body: SettingsRequest) -> SettingsView:
    """Merge the given fields; a callback secret is generated with the first callback URL (or on rotation).

    Only what the request names changes, down into nested objects (exclude_unset): a field given
    as null is cleared, one left out keeps its stored value, and a default the caller did not
    write (business_hours.days) is not stored."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    if changes.get("callback_url"):
        _check_callback_url(deps, changes["callback_url"])
    if (changes.get("sms_fallback") or {}).get("unread_minutes"):
        _check_fallback_templates(deps, tenant_id, changes["sms_fallback"]["unread_minutes"])
    if changes.get("track_clicks") and not deps.settings.public_api_url:
        from wa_notify.domain.problems import Invalid, Problem

        raise Invalid([Problem("track_clicks", "this deployment has no PUBLIC_API_URL, so tracked links would have nowhere to go")])
    # Merged by name: the request's fields (SettingsRequest) are the row's (SettingsRow).
    stored: dict[str, Any] = {k: v for k, v in deps.store.tenants.get_settings(tenant_id).items() if k not in ("pk", "sk")}
    rotate = changes.pop("rotate_callback_secret", False)
    stored.update(changes)
    if stored.get("callback_url") and (rotate or not stored.get("callback_secret")):
        stored["callback_secret"] = "whsec_" + secrets.token_urlsafe(32)
    if stored.get("track_clicks") and not stored.get("click_key"):
        stored["click_key"] = secrets.token_urlsafe(32)  # click tokens' HMAC key (domain/clicks.py), never shown
    stored["updated_at"] = iso(deps.now())
    deps.store.tenants.put_settings(tenant_id, cast("SettingsRow", stored))
    from wa_notify.services.callbacks import _settings_cache

    _settings_cache.pop(tenant_id, None)  # this container sees its own change at once (others within 30 s)
    return get(deps, tenant_id)


def _check_fallback_templates(deps: Deps, tenant_id: str, unread_minutes: dict[str, int]) -> None:
    """Each template an unread deadline names exists here and may fall back to SMS (utility or
    authentication): a misspelt name was stored and never fired, with nothing said."""
    from wa_notify.domain.fallback import ELIGIBLE_CATEGORIES
    from wa_notify.domain.problems import Invalid, ProblemList

    problems = ProblemList()
    for name in unread_minutes:
        items = deps.store.templates.list(tenant_id, name=name, limit=100)[0] if len(name) <= 512 else []
        if not items:
            problems.add(f"sms_fallback.unread_minutes.{name[:64]}", f"no template {name[:64]}")
        elif not any(i.get("category") in ELIGIBLE_CATEGORIES for i in items):
            problems.add(f"sms_fallback.unread_minutes.{name[:64]}",
                         f"template {name[:64]} is {items[0].get('category')}: only utility and authentication templates fall back to SMS")
    if problems.items:
        raise Invalid(problems.items)


def _check_callback_url(deps: Deps, url: str) -> None:
    """422 for a URL that is not the platform's: its scheme, its host as written and what that
    resolves to now (posting checks the resolution again: DNS can change)."""
    from wa_notify.domain.problems import Invalid, Problem

    problem = deps.callback_http.problem(url, allow_local=deps.settings.callback_allow_local)
    if problem:
        raise Invalid([Problem("callback_url", problem)])
