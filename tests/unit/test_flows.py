from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.domain.flows import parse_duration, plan
from wa_notify.domain.problems import Invalid
from wa_notify.models_templates import parse_flow

CLINIC = {
    "trigger": "appointment.booked",
    "cancel_on": ["appointment.cancelled"],
    "reschedule_on": ["appointment.moved"],
    "language": "en",
    "quiet_hours": {"start": "21:00", "end": "08:00"},
    "steps": [
        {"template": "booking_confirmed", "at": "now"},
        {"template": "visit_reminder", "at": {"before": "visit_at", "offset": "PT24H"}},
        {"template": "visit_notice", "at": {"before": "visit_at", "offset": "PT2H"}, "urgent": True},
        {"template": "visit_changed", "at": "now", "on": "reschedule"},
        {"template": "survey", "at": {"after": "visit_at", "offset": "PT3H"}},
    ],
}
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Taipei


def planned(data, now=NOW, **kw):
    flow = parse_flow("clinic", CLINIC)
    return {p.step.template: (p.send_at, p.skipped) for p in plan(flow, data, now, **kw)}


@pytest.mark.parametrize(("text", "expected"), [
    ("PT24H", timedelta(hours=24)), ("PT2H30M", timedelta(hours=2, minutes=30)), ("P3D", timedelta(days=3)),
    ("P1W", timedelta(weeks=1)), ("P1DT12H", timedelta(days=1, hours=12)), ("PT90S", timedelta(seconds=90)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["24h", "P", "PT", "P1M", "P1Y", "PT-1H", "P2000D", 5, "P1DT"])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_booking_two_days_ahead_plans_every_step():
    # GIVEN a visit at 10:00 Taipei two days from now
    data = {"visit_at": {"datetime": "2026-11-25T10:00:00", "timezone": "Asia/Taipei"}}
    steps = planned(data)
    # THEN confirmation now, reminders at -24 h and -2 h, survey at +3 h; the change notice is not planned
    assert steps["booking_confirmed"] == (None, None)
    assert steps["visit_reminder"] == (datetime(2026, 11, 24, 2, 0, tzinfo=UTC), None)
    assert steps["visit_notice"] == (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), None)
    assert steps["survey"] == (datetime(2026, 11, 25, 5, 0, tzinfo=UTC), None)
    assert "visit_changed" not in steps


def test_a_booking_made_one_hour_before_gets_no_24h_reminder():
    data = {"visit_at": "2026-11-23T11:00:00+08:00"}  # one hour from now
    steps = planned(data)
    assert steps["visit_reminder"][1] == "its time has passed"
    assert steps["visit_notice"][1] == "its time has passed"
    assert steps["booking_confirmed"] == (None, None)


def test_quiet_hours_move_a_reminder_before_its_anchor_in_the_recipients_zone():
    # GIVEN a visit at 07:30 Taipei: -24 h lands at 07:30, inside 21:00-08:00
    data = {"visit_at": {"datetime": "2026-11-26T07:30:00", "timezone": "Asia/Taipei"}}
    steps = planned(data)
    # THEN it moves to 08:00 that morning (nearer than 20:59 the evening before, and still before the visit)
    assert steps["visit_reminder"] == (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), None)
    # AND the urgent -2 h notice (05:30) stays inside quiet hours
    assert steps["visit_notice"] == (datetime(2026, 11, 25, 21, 30, tzinfo=UTC), None)


def test_quiet_hours_skip_when_no_allowed_time_is_left_before_the_anchor():
    # 23:00 Taipei now; visit at 07:00 tomorrow: -2 h... the 24 h reminder is past, and a
    # non-urgent -1 h step would be 06:00 (quiet), 20:59 is past and 08:00 is after the visit.
    flow = parse_flow("f", {**CLINIC, "steps": [{"template": "t", "at": {"before": "visit_at", "offset": "PT1H"}}]})
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    result = plan(flow, {"visit_at": "2026-11-24T07:00:00+08:00", "timezone": "Asia/Taipei"}, now)
    assert result[0].skipped == "falls in quiet hours with no allowed time before it is due"


def test_after_steps_in_quiet_hours_wait_for_the_morning():
    data = {"visit_at": {"datetime": "2026-11-25T19:00:00", "timezone": "Asia/Taipei"}}  # survey at 22:00
    assert planned(data)["survey"] == (datetime(2026, 11, 26, 0, 0, tzinfo=UTC), None)  # 08:00 Taipei


def test_reschedule_replans_timed_steps_and_adds_the_change_notice():
    data = {"visit_at": {"datetime": "2026-11-27T10:00:00", "timezone": "Asia/Taipei"}}
    steps = planned(data, reschedule=True)
    assert "booking_confirmed" not in steps
    assert steps["visit_changed"] == (None, None)
    assert steps["visit_reminder"][0] == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_missing_or_bad_anchor_names_the_field():
    with pytest.raises(Invalid) as caught:
        planned({"visit_at": "tomorrow"})
    assert {p.field for p in caught.value.problems} == {"data.visit_at"}
    with pytest.raises(Invalid) as caught:
        planned({})
    assert {p.field for p in caught.value.problems} == {"data.visit_at"}


