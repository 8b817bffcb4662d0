"""Click tracking: tokens made and stored at intake (before the send), and the redirect.

Tokens live in the message's stored request from intake on, so every send attempt carries the
same ones (the sender never renders). `GET /r/{token}` reads the token's item, appends the
click to its message (conditional: the message must exist) and answers the URL stored with
the token; the first click sets `clicked_at`, which the stream turns into `message.clicked`
and the `clicked` counter (domain/changes.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wa_notify.domain import clicks
from wa_notify.domain.problems import NotFound
from wa_notify.services.deps import Deps, iso

KEEP_DAYS = 400  # a link in a chat is clicked long after the send; the analytics keep 400 days too


def api_base(deps: Deps) -> str:
    return deps.settings.public_api_url.rstrip("/")


def apply(deps: Deps, tenant_id: str, message_id: str, request: dict[str, Any], click_targets: dict[str, str] | None) -> dict[str, Any]:
    """The request to store for this message: its tracked URLs through the tracker, their tokens
    written first (one PutItem each). Unchanged when nothing is tracked."""
    from wa_notify.services.callbacks import tenant_settings

    stored = tenant_settings(deps, tenant_id)
    text_urls = bool(stored.get("track_clicks"))
    key = stored.get("click_key")
    base = api_base(deps)
    if not key or not base or not (text_urls or click_targets):
        return request
    tracked, links = clicks.track(request, click_targets, api_base=base, key=str(key), tenant_id=tenant_id, message_id=message_id,
                                  text_urls=text_urls)
    if not links:
        return request
    expires_at = int((deps.now() + timedelta(days=KEEP_DAYS)).timestamp())
    deps.store.clicks.put_links(tenant_id, message_id, [(link.token, link.url) for link in links], expires_at)
    return tracked


def follow(deps: Deps, token: str, *, record: bool = True) -> str:
    """Record one click (unless `record` is False: a link-preview fetch) and return where it goes;
    NotFound for a malformed, unknown or expired token, or one whose message is gone."""
    unknown = NotFound("no such link")
    if not clicks.is_token(token):
        raise unknown
    link = deps.store.clicks.link(token)
    now = deps.now()
    if link is None or int(link.get("expires_at", 0)) < int(now.timestamp()):
        raise unknown
    url = str(link["url"])
    if not url.lower().startswith(("https://", "http://")):
        raise unknown  # only ever an http(s) URL stored at intake; anything else is not followed
    if record and not deps.store.clicks.record(str(link["tenant_id"]), str(link["message_id"]), url, iso(now), clicks.MAX_CLICKS):
        raise unknown
    return url


def for_registration(deps: Deps, tenant_id: str, components: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A template registered while the tenant tracks clicks: its dynamic URL buttons go to Meta as
    `<api base>/r/{{1}}` (domain/clicks.tracked_button_components), their own URLs kept as
    `click_targets` on the template row. Unchanged (and no targets) when tracking is off."""
    from wa_notify.services.callbacks import tenant_settings

    base = api_base(deps)
    if not base or not tenant_settings(deps, tenant_id).get("track_clicks"):
        return components, {}
    return clicks.tracked_button_components(components, base)
