"""Dependencies of the use cases, built lazily from settings on first use (never at import).

Tests and the local stack swap them with `set_deps`, e.g. to give the Cloud API client an
in-process transport to the sandbox or to fix the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wa_notify.config import Settings, get_settings

if TYPE_CHECKING:
    from wa_notify.adapters.store import Store


def _real_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """The inverse of `iso` (a naive timestamp is taken as UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class Deps:
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    http_transport: Any = None  # httpx transport override (tests); None = real network
    _store: Any = field(default=None, repr=False)
    _queues: Any = field(default=None, repr=False)
    _cloud_api: Any = field(default=None, repr=False)
    _callback_http: Any = field(default=None, repr=False)
    _sms: Any = field(default=None, repr=False)
    callback_transport: Any = None  # httpx transport override for callbacks (tests)
    callback_resolver: Any = None  # (host, port) -> addresses, for callbacks; None = the system's (tests fake DNS)
    sleeper: Callable[[float], None] | None = None

    @property
    def store(self) -> Store:  # imported lazily (and for mypy only) to keep boto3 off the import path
        if self._store is None:
            from wa_notify.adapters.dynamo import Table
            from wa_notify.adapters.store import Store

            self._store = Store(Table(self.settings.table_name), due_shards=self.settings.due_shards)
        return self._store

    @property
    def queues(self):  # noqa: ANN201
        if self._queues is None:
            from wa_notify.adapters.queues import Queues

            s = self.settings
            self._queues = Queues({"high": s.send_queue_high_url, "normal": s.send_queue_normal_url, "bulk": s.send_queue_bulk_url})
        return self._queues

    @property
    def credentials(self):  # noqa: ANN201
        # Not kept here: Powertools caches the secret for 5 minutes, so a rotation is picked up.
        from wa_notify.adapters.credentials import meta_credentials

        return meta_credentials(self.settings)

    def whatsapp_token(self, tenant_id: str, *, phone_number_id: str | None = None, force_fetch: bool = False) -> str:
        """The tenant's WhatsApp access token (its own secret in AWS, cached 5 minutes), or the
        token stored for one of its numbers; `force_fetch` after Meta answers 401 picks up a
        rotated token at once."""
        from wa_notify.adapters.credentials import tenant_access_token

        return tenant_access_token(self.settings, tenant_id, phone_number_id=phone_number_id, force_fetch=force_fetch)

    @property
    def cloud_api(self):  # noqa: ANN201
        if self._cloud_api is None:
            from wa_notify.adapters.cloud_api import CloudApiClient

            s = self.settings
            self._cloud_api = CloudApiClient(
                s.graph_api_base_url,
                connect_timeout=s.http_connect_timeout,
                read_timeout=s.http_read_timeout,
                transport=self.http_transport,
            )
        return self._cloud_api

    @property
    def sms(self):  # noqa: ANN201 - adapters.sms.Sms
        if self._sms is None:
            from wa_notify.adapters.sms import Sms

            self._sms = Sms()
        return self._sms

    @property
    def callback_http(self):  # noqa: ANN201 - adapters.callback_http.CallbackHttp
        if self._callback_http is None:
            from wa_notify.adapters.callback_http import CallbackHttp, system_resolver

            # The resolver is looked up per call, so a test can swap `callback_resolver` later.
            self._callback_http = CallbackHttp(timeout=self.settings.callback_timeout, transport=self.callback_transport,
                                               resolver=lambda host, port: (self.callback_resolver or system_resolver)(host, port))
        return self._callback_http

    def now(self) -> datetime:
        return self.clock()

    def sleep(self, seconds: float) -> None:
        """Real sleep, or the fake clock's: tests replace `sleeper` to advance their clock."""
        (self.sleeper or _real_sleep)(seconds)


def ttl_cached(cache: dict[str, tuple[Any, float]], key: str, ttl: float, load: Callable[[], Any]) -> Any:
    """Per-container cache for lookups that rarely change; misses (None) are not cached."""
    import time

    now = time.monotonic()
    hit = cache.get(key)
    if hit and hit[1] > now:
        return hit[0]
    value = load()
    if value is not None:
        cache[key] = (value, now + ttl)
    return value


def page[Row: Mapping[str, Any]](fetch: Callable[[], tuple[list[Row], str | None]], view: Callable[[Row], Any]) -> dict[str, Any]:
    """`{items, next}` from a store listing; a forged or stale cursor is the client's 422."""
    from wa_notify.domain.problems import Invalid, Problem

    try:
        items, nxt = fetch()
    except ValueError as exc:
        raise Invalid([Problem("cursor", str(exc))]) from exc
    return {"items": readable(items, view), "next": nxt}


def readable[Row: Mapping[str, Any]](items: list[Row], view: Callable[[Row], Any], key: Callable[[Any], str] = str) -> list[Any]:
    """The views of the rows that read; a row that does not (a field missing or of the wrong
    type, written by hand or by an older version) is skipped with a warning, so one bad row
    never fails a whole listing. `key` names the row in the log (a contact's phone is masked).
    Invalid: a stored flow that a rule tightened since it was saved no longer accepts."""
    from wa_notify.domain.problems import Invalid
    from wa_notify.observability import logger

    out = []
    for item in items:
        try:
            out.append(view(item))
        except (LookupError, TypeError, ValueError, AttributeError, Invalid) as exc:
            # The error's type (and a missing key's name) only: a message could quote the row's data.
            logger.warning("stored row skipped: it does not read", extra={
                "pk": item.get("pk"), "sk": key(item.get("sk")), "error": repr(exc)[:100] if isinstance(exc, KeyError) else type(exc).__name__})
    return out


_deps: Deps | None = None


def get_deps() -> Deps:
    global _deps
    if _deps is None:
        _deps = Deps(get_settings())
    return _deps


def set_deps(deps: Deps | None) -> None:
    global _deps
    _deps = deps
