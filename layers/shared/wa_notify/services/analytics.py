"""Per-template funnels and inbound activity for platforms, from counters kept as messages move.

Counts are buffered per invocation (per thread: the local stack runs containers as threads)
and written once per batch, one atomic ADD per tenant, day and template: a batch of ten sends
of one campaign costs one write, not ten. The counters are analytics, not state: a container
that dies between a batch and its flush loses that batch's counts, and nothing else depends
on them (message status, quotas and sends never read them).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from wa_notify.domain import analytics as domain
from wa_notify.domain.problems import Invalid, Problem
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, parse_iso

if TYPE_CHECKING:  # the reports are the api's; the sender and status functions only count
    from wa_notify.models import ActivityReport, TemplatesReport

KEEP_DAYS = 400
_local = threading.local()


def _buffer() -> dict[tuple[str, str, tuple[str, str] | None], dict[str, Any]]:
    buffer = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = {}
    return buffer


def reset() -> None:
    """Drop this thread's unflushed counts (a new local stack or test: nothing of the last one)."""
    _local.buffer = {}


def _day(at: str) -> str:
    return at[:10]


def _template_key(template: dict[str, Any] | None) -> tuple[str, str]:
    template = template or {}
    return str(template.get("name") or "free_form"), str(template.get("language") or "-")


def count(tenant_id: str, at: str, template: dict[str, Any] | None, **counts: int) -> None:
    """Add to a template's counters for the UTC day of `at` (an ISO timestamp)."""
    name, language = _template_key(template)
    entry = _buffer().setdefault((tenant_id, _day(at), (name, language)), {"counts": defaultdict(int)})
    for key, n in counts.items():
        entry["counts"][key] += n


def count_read(tenant_id: str, at: str, template: dict[str, Any] | None, sent_at: str | None, *, delivered_too: bool) -> None:
    extra = {"delivered": 1} if delivered_too else {}
    if sent_at:
        seconds = (parse_iso(at) - parse_iso(sent_at)).total_seconds()
        extra[domain.read_time_bucket(seconds)] = 1
    count(tenant_id, at, template, read=1, **extra)


def count_inbound(tenant_id: str, at: str) -> None:
    entry = _buffer().setdefault((tenant_id, _day(at), None), {"counts": defaultdict(int)})
    entry["counts"][f"h{parse_iso(at).hour:02d}"] += 1


def flush(deps: Deps) -> int:
    """Write the buffered counts, one UpdateItem per counter item; returns how many were written.
    A failure is logged and counted, never raised: the batch's real work is already done."""
    buffer = _buffer()
    items, _local.buffer = list(buffer.items()), {}
    expires_at = int((deps.now() + timedelta(days=KEEP_DAYS)).timestamp())
    written = 0
    for (tenant_id, day, template), entry in items:
        try:
            deps.store.analytics.add_counters(tenant_id, day, template, dict(entry["counts"]), expires_at)
            written += 1
        except Exception:  # noqa: BLE001 - analytics must never fail a batch whose messages were handled
            logger.exception("analytics counters not written", extra={"day": day, "template": template})
            metrics.add_metric(name="AnalyticsFlushFailed", unit="Count", value=1)
    return written


def _range(deps: Deps, start: str | None, end: str | None, default_days: int) -> tuple[str, str]:
    try:
        first, last = domain.parse_range(start, end, deps.now().date(), default_days)
    except ValueError as exc:
        field, message = str(exc).split(": ", 1)
        raise Invalid([Problem(field, message)]) from exc
    return first.isoformat(), last.isoformat()


def templates_report(deps: Deps, tenant_id: str, start: str | None, end: str | None) -> TemplatesReport:
    """`GET /v1/analytics/templates`: per template over [from, to] (UTC days, inclusive)."""
    from wa_notify.models import TemplatesReport

    first, last = _range(deps, start, end, 30)
    rows = deps.store.analytics.template_rows(tenant_id, first, last)
    merged = domain.merge(rows)
    items = [domain.template_report({"name": name, "language": language}, counts)
             for (name, language), counts in sorted(merged.items())]
    return TemplatesReport.model_validate({"from": first, "to": last, "items": items, "next": None})


def activity_report(deps: Deps, tenant_id: str, start: str | None, end: str | None, timezone: str | None) -> ActivityReport:
    """`GET /v1/analytics/activity`: inbound messages by weekday x hour in `timezone` (default UTC)."""
    from wa_notify.domain.moments import zone_info
    from wa_notify.models import ActivityReport

    zone_name = timezone or "UTC"
    try:
        zone = zone_info(zone_name)
    except ValueError as exc:
        raise Invalid([Problem("timezone", "an IANA time zone such as Asia/Taipei")]) from exc
    first, last = _range(deps, start, end, 28)
    rows = deps.store.analytics.activity_rows(tenant_id, first, last)
    matrix = domain.activity_matrix(rows, zone)
    return ActivityReport.model_validate({"from": first, "to": last, "timezone": zone_name, "weekdays": list(domain.WEEKDAYS),
                                          "hours": list(range(24)), "counts": matrix, "total": sum(map(sum, matrix))})
