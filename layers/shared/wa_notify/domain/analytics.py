"""Analytics for platforms, from daily counters (pure: no I/O).

Counters are kept per tenant, UTC day and template: sent (WhatsApp accepted it), delivered,
read, failed (at send or after), failed_unsent (never accepted), replied, clicked (a message's
first click on a tracked link), and a histogram of
the time from sent to read. The median time to read is read off the histogram, interpolated
inside its bucket: exact medians would need every read time kept, one more write each.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from typing import Any

COUNTERS = ("sent", "delivered", "read", "failed", "failed_unsent", "replied", "clicked")
# Upper bounds (seconds) of the time-to-read buckets; the last bucket is open.
READ_TIME_BOUNDS = (60, 300, 900, 3_600, 3 * 3_600, 6 * 3_600, 12 * 3_600, 86_400, 3 * 86_400)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_RANGE_DAYS = 366


def read_time_bucket(seconds: float) -> str:
    """The counter attribute for one read time, e.g. `ttr_2` for 5 to 15 minutes."""
    return f"ttr_{bisect.bisect_left(READ_TIME_BOUNDS, max(0.0, seconds))}"


def median_from_buckets(buckets: list[int]) -> float | None:
    """Median read time in seconds, interpolated linearly in its bucket; None with no reads.
    In the open last bucket the lower bound is all we know, so that is returned."""
    total = sum(buckets)
    if not total:
        return None
    half = total / 2
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= half:
            low = READ_TIME_BOUNDS[i - 1] if i else 0
            if i >= len(READ_TIME_BOUNDS):
                return float(low)
            return low + (READ_TIME_BOUNDS[i] - low) * ((half - seen) / n)
        seen += n
    return None  # unreachable: the loop ends at the bucket holding the half


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def template_report(template: dict[str, str], counts: dict[str, int]) -> dict[str, Any]:
    """One template's row: counts, rates and the median time to read."""
    c = {k: int(counts.get(k, 0)) for k in COUNTERS}
    attempted = c["sent"] + c["failed_unsent"]
    buckets = [int(counts.get(f"ttr_{i}", 0)) for i in range(len(READ_TIME_BOUNDS) + 1)]
    median = median_from_buckets(buckets)
    return {
        "template": template,
        **{k: c[k] for k in ("sent", "delivered", "read", "failed", "replied", "clicked")},
        "delivery_rate": ratio(c["delivered"], c["sent"]),
        "read_rate": ratio(c["read"], c["sent"]),
        "failure_rate": ratio(c["failed"], attempted),
        "reply_rate": ratio(c["replied"], c["sent"]),
        "click_rate": ratio(c["clicked"], c["sent"]),
        "median_time_to_read_seconds": round(median) if median is not None else None,
    }


def merge(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """Sum daily counter rows ({name, language, <counters>}) per template."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        into = out.setdefault((row["name"], row["language"]), {})
        for key, value in row.items():
            if key in COUNTERS or key.startswith("ttr_"):
                into[key] = into.get(key, 0) + int(value)
    return out


def parse_range(start: str | None, end: str | None, today: date, default_days: int) -> tuple[date, date]:
    """`from`/`to` as ISO dates (inclusive), defaulting to the last `default_days` days.
    Raises ValueError naming the field."""
    from wa_notify.domain.moments import EARLIEST_YEAR, LATEST_YEAR, RANGE_PROBLEM

    try:
        to_day = date.fromisoformat(end) if end else today
    except ValueError as exc:
        raise ValueError("to: expected a date like 2026-11-23") from exc
    # The years every other date of the API takes: `to=0001-01-01` left the default `from` before
    # year 1 (OverflowError, a 500), and no counter is that old or that far ahead.
    if not EARLIEST_YEAR <= to_day.year <= LATEST_YEAR:
        raise ValueError(f"to: {RANGE_PROBLEM}")
    try:
        from_day = date.fromisoformat(start) if start else to_day - timedelta(days=default_days - 1)
    except ValueError as exc:
        raise ValueError("from: expected a date like 2026-11-01") from exc
    if not EARLIEST_YEAR <= from_day.year <= LATEST_YEAR:
        raise ValueError(f"from: {RANGE_PROBLEM}")
    if from_day > to_day:
        raise ValueError("from: must not be after `to`")
    if (to_day - from_day).days >= MAX_RANGE_DAYS:
        raise ValueError(f"from: the range may span at most {MAX_RANGE_DAYS} days")
    return from_day, to_day


def activity_matrix(days: list[dict[str, Any]], zone: Any) -> list[list[int]]:
    """Inbound counts by weekday (Mon first) x hour in `zone`, from per-UTC-day rows
    ({day, h00..h23}). Each UTC hour lands where its start falls in the zone."""
    matrix = [[0] * 24 for _ in WEEKDAYS]
    for row in days:
        day = date.fromisoformat(row["day"])
        for hour in range(24):
            n = int(row.get(f"h{hour:02d}", 0))
            if n:
                local = datetime(day.year, day.month, day.day, hour, tzinfo=UTC).astimezone(zone)
                matrix[local.weekday()][local.hour] += n
    return matrix
