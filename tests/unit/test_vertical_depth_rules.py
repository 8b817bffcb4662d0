"""Issue 18's salon and restaurant rules, pure: an offset a data field holds, rating words and
buttons, and the texts that acknowledge a tap."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from wa_notify.domain.conversation import rating
from wa_notify.domain.flows import plan
from wa_notify.domain.problems import Invalid
from wa_notify.models import SettingsRequest
from wa_notify.models_templates import parse_flow

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SALON = {
    "trigger": "visit.booked",
    "steps": [
        {"template": "salon_feedback", "at": {"after": "visit_at", "offset": "PT2H"}},
        {"template": "revisit_invitation", "at": {"after": "visit_at", "offset": {"field": "revisit_after"}}},
    ],
}
VISIT = "2026-11-25T15:00:00+08:00"


def send_times(data):
    return {p.step.template: p.send_at for p in plan(parse_flow("salon_visit", SALON), data, NOW)}


def problems_of(call):
    with pytest.raises(Invalid) as caught:
        call()
    return {p.field: p.message for p in caught.value.problems}


# ---- an offset named by a data field ---------------------------------------------------------

def test_each_event_brings_its_own_revisit_interval():
    # GIVEN a cut (back in three weeks) and a colouring (back in six), booked for the same minute
    cut = send_times({"visit_at": VISIT, "revisit_after": "P21D"})
    colouring = send_times({"visit_at": VISIT, "revisit_after": "P42D"})
    # THEN each invitation is timed from its own event's interval
    assert cut["revisit_invitation"] == datetime(2026, 12, 16, 7, 0, tzinfo=UTC)
    assert colouring["revisit_invitation"] == datetime(2027, 1, 6, 7, 0, tzinfo=UTC)
    # AND the step with a fixed offset is timed exactly as before
    assert cut["salon_feedback"] == colouring["salon_feedback"] == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "message"), [
    (None, "is required by the flow (the ISO 8601 duration a step waits, such as P42D)"),
    ("six weeks", "must be an ISO 8601 duration such as PT24H, PT2H30M or P3D"),
    (42, "must be an ISO 8601 duration such as PT24H, PT2H30M or P3D"),
    ("P2M", "years and months have no fixed length: use days (P30D)"),
    ("P400D", "is longer than a year"),
])
def test_a_missing_or_bad_duration_field_names_the_field(value, message):
    data = {"visit_at": VISIT} | ({} if value is None else {"revisit_after": value})
    assert problems_of(lambda: send_times(data)) == {"data.revisit_after": message}


def test_a_missing_anchor_and_a_missing_duration_are_named_together():
    assert set(problems_of(lambda: send_times({}))) == {"data.visit_at", "data.revisit_after"}


@pytest.mark.parametrize("offset", [{"field": "1x"}, {"field": ""}, {"name": "revisit_after"}, {"field": "a", "default": "P1D"}, 42, ["P1D"]])
def test_a_flow_offset_is_a_duration_or_a_field_reference(offset):
    flow = {**SALON, "steps": [{"template": "t", "at": {"after": "visit_at", "offset": offset}}]}
    assert problems_of(lambda: parse_flow("f", flow)) == {
        "steps[0].at.offset": 'must be an ISO 8601 duration such as PT24H or P3D, or {"field": "<data field holding one>"}'}


# ---- ratings from words and buttons ----------------------------------------------------------

SALON_RATINGS = {"Loved it": 5, "It was fine": 3, "Not happy": 1}


@pytest.mark.parametrize(("payload", "text", "expected"), [
    ("Not happy", "Not happy", 1), (None, "not HAPPY!", 1), ("Loved it", None, 5), ("NOT-HAPPY", "x", 1),
    ("4", "4", 4), ("\u2b50\u2b50", None, 2),  # digits and stars still count
    ("Not sure", "Not sure", None),
])
def test_rating_replies_make_words_and_buttons_ratings(payload, text, expected):
    assert rating(payload, text, SALON_RATINGS) == expected


def test_without_rating_replies_a_word_is_no_rating():
    assert rating("Not happy", "Not happy") is None


@pytest.mark.parametrize(("replies", "field"), [
    ({"Not happy": 0}, "rating_replies.Not happy"),
    ({"Not happy": 6}, "rating_replies.Not happy"),
    ({"Not happy": True}, "rating_replies.Not happy"),
    ({"Not happy": "1"}, "rating_replies.Not happy"),
    ({"Not happy": 1.5}, "rating_replies.Not happy"),
    ({"\U0001F44E": 1}, "rating_replies.\U0001F44E.[key]"),
    ({"": 1}, "rating_replies..[key]"),
    ({"x" * 65: 1}, "rating_replies." + "x" * 65 + ".[key]"),
    ({f"word {i}": 3 for i in range(51)}, "rating_replies"),
    ({"Not happy": 1, "not-happy!": 2}, "rating_replies"),
])
def test_rating_replies_are_validated(replies, field):
    with pytest.raises(ValidationError) as caught:
        SettingsRequest.model_validate({"rating_replies": replies})
    assert {".".join(str(part) for part in e["loc"]) for e in caught.value.errors()} == {field}


def test_rating_replies_that_normalize_alike_with_one_rating_are_fine():
    assert SettingsRequest.model_validate({"rating_replies": {"Not happy": 1, "NOT HAPPY": 1}}).rating_replies == {"Not happy": 1, "NOT HAPPY": 1}


# ---- acknowledging a tap ---------------------------------------------------------------------

ACK_RULE = "must be the text the customer reads: 1 to 4096 characters, not blank, no control characters but line breaks"


def test_acknowledge_texts_are_kept_by_action():
    flow = parse_flow("reservation", {**SALON, "acknowledge": {"confirm": "See you then!", "cancel": "Cancelled.\nHope to see you soon."}})
    assert flow.acknowledge == {"confirm": "See you then!", "cancel": "Cancelled.\nHope to see you soon."}
    assert parse_flow("reservation", SALON).acknowledge == {}


@pytest.mark.parametrize(("acknowledge", "expected"), [
    ({"confirm": ""}, {"acknowledge.confirm": ACK_RULE}),
    ({"cancel": " \n "}, {"acknowledge.cancel": ACK_RULE}),
    ({"reschedule": "x" * 4097}, {"acknowledge.reschedule": ACK_RULE}),
    ({"confirm": "ok\x07"}, {"acknowledge.confirm": ACK_RULE}),
    ({"confirm": 5}, {"acknowledge.confirm": ACK_RULE}),
    ({"opt_out": "Bye"}, {"acknowledge.opt_out": "is not an action a tap can take: acknowledge confirm, cancel or reschedule"}),
    ({}, {"acknowledge": 'must be {"confirm"?, "cancel"?, "reschedule"?: "<text>"} with at least one action'}),
    ("Thanks", {"acknowledge": 'must be {"confirm"?, "cancel"?, "reschedule"?: "<text>"} with at least one action'}),
])
def test_acknowledge_texts_are_validated(acknowledge, expected):
    assert problems_of(lambda: parse_flow("f", {**SALON, "acknowledge": acknowledge})) == expected


def test_an_acknowledgement_may_be_as_long_as_a_whatsapp_text():
    assert len(parse_flow("f", {**SALON, "acknowledge": {"confirm": "x" * 4096}}).acknowledge["confirm"]) == 4096
