"""What the README promises a newcomer, rule by rule (issue 16): an ISO string's own offset is the
recipient's zone for quiet hours when nothing names one; such a string reaches the customer
localized, not raw; an SMS carries no U+202F that would turn it into UCS-2."""

from datetime import UTC, datetime

import pytest
from wa_notify.domain.fallback import gsm7_safe, sms_segments, sms_text
from wa_notify.domain.flows import plan
from wa_notify.domain.rendering import format_value
from wa_notify.models_templates import parse_flow

from tests.unit.test_flows import CLINIC

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Taipei


def reminder(data):
    flow = parse_flow("clinic", CLINIC)  # quiet hours 21:00-08:00 with no zone of their own
    return {p.step.template: p.send_at for p in plan(flow, data, NOW)}["visit_reminder"]


def test_quiet_hours_read_an_iso_strings_offset_when_no_zone_is_named():
    # GIVEN a visit at 07:30 Taipei given as a plain ISO string, and no zone anywhere
    # WHEN planned THEN the -24 h reminder (07:30 local, quiet) moves to 08:00 Taipei, not to 04:59 (20:59 UTC)
    assert reminder({"visit_at": "2026-11-26T07:30:00+08:00"}) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def test_a_named_zone_still_wins_over_the_strings_offset():
    # GIVEN the same instant but the event names UTC as the recipient's zone
    flow = parse_flow("clinic", CLINIC)
    steps = {p.step.template: p.send_at for p in plan(flow, {"visit_at": "2026-11-26T07:30:00+08:00"}, NOW, timezone="UTC")}
    # WHEN planned THEN quiet hours are UTC's (23:30 UTC is quiet: 20:59 UTC is the nearest allowed minute)
    assert steps["visit_reminder"] == datetime(2026, 11, 24, 20, 59, tzinfo=UTC)


@pytest.mark.parametrize(("value", "language", "shown"), [
    ("2030-01-01T10:00:00+08:00", "en_US", "January 1, 2030, 10:00\u202fAM"),
    ("2030-01-01T10:00+08:00", "pt_BR", "1 de janeiro de 2030 10:00"),
    ("2030-01-01T02:00:00Z", "en_US", "January 1, 2030, 2:00\u202fAM"),
    ("2030-01-01T10:00:00", "en_US", "2030-01-01T10:00:00"),   # no offset: no zone to show it in, left as given
    ("order 2030-01-01T10:00:00+08:00", "en_US", "order 2030-01-01T10:00:00+08:00"),  # only a whole parameter
    ("A-1001", "en_US", "A-1001"),
])
def test_an_iso_string_param_is_localized_like_a_typed_datetime(value, language, shown):
    # GIVEN a parameter passed as text WHEN rendered THEN a whole ISO date-time with offset is localized
    assert format_value(value, language) == shown
    if value.endswith("+08:00") and value.startswith("2030"):
        assert shown == format_value({"datetime": value}, language)


def test_sms_text_is_gsm7_safe_so_a_short_reminder_is_one_segment():
    # GIVEN a body Babel localized (U+202F before AM, U+00A0 in amounts) with an en dash and curly quotes
    body = "Hi Ana, your visit with Dr. Lin is on " + format_value({"datetime": "2030-01-01T10:00:00+08:00"}, "en_US") \
        + " \u2013 room 3B. Total: 1\u00a0580,00\u00a0\u20ac. Reply \u201cCANCEL\u201d to cancel."
    assert "\u202f" in body and sms_segments(body) == 2  # as it was: UCS-2, 67 a segment
    # WHEN it becomes the SMS THEN no character forces UCS-2, and it fits one 160-character segment
    text = sms_text("Visit reminder", body, "Lucky Clinic")
    assert "\u202f" not in text and "\u00a0" not in text and len(text) <= 160
    assert sms_segments(text) == 1
    assert "10:00 AM" in text and '"CANCEL"' in text and "- room 3B" in text and "\u20ac" in text


@pytest.mark.parametrize(("text", "segments"), [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
                                                ("{" * 80, 1), ("{" * 81, 2), ("\u8a02" * 70, 1), ("\u8a02" * 71, 2), ("", 1)])
def test_sms_segments_count_gsm7_and_ucs2_parts(text, segments):
    # GIVEN a text WHEN its parts are counted THEN 160/153 septets (escapes count 2) or 70/67 UCS-2 units
    assert sms_segments(text) == segments


def test_gsm7_safe_leaves_other_scripts_alone():
    # GIVEN Chinese with a full-width space WHEN made safe THEN only the space changes (it stays UCS-2)
    assert gsm7_safe("\u60a8\u597d\u3000\u738b") == "\u60a8\u597d \u738b"


@pytest.mark.parametrize(("value", "reason"), [
    ("9999-12-31T23:59:59-12:00", "datetime is out of range"),
    ("0001-01-01T00:00:00+14:00", "datetime is out of range"),
    ("2030-02-30T10:00:00+08:00", "datetime must be an ISO 8601 date-time"),
])
def test_an_iso_string_param_that_cannot_be_shown_is_refused_not_sent_raw(value, reason):
    # GIVEN a whole ISO date-time with an offset that is out of range or impossible
    # WHEN rendered THEN it is refused like the same typed {datetime} (a 422 naming the param), never sent raw
    with pytest.raises(ValueError, match=reason):
        format_value(value, "en_US")
    with pytest.raises(ValueError, match=reason):
        format_value({"datetime": value}, "en_US")


def test_a_date_time_in_other_digits_is_text_left_as_given():
    # GIVEN the shape of an ISO date-time written in Arabic-Indic digits THEN it is text, not a date-time
    assert format_value("\u0662\u0660\u0663\u0660-01-01T07:30:00+08:00", "en_US") == "\u0662\u0660\u0663\u0660-01-01T07:30:00+08:00"
