"""Click tracking (pure): which URLs of a rendered Cloud API request go out through the tracker,
their tokens, and the request that carries `<api base>/r/<token>` instead of each of them.

A token is an HMAC-SHA256 of (tenant, message, position, URL) under the tenant's own random
`click_key` (settings), cut to 128 bits: unguessable without the key, and the same every time
one message is rendered, so a send retried or an intake resumed never makes a second token.
`GET /r/{token}` redirects only to the URL stored with the token at intake: nothing in the
request names where it goes (no open redirect).

What is tracked:
- a URL inside a body text parameter, or inside a free-form text (http or https; the header's
  60 characters leave no room);
- a dynamic URL button of a template registered through us while tracking was on: Meta holds
  its URL as `<api base>/r/{{1}}` and the template row keeps the platform's URL in
  `click_targets` ({"<button index>": "https://shop.example/o/{{1}}"}), so the suffix sent is
  the token and the redirect goes to the platform's URL with the caller's suffix.
A button of a template registered before tracking was on (or imported) holds the platform's
own URL at Meta: only its suffix could change, which would send the customer to
`https://shop.example/o/<token>`; it goes out as it is, untracked (README, docs/decisions.md).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")  # 16 bytes, base64url without padding
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'{}|\\^`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""  # sentence punctuation after a URL is not part of it
MAX_CLICKS = 50  # clicks kept per message; later ones are only counted (click_count)
TEXT_PARAM_MAX = 1024  # a body parameter's limit (rendering.BODY_PARAM_MAX)
TEXT_MESSAGE_MAX = 4096  # a free-form text's limit (rendering.TEXT_MESSAGE_MAX)
SAMPLE_TOKEN = "AAAAAAAAAAAAAAAAAAAAAA"  # the example Meta reviews for a tracked URL button


@dataclass(frozen=True)
class Link:
    token: str
    url: str


def tracker_prefix(api_base: str) -> str:
    return api_base.rstrip("/") + "/r/"


def make_token(key: str, tenant_id: str, message_id: str, position: int, url: str) -> str:
    mac = hmac.new(key.encode(), "\x1f".join((tenant_id, message_id, str(position), url)).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")


def is_token(value: str) -> bool:
    return bool(TOKEN_RE.fullmatch(value))


def is_link_preview(user_agent: str) -> bool:
    """WhatsApp's link-preview fetch (`WhatsApp/2.23.18.78 i`) or Meta's shared crawler
    (`facebookexternalhit/1.1`, `Facebot`): it follows the link, but no person clicked it."""
    return user_agent.startswith("WhatsApp") or "facebookexternalhit" in user_agent or "Facebot" in user_agent


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in URL_IN_TEXT.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def track(request: Mapping[str, Any], click_targets: Mapping[str, str] | None, *, api_base: str, key: str, tenant_id: str,
          message_id: str, text_urls: bool) -> tuple[dict[str, Any], list[Link]]:
    """The request with every tracked URL replaced, and the links to store (token -> URL).
    `text_urls`: the tenant tracks clicks now (URLs in body parameters); `click_targets`: the
    template's tracked buttons (tracked whatever the setting: Meta sends them to the tracker)."""
    out = copy.deepcopy(dict(request))
    links: list[Link] = []
    prefix = tracker_prefix(api_base)
    targets = click_targets or {}
    text = out.get("text")
    if text_urls and out.get("type") == "text" and isinstance(text, dict) and isinstance(text.get("body"), str):
        text["body"] = _rewrite_text(text["body"], prefix, links, key, tenant_id, message_id, limit=TEXT_MESSAGE_MAX)
    for component in (out.get("template") or {}).get("components") or []:
        if component.get("type") == "body" and text_urls:
            for param in component.get("parameters") or []:
                if param.get("type") == "text" and isinstance(param.get("text"), str):
                    param["text"] = _rewrite_text(param["text"], prefix, links, key, tenant_id, message_id)
        elif component.get("type") == "button" and component.get("sub_type") == "url":
            target = targets.get(str(component.get("index")))
            params = component.get("parameters") or []
            if target and params and isinstance(params[0].get("text"), str):
                url = target.replace("{{1}}", params[0]["text"])
                token = make_token(key, tenant_id, message_id, len(links), url)
                links.append(Link(token, url))
                params[0]["text"] = token
    return out, links


def _rewrite_text(text: str, prefix: str, links: list[Link], key: str, tenant_id: str, message_id: str,
                  limit: int = TEXT_PARAM_MAX) -> str:
    spans = _url_spans(text)
    if not spans:
        return text
    pieces: list[str] = []
    added: list[Link] = []
    last = 0
    for start, end in spans:
        url = text[start:end]
        token = make_token(key, tenant_id, message_id, len(links) + len(added), url)
        added.append(Link(token, url))
        pieces += [text[last:start], prefix + token]
        last = end
    pieces.append(text[last:])
    rewritten = "".join(pieces)
    if len(rewritten) > limit:
        return text  # the tracker's URL would break the parameter's limit: this one goes untracked
    links.extend(added)
    return rewritten


def tracked_button_components(components: list[dict[str, Any]], api_base: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A template registered while tracking is on: each dynamic URL button points at the tracker
    (`<api base>/r/{{1}}`, with a tracker URL as Meta's example) and its own URL is kept as a
    click target, keyed by the button's index."""
    out = copy.deepcopy(components)
    targets: dict[str, str] = {}
    prefix = tracker_prefix(api_base)
    for component in out:
        if str(component.get("type", "")).upper() != "BUTTONS":
            continue
        for index, button in enumerate(component.get("buttons") or []):
            url = button.get("url")
            if button.get("type") == "URL" and isinstance(url, str) and url.endswith("{{1}}") and not url.startswith(prefix):
                targets[str(index)] = url
                button["url"] = prefix + "{{1}}"
                button["example"] = [prefix + SAMPLE_TOKEN]
    return out, targets


def location_header(url: str) -> str:
    """The stored URL as an HTTP Location value: header values are bytes in latin-1, so a URL
    typed with non-ASCII ("https://例子.测试/路径?q=ü") goes out as its URI form (IDNA host,
    percent-encoded path, query and fragment); an ASCII URL is unchanged (its %-escapes kept)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = quote(host, safe="")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username is not None:
        userinfo = quote(parts.username, safe="") + (f":{quote(parts.password, safe='')}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    keep = "/%:@!$&'()*+,;=-._~?"
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=keep), quote(parts.query, safe=keep), quote(parts.fragment, safe=keep)))