def test_flow_validation_lists_every_problem():
    with pytest.raises(Invalid) as caught:
        parse_flow("x", {"trigger": "", "cancel_on": "nope", "quiet_hours": {"start": "25:00", "end": "8"},
                            "steps": [{"at": {"before": "when", "offset": "24h"}}, {"template": "t", "at": "later", "on": "sometimes"}]})
    fields = {p.field for p in caught.value.problems}
    assert {"trigger", "cancel_on", "quiet_hours.start", "steps[0].template", "steps[1].at", "steps[1].on"} <= fields
    # a flow of the right shape lists every rule that relates its fields at once (the service adds
    # the missing templates to the same list: test_flows_and_events.test_flow_crud_and_validation)
    with pytest.raises(Invalid) as caught:
        parse_flow("x", {"trigger": "a", "cancel_on": ["a"], "steps": [
            {"template": "t", "at": {"before": "when", "offset": "24h"}},
            {"template": {"name": "t", "language": "en"}, "at": {"before": "1x"}, "on": "reschedule"}]})
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("cancel_on", "cannot contain the trigger 'a'"),
        ("steps[0].at.offset", "must be an ISO 8601 duration such as PT24H, PT2H30M or P3D"),
        ("steps[1].at", "must name the data field holding the date-time"),
        ("steps[1].on", "a reschedule step needs reschedule_on event types"),
    ]


def test_quiet_hours_use_the_evening_before_when_the_morning_is_too_late():
    # a -30 min reminder for a 07:45 visit (07:15, quiet): 08:00 is after the visit, so 20:59 the evening before
    flow = parse_flow("f", {**CLINIC, "steps": [{"template": "t", "at": {"before": "visit_at", "offset": "PT30M"}}]})
    result = plan(flow, {"visit_at": "2026-11-25T07:45:00+08:00", "timezone": "Asia/Taipei"}, NOW)
    assert result[0].send_at == datetime(2026, 11, 24, 12, 59, tzinfo=UTC)
    assert result[0].moved_from == datetime(2026, 11, 24, 23, 15, tzinfo=UTC)


def test_shape_problems_are_worded_as_the_flow_rules_always_were():
    # GIVEN a flow with an unknown key, a step with an unknown key and a missing template
    with pytest.raises(Invalid) as caught:
        parse_flow("x", {**CLINIC, "weight": 1, "steps": [{"at": "now", "colour": "red"}]})
    # THEN each is named in our words, not pydantic's ("Extra inputs are not permitted", "Field required")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("steps[0].template", "is required: a template name or {name, language}"),
        ("steps[0].colour", "is not a step field"),
        ("weight", "is not a flow field"),
    ]


@pytest.mark.parametrize("huge", ["P10000000000000000000000000000D", "P99999999999W", "PT99999999999999H", "P1000000000D",
                                  "PT" + "9" * 5000 + "S"])
def test_a_duration_too_large_for_timedelta_is_longer_than_a_year(huge):
    # GIVEN a duration whose number overflows timedelta (or int()'s digit limit)
    # WHEN it is parsed THEN it is refused as longer than a year (a 422), never an OverflowError (a 500)
    with pytest.raises(ValueError, match="is longer than a year"):
        parse_duration(huge)


def test_a_duration_takes_ascii_digits_only():
    # GIVEN "P21D" written with Arabic-Indic digits, which int() would read as 21
    # THEN it is not an ISO 8601 duration
    with pytest.raises(ValueError, match="must be an ISO 8601 duration"):
        parse_duration("P\u0662\u0661D")


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", " \u200b\u200d ", "\u202e", "\u2060\n", "\u3164", "\u2800", "\u115f\u1160", "\u034f"])
def test_an_acknowledgement_of_invisible_characters_only_is_blank(invisible):
    # GIVEN a flow whose Confirm answer holds only zero-width, BOM or bidi characters (the phone shows nothing)
    flow = {**CLINIC, "acknowledge": {"confirm": invisible}}
    # WHEN it is saved THEN it is refused as blank, naming the action
    with pytest.raises(Invalid) as refused:
        parse_flow("clinic", flow)
    assert [p.field for p in refused.value.problems] == ["acknowledge.confirm"]


def test_an_acknowledgement_may_carry_emoji_joined_by_zero_width_joiners():
    flow = parse_flow("clinic", {**CLINIC, "acknowledge": {"confirm": "See you \U0001F469\u200d\u2695\ufe0f"}})
    assert flow.acknowledge["confirm"].startswith("See you")


@pytest.mark.parametrize(("text", "message"), [
    ("P" + "1" * 200_000, "must be an ISO 8601 duration"),
    ("P" + "1" * 200_000 + "D", "is longer than a year"),
    ("P" + "1" * 200_000 + "M", "years and months"),
], ids=["digits", "days", "months"])
def test_a_duration_of_200000_digits_is_judged_at_once(text, message):
    # GIVEN a flow offset (or an event's data.revisit_after) of "P" and 200,000 digits, under the
    # body limit: the years-and-months check backtracked in the square of its length (minutes)
    import time

    started = time.monotonic()
    # WHEN it is parsed THEN it is refused with its reason, in well under a second
    with pytest.raises(ValueError, match=message):
        parse_duration(text)
    assert time.monotonic() - started < 1.0
