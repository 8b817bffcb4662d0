"""The pure rules behind issue 12's value classes: one zone validator, bounded date-times, plain
phone numbers, bounded flow event types and the one-year horizon shared by messages and flows."""

from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.domain import moments
from wa_notify.domain.flows import plan
from wa_notify.domain.phone import to_e164
from wa_notify.domain.problems import Invalid
from wa_notify.domain.rendering import format_value, parse_datetime
from wa_notify.models_templates import parse_flow

from tests.unit.test_flows import CLINIC, NOW


@pytest.mark.parametrize("name", ["A" * 300, "America", "Asia", "zone.tab", "Mars/Base", "../etc/passwd", "/etc/localtime",
                                  "Asia/Taipei/", "", "a\x00b", 5, None, ["UTC"]])
def test_a_name_that_is_not_a_zone_is_one_value_error_whatever_zoneinfo_would_raise(name):
    # GIVEN names zoneinfo answers with OSError, IsADirectoryError, ValueError or KeyError
    # WHEN they are looked up THEN each is the same ValueError, and not valid
    with pytest.raises(ValueError, match="IANA time zone"):
        moments.zone_info(name)
    assert not moments.valid_zone(name)


def test_every_real_zone_is_valid():
    from zoneinfo import available_timezones

    assert [z for z in available_timezones() if not moments.valid_zone(z)] == []


@pytest.mark.parametrize("raw", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "1899-12-31T23:59:59+00:00"])
def test_date_times_outside_the_supported_years_are_refused_before_any_conversion(raw):
    with pytest.raises(ValueError, match="out of range"):
        parse_datetime(raw, "UTC")
    with pytest.raises(ValueError, match="out of range"):
        format_value({"datetime": raw, "timezone": "Asia/Taipei"}, "en")


def test_a_typed_datetime_with_a_hostile_zone_is_a_value_error():
    with pytest.raises(ValueError, match="IANA time zone"):
        format_value({"datetime": "2030-01-01T10:00", "timezone": "A" * 300}, "en")


@pytest.mark.parametrize("raw", ["++886912345678", "+886912345678 ext. 5", "+886912345678;ext=5", "tel:+886912345678",
                                 "call +886912345678", "+1 800 FLOWERS", "\uff0b\uff18\uff18\uff16\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"])
def test_only_plain_phone_numbers_are_taken(raw):
    # phonenumbers reads each of these as +886912345678 (or a vanity number), dropping the rest
    with pytest.raises(ValueError, match="not a phone number"):
        to_e164(raw)


@pytest.mark.parametrize("raw", ["+886912345678", "+886 912 345 678", "+886-912-345-678", "+1 (415) 555-0100", "+(886)912345678", " +886.912.345.678 "])
def test_plain_formats_still_parse(raw):
    assert to_e164(raw) in ("+886912345678", "+14155550100")


@pytest.mark.parametrize(("change", "field"), [
    ({"trigger": "t" * 101}, "trigger"), ({"cancel_on": [""]}, "cancel_on"), ({"cancel_on": ["  "]}, "cancel_on"),
    ({"cancel_on": ""}, "cancel_on"), ({"reschedule_on": {}}, "reschedule_on"), ({"reschedule_on": ["x" * 101]}, "reschedule_on"),
    ({"cancel_on": [f"e{i}" for i in range(21)]}, "cancel_on"),
])
def test_flow_event_types_are_bounded_and_never_empty(change, field):
    with pytest.raises(Invalid) as exc:
        parse_flow("clinic", {**CLINIC, **change})
    assert field in [p.field for p in exc.value.problems]


def test_a_step_past_the_one_year_horizon_is_skipped_and_one_inside_it_is_planned():
    # GIVEN the clinic's flow; the horizon is the one send_at obeys
    flow = parse_flow("clinic", CLINIC)
    horizon = NOW + moments.MAX_AHEAD
    # WHEN the visit is exactly at the horizon (its 24 h reminder is inside, its survey 3 h after is outside)
    out = {p.step.template: p for p in plan(flow, {"visit_at": horizon.isoformat()}, NOW, timezone="Asia/Taipei")}
    # THEN the reminder is planned and the survey skipped with the rule as its reason
    assert out["visit_reminder"].send_at == horizon - timedelta(hours=24) and out["visit_reminder"].skipped is None
    assert out["survey"].send_at is None and "more than a year ahead" in out["survey"].skipped
    assert out["booking_confirmed"].skipped is None


