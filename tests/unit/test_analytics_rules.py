"""The pure analytics rules: read-time buckets, the median off the histogram, ranges, the heatmap."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from wa_notify.domain import analytics as a


def test_read_times_fall_in_their_bucket():
    assert [a.read_time_bucket(s) for s in (0, 59, 60, 61, 3_600, 10 * 86_400, -5)] == ["ttr_0", "ttr_0", "ttr_0", "ttr_1", "ttr_3", "ttr_9", "ttr_0"]


def test_median_is_interpolated_inside_its_bucket():
    # GIVEN 10 reads: 2 under a minute, 8 between 1 and 5 minutes
    buckets = [2, 8] + [0] * 8
    # THEN the 5th read is 3/8 of the way through 60..300 s
    assert a.median_from_buckets(buckets) == pytest.approx(60 + 240 * 3 / 8)
    assert a.median_from_buckets([0] * 10) is None
    assert a.median_from_buckets([0] * 9 + [4]) == 3 * 86_400  # the open bucket: its lower bound


def test_report_rates_use_what_was_attempted():
    row = a.template_report({"name": "t", "language": "en"}, {"sent": 9, "failed_unsent": 1, "failed": 2, "delivered": 6, "read": 3})
    assert (row["delivery_rate"], row["read_rate"], row["failure_rate"]) == (0.6667, 0.3333, 0.2)
    empty = a.template_report({"name": "t", "language": "en"}, {})
    assert empty["delivery_rate"] is None and empty["median_time_to_read_seconds"] is None


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-02-30", None, "from"), (None, "soon", "to"), ("2026-11-05", "2026-11-01", "from"), ("2024-01-01", "2026-01-01", "from")])
def test_bad_ranges_name_their_field(start, end, message):
    with pytest.raises(ValueError, match=f"^{message}:"):
        a.parse_range(start, end, date(2026, 11, 23), 30)


def test_default_range_is_the_last_n_days_inclusive():
    assert a.parse_range(None, None, date(2026, 11, 23), 30) == (date(2026, 10, 25), date(2026, 11, 23))


def test_heatmap_moves_utc_hours_into_the_zone():
    # GIVEN 5 inbound at 23:00 UTC on Sunday 2026-11-22
    rows = [{"day": "2026-11-22", "h23": 5}]
    # THEN in UTC they are Sunday 23h, in Taipei (UTC+8) Monday 07h
    assert a.activity_matrix(rows, ZoneInfo("UTC"))[6][23] == 5
    assert a.activity_matrix(rows, ZoneInfo("Asia/Taipei"))[0][7] == 5


def test_merge_sums_days_per_template():
    rows = [{"name": "t", "language": "en", "day": "2026-11-01", "sent": 2, "ttr_1": 1},
            {"name": "t", "language": "en", "day": "2026-11-02", "sent": 3, "ttr_1": 2},
            {"name": "u", "language": "en", "day": "2026-11-02", "sent": 1}]
    assert a.merge(rows) == {("t", "en"): {"sent": 5, "ttr_1": 3}, ("u", "en"): {"sent": 1}}


@pytest.mark.parametrize(("start", "end", "field"), [
    (None, "0001-01-01", "to"), (None, "0001-01-29", "to"), ("0001-01-01", "0001-01-02", "to"), ("9999-12-31", "9999-12-31", "to"),
    ("1899-12-31", "1900-01-05", "from")])
def test_a_range_outside_the_apis_years_names_its_field_and_never_overflows(start, end, field):
    # GIVEN ?to=0001-01-01 (the default from would fall before year 1: an OverflowError, a 500)
    # THEN a ValueError naming the field, with the years every other date takes
    with pytest.raises(ValueError, match=f"^{field}: is out of range: years 1900 to 9998"):
        a.parse_range(start, end, date(2026, 11, 23), 30)
