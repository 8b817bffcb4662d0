"""Posting callbacks to a platform's URL, only to addresses the rules allow (no SSRF).

The host is resolved once per post, every address it resolves to is checked
(domain/callback_urls.py), and the connection is made to those checked addresses and no
others: the network backend under httpx looks the host up in the addresses pinned for this
post instead of resolving it again, so a DNS answer that changes between the check and the
connect (DNS rebinding) cannot reach an address that was never checked. httpx still sees the
URL's own host, so the Host header, SNI and certificate verification are the name's, and
keep-alive connections are pooled per name as usual. A host with no pinned addresses is never
connected to (fail closed); proxies from the environment are ignored for the same reason.
"""

from __future__ import annotations

import contextvars
import socket
from collections.abc import Callable
from typing import Any

import httpcore
import httpx

from wa_notify.domain import callback_urls

Resolver = Callable[[str, int], list[str]]

# host -> the checked addresses for the post in progress (this thread's, or this task's).
_pinned: contextvars.ContextVar[dict[str, list[str]]] = contextvars.ContextVar("callback_pinned", default={})  # noqa: B039 - never mutated


class RefusedAddress(Exception):
    """The URL or an address its host resolves to is not one we post to: permanent."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the host resolves to, in the resolver's order (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedBackend(httpcore.SyncBackend):
    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        addresses = _pinned.get().get(_key(host))
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        errors: list[Exception] = []
        for address in addresses:  # like socket.create_connection: the first that answers
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                errors.append(exc)
        raise errors[-1]  # addresses is not empty: every one of them failed


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport with the pinned network backend under its connection pool."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
            # httpx builds its pool from private httpcore parts; refuse to run unpinned if that changes.
            raise RuntimeError("httpx's connection pool changed: cannot pin callback addresses")
        pool._network_backend = _PinnedBackend()


class CallbackHttp:
    """Posts to callback URLs; `resolver` is injectable so tests never use real DNS."""

    def __init__(self, *, timeout: float, resolver: Resolver | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.resolver = resolver or system_resolver
        # No redirects (OWASP API10: a redirect would go to an unchecked address), no proxy from
        # the environment, a short timeout: a slow platform is retried, not waited for.
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False,
                                   transport=transport or PinnedTransport(trust_env=False))

    def problem(self, url: str, *, allow_local: bool, resolve: bool = True) -> str | None:
        """Why the URL may not be posted to (its form, then what its host resolves to), or
        None. A name that does not resolve is not a problem here: posting will tell."""
        try:
            self._checked_addresses(url, allow_local=allow_local, resolve=resolve)
        except RefusedAddress as exc:
            return str(exc)
        except (OSError, UnicodeError):
            return None
        return None

    def post(self, url: str, *, content: bytes, headers: dict[str, str], allow_local: bool) -> httpx.Response:
        """RefusedAddress if the URL or any address its host resolves to is refused; httpx
        errors (a name that does not resolve is a ConnectError) are the caller's to retry."""
        try:
            host, addresses = self._checked_addresses(url, allow_local=allow_local, resolve=True)
        except (OSError, UnicodeError) as exc:
            raise httpx.ConnectError(f"cannot resolve the callback host: {type(exc).__name__}") from exc
        token = _pinned.set({host: addresses})
        try:
            return self.client.post(url, content=content, headers=headers)
        finally:
            _pinned.reset(token)

    def _checked_addresses(self, url: str, *, allow_local: bool, resolve: bool) -> tuple[str, list[str]]:
        # Judged as httpx parses it (the parser that will connect), and as written (the rules'
        # parser): no difference between two URL parsers can slip a host past the check.
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise RefusedAddress("is not a valid URL") from exc
        reason = (callback_urls.url_problem(url, allow_local=allow_local)
                  or callback_urls.scheme_problem(parsed.scheme, allow_local=allow_local)
                  or callback_urls.host_problem(parsed.host, allow_local=allow_local))
        if reason:
            raise RefusedAddress(reason)
        host = _key(parsed.raw_host.decode("ascii"))  # what the connection pool connects to (IDNA, ASCII)
        if not resolve:
            return host, []
        literal = callback_urls.literal_address(host)
        addresses = [str(literal)] if literal is not None else self.resolver(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        if not addresses:
            raise OSError("no addresses")
        for address in addresses:
            reason = callback_urls.address_problem(address, allow_local=allow_local)
            if reason:
                raise RefusedAddress(f"resolves to {address}, which {reason}")
        return host, addresses


def _key(host: str) -> str:
    return host.strip("[]").lower()