def test_the_horizon_is_a_year():
    assert moments.MAX_AHEAD == timedelta(days=365)
    assert moments.in_range(datetime(2030, 1, 1, tzinfo=UTC)) and not moments.in_range(datetime(1, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("raw", ["+886912345678/../..", "+886912345678/..", "+886912345678//", "+886912345678 ...", "+886912345678-",
                                 "+886912345678    /", "+886\u0669\u0661\u0662345678"])
def test_a_number_with_trailing_separators_or_a_path_is_not_plain(raw):
    # GIVEN /v1/contacts/+886912345678%2F..%2F.. (phonenumbers reads it as +886912345678)
    # THEN it is not a phone number written out: 422 naming phone, not the contact +886912345678
    with pytest.raises(ValueError, match="not a phone number"):
        to_e164(raw)


@pytest.mark.parametrize(("value", "message"), [
    ({"number": "12"}, "must be a JSON number, not text"),  # it said "a finite number below 10^15": true, but not the problem
    ({"number": float("inf")}, "finite number below 10"),
    ({"number": True}, "finite number below 10"),
])
def test_a_number_param_that_is_not_a_json_number_says_what_it_is(value, message):
    # WHEN a {"number": ...} parameter holds text, infinity or a boolean THEN the error says which
    with pytest.raises(ValueError, match=message):
        format_value(value, "en_US")


def test_an_anchor_without_an_offset_or_any_zone_is_refused_not_taken_as_utc():
    # GIVEN the clinic's flow, no zone from the event, contact or data, and a visit at 10:00 with no offset
    flow = parse_flow("clinic", CLINIC)
    # WHEN it is planned / THEN the field is named (it was planned as 10:00 UTC, 18:00 in Taipei)
    with pytest.raises(Invalid) as caught:
        plan(flow, {"visit_at": "2026-11-30T10:00"}, NOW)
    assert [p.field for p in caught.value.problems] == ["data.visit_at"] and "offset" in caught.value.problems[0].message
    # AND with the contact's zone the same text is 10:00 there
    out = {p.step.template: p for p in plan(flow, {"visit_at": "2026-11-30T10:00"}, NOW, timezone="Asia/Taipei")}
    assert out["visit_reminder"].send_at == datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31"])
def test_a_date_outside_the_supported_years_is_refused_as_a_datetime_is(day):
    # GIVEN a {date} the customer would read as "January 1, 1" / WHEN formatted / THEN refused
    with pytest.raises(ValueError, match="out of range"):
        format_value({"date": day}, "en_US")


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "XDR"])
def test_an_iso_code_for_no_currency_is_refused(code):
    # GIVEN a code Babel formats as "¤1.00" or an ounce of gold / WHEN formatted / THEN refused, saying why
    with pytest.raises(ValueError, match="no currency"):
        format_value({"amount": 1, "currency": code}, "en_US")
    assert format_value({"amount": -1580, "currency": "TWD"}, "en_US") == "-NT$1,580.00"  # a refund still shows


def test_direction_overrides_are_refused_in_params_and_contact_names_but_rtl_marks_are_not():
    # GIVEN a value that reads "Ana" backwards through U+202E, and Arabic text with a right-to-left mark
    from wa_notify.domain.rendering import whitespace_problem
    from wa_notify.models import ContactRequest

    # WHEN checked / THEN the override is refused, the mark is fine
    assert "direction overrides" in whitespace_problem("\u202eanA")
    assert whitespace_problem("\u200fشكرا 5") is None
    with pytest.raises(ValueError, match="direction overrides"):
        ContactRequest.model_validate({"name": "\u202eevil"})


@pytest.mark.parametrize(("body", "field"), [
    ({"tags": ["active_7d"]}, "tags"), ({"tags": ["vip", "vip"]}, "tags"),
])
def test_a_contact_tag_the_service_computes_or_given_twice_is_refused(body, field):
    from pydantic import ValidationError
    from wa_notify.models import ContactRequest

    with pytest.raises(ValidationError) as caught:
        ContactRequest.model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("tiers", [[{"tag": "cold", "min_spend": 0}], [{"tag": "gold", "min_spend": 0}, {"tag": "gold", "min_spend": 10}]])
def test_a_value_tier_named_as_a_computed_tag_or_twice_is_refused(tiers):
    # GIVEN a tier that would tag contacts who never wrote "active_7d" (a campaign on it would reach them)
    from pydantic import ValidationError
    from wa_notify.models import SettingsRequest

    with pytest.raises(ValidationError) as caught:
        SettingsRequest.model_validate({"value_tiers": tiers})
    assert caught.value.errors()[0]["loc"][0] == "value_tiers"


