"""The WhatsApp Cloud API over httpx: send messages, create and list templates.

Outcomes are classified by what could have happened at Meta, because a send has no
idempotency key: `NotSent` (the request never left: safe to retry), `Accepted`,
`Rejected` (WhatsApp answered with an error) and `Ambiguous` (the request may have been
accepted: must not be blindly re-sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from wa_notify.domain.whatsapp_errors import ProviderError

MAX_RESPONSE_BYTES = 1_000_000
# What a template import reads of each template (GET /{waba}/message_templates?fields=...).
TEMPLATE_FIELDS = "id,name,language,status,category,parameter_format,components,quality_score,rejected_reason"


@dataclass(frozen=True)
class Accepted:
    wamid: str
    wa_id: str | None
    message_status: str | None


@dataclass(frozen=True)
class Rejected:
    error: ProviderError


@dataclass(frozen=True)
class NotSent:
    reason: str


@dataclass(frozen=True)
class Ambiguous:
    reason: str


SendOutcome = Accepted | Rejected | NotSent | Ambiguous


def parse_error(response: httpx.Response) -> ProviderError:
    try:
        err = response.json().get("error") or {}
    except (ValueError, AttributeError):
        err = {}
    code = err.get("code") if isinstance(err.get("code"), int) else None
    message = str(err.get("message") or f"HTTP {response.status_code}")
    # Meta's message is "(#131056) <title>"; keep the title.
    if message.startswith("(#") and ") " in message:
        message = message.split(") ", 1)[1]
    data = err.get("error_data")
    details = data.get("details") if isinstance(data, dict) else (data if isinstance(data, str) else None)
    return ProviderError(code=code, title=message, details=details, http_status=response.status_code)


def _auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class CloudApiClient:
    def __init__(
        self, base_url: str, *, connect_timeout: float = 3.0, read_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx  # lazily: ~100 ms of a cold import, paid only by the functions that call WhatsApp

        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            # The token is per tenant (each platform's own WhatsApp business), so it goes per call.
            headers={"Content-Type": "application/json"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,  # OWASP API10: never follow a redirect with our token
            transport=transport,
        )
        self.calls = 0

    def send_message(self, phone_number_id: str, request: dict[str, Any], access_token: str) -> SendOutcome:
        import httpx

        self.calls += 1
        try:
            response = self.http.post(f"{phone_number_id}/messages", content=json.dumps(request).encode(), headers=_auth(access_token))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return NotSent(f"{type(exc).__name__}: the request did not reach WhatsApp")
        except httpx.TransportError as exc:
            # Read timeout, reset or protocol error after the request was written.
            return Ambiguous(f"{type(exc).__name__}: no answer after the request was sent")
        if len(response.content) > MAX_RESPONSE_BYTES:
            return Ambiguous("response too large to trust")
        if response.status_code == 200:
            try:
                data = response.json()
                message = data["messages"][0]
                contacts = data.get("contacts") or [{}]
                return Accepted(str(message["id"]), contacts[0].get("wa_id"), message.get("message_status"))
            except (ValueError, KeyError, IndexError, TypeError):
                return Ambiguous("HTTP 200 without a message id")
        return Rejected(parse_error(response))

    def create_template(self, waba_id: str, payload: dict[str, Any], access_token: str) -> dict[str, Any]:
        """POST /{waba}/message_templates; raises ProviderError when Meta refuses or is unreachable."""
        import httpx

        try:
            response = self.http.post(f"{waba_id}/message_templates", content=json.dumps(payload).encode(), headers=_auth(access_token))
        except httpx.TransportError as exc:
            raise ProviderError(code=None, title=f"WhatsApp unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise parse_error(response)
        return response.json()

    def delete_template(self, waba_id: str, name: str, access_token: str, *, hsm_id: str | None = None) -> None:
        """DELETE /{waba}/message_templates?name=... (every language), with hsm_id one translation;
        raises ProviderError when Meta refuses or is unreachable."""
        import httpx

        params = {"name": name, **({"hsm_id": hsm_id} if hsm_id else {})}
        try:
            response = self.http.delete(f"{waba_id}/message_templates", params=params, headers=_auth(access_token))
        except httpx.TransportError as exc:
            raise ProviderError(code=None, title=f"WhatsApp unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise parse_error(response)

    def get_phone_number(self, phone_number_id: str, fields: str, access_token: str) -> dict[str, Any]:
        """GET /{phone-number-id}?fields=...; raises ProviderError when Meta refuses or is unreachable."""
        return self._get_object(phone_number_id, {"fields": fields}, access_token)

    def list_templates(self, waba_id: str, access_token: str, *, after: str | None = None, limit: int = 100,
                       name: str | None = None) -> dict[str, Any]:
        """One page of GET /{waba}/message_templates (with `name`, that template's translations only):
        Meta's `{data, paging}` (`paging.next` only while more remain). Raises ProviderError when
        Meta refuses or is unreachable."""
        params: dict[str, str | int] = {"fields": TEMPLATE_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        if name:
            params["name"] = name
        page = self._get_object(f"{waba_id}/message_templates", params, access_token)
        if not isinstance(page.get("data"), list):
            raise ProviderError(code=None, title="WhatsApp answered HTTP 200 without a list of templates", http_status=200)
        return page

    def _get_object(self, path: str, params: dict[str, str | int], access_token: str) -> dict[str, Any]:
        """One Graph API GET whose answer is a JSON object; ProviderError when Meta refuses, is
        unreachable or answers 200 with anything else."""
        import httpx

        try:
            response = self.http.get(path, params=params, headers=_auth(access_token))
        except httpx.TransportError as exc:
            raise ProviderError(code=None, title=f"WhatsApp unreachable: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise parse_error(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(code=None, title="WhatsApp answered HTTP 200 without JSON", http_status=200) from exc
        if not isinstance(data, dict):
            raise ProviderError(code=None, title="WhatsApp answered HTTP 200 without a JSON object", http_status=200)
        return data

    def close(self) -> None:
        self.http.close()