def test_a_blank_default_of_a_contact_param_is_refused_naming_it():
    # GIVEN a campaign param filled from the contact's name, with "" for contacts without one
    from wa_notify.domain import audience
    from wa_notify.domain.problems import ProblemList

    problems = ProblemList()
    # WHEN checked / THEN the default is named (the campaign planned nobody and "completed")
    audience.check({"first_name": {"contact": "name", "default": " "}}, problems)
    assert [p.field for p in problems.items] == ["params.first_name.default"]


@pytest.mark.parametrize(("url", "says"), [
    ("https://example.com:0/", "port 0"),
    ("https://" + "a" * 64 + ".example.com/", "not a valid host name"), ("https://kubernetes.default.svc/", "private network"),
    ("https://example.com/\x00", "control characters"), ("https://example.com/a b", "spaces"),
])
def test_callback_urls_that_are_not_a_platform_s_plain_https_url_are_refused(url, says):
    from wa_notify.domain.callback_urls import url_problem

    assert says in (url_problem(url) or "")


@pytest.mark.parametrize(("settings", "field"), [
    ({"business_hours": {"start": "09:00", "end": "09:00"}}, "business_hours"),
    ({"business_hours": {"start": "09:00", "end": "18:00", "days": [1, 1]}}, "business_hours"),
    ({"auto_replies": [{"id": "a", "keywords": ["x"], "reply": "y"}, {"id": "a", "keywords": ["z"], "reply": "w"}]}, "auto_replies"),
    ({"callback_url": "https://example.com/\x00"}, "callback_url"),
])
def test_settings_that_say_nothing_or_two_things_at_once_are_refused(settings, field):
    from pydantic import ValidationError
    from wa_notify.models import SettingsRequest

    with pytest.raises(ValidationError) as caught:
        SettingsRequest.model_validate(settings)
    assert caught.value.errors()[0]["loc"][0] == field


def test_quiet_hours_starting_when_they_end_are_refused():
    with pytest.raises(Invalid) as caught:
        parse_flow("clinic", {**CLINIC, "quiet_hours": {"start": "08:00", "end": "08:00"}})
    assert [p.field for p in caught.value.problems] == ["quiet_hours"]


def test_a_callback_url_s_password_is_masked_when_read_back():
    from wa_notify.domain.callback_urls import shown

    assert shown("https://hooks:s3cret@platform.example.com/wa?x=1") == "https://hooks:***@platform.example.com/wa?x=1"
    assert shown("https://platform.example.com/wa") == "https://platform.example.com/wa" and shown(None) is None


@pytest.mark.parametrize("field", ["language", "default_language"])
def test_a_flow_language_no_template_could_be_in_is_named_as_the_field(field):
    # GIVEN a flow whose language is "zz_ZZ" / WHEN parsed / THEN the field is named (not each step's template)
    with pytest.raises(Invalid) as caught:
        parse_flow("clinic", {**CLINIC, field: "zz_ZZ"})
    assert [p.field for p in caught.value.problems] == [field]


@pytest.mark.parametrize("tags", [["vip", "vip "], ["Active_7D"], ["vip", "VIP"], ["\uff43\uff4f\uff4c\uff44"]])
def test_tags_that_are_almost_surely_a_slip_are_refused(tags):
    # GIVEN spaces around a tag, a computed name in another case or width, a tag twice in two cases
    from pydantic import ValidationError
    from wa_notify.models import ContactRequest

    # WHEN a contact is given them / THEN 422 naming tags
    with pytest.raises(ValidationError) as caught:
        ContactRequest.model_validate({"tags": tags})
    assert caught.value.errors()[0]["loc"][0] == "tags"


def test_invisible_names_and_defaults_count_as_blank():
    # GIVEN a zero-width space as a WhatsApp profile name and as a campaign default
    from wa_notify.domain import audience
    from wa_notify.domain.conversation import inbound_summary, profile_name_of
    from wa_notify.domain.problems import ProblemList

    problems = ProblemList()
    audience.check({"first_name": {"contact": "name", "default": "\u200b"}}, problems)
    # THEN neither names anybody; and a location without a valid point is left out whole
    assert profile_name_of("\u200b") is None and [p.field for p in problems.items] == ["params.first_name.default"]
    assert "location" not in inbound_summary({"type": "location", "location": {"latitude": "abc", "longitude": 500}})
