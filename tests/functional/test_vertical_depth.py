"""Issue 18, salon and restaurant, through the real handlers under moto: the re-visit interval
each event gives, the points notice, "Not happy" as a rating, and the text that answers a tap."""

import copy
from datetime import UTC, datetime

import pytest

from infra.examples import demo_events, load, read
from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_examples import in_process

CUSTOMER = "+886912340018"


@pytest.fixture
def call(stack):
    return in_process(stack, stack.dev_tenant["api_key"])


def event_of(vertical, event_type, **data):
    event = next(e for e in demo_events(vertical, datetime.now(UTC), to=CUSTOMER) if e["type"] == event_type)
    return {**event, "data": {**event["data"], **data}}


def at(when):
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def tick_to(stack, when):
    stack.request("POST", "/_local/clock", body={"at": when})
    stack.drain()


def tap(stack, wamid, payload, text=None):
    body = {"from": CUSTOMER, "button": {"payload": payload, "text": text or payload}, "context_message_id": wamid}
    assert stack.request("POST", "/_local/sandbox/inbound", body=body)[0] == 202
    stack.drain()


def phone(stack):
    return [m["text"] for m in stack.sandbox.received(CUSTOMER)]


def sent(stack, call, message_id):
    return call("GET", f"/v1/messages/{message_id}", None)[1]


# ---- salon: the re-visit interval each event gives -------------------------------------------

def test_each_salon_visit_plans_its_revisit_after_its_own_interval(stack, call):
    # GIVEN the salon example (its re-visit step waits {"field": "revisit_after"})
    load(call, "salon", wait=stack.drain)
    # WHEN a cut (back in three weeks) and a colouring (back in six) are booked for the same minute
    plans = {}
    for key, interval in (("S-cut", "P21D"), ("S-colour", "P42D")):
        status, body = call("POST", "/v1/events", {**event_of("salon", "visit.booked", revisit_after=interval), "key": key})
        assert status == 202, body
        plans[key] = {m["template"]: m["send_at"] for m in body["messages"]}
    # THEN each invitation waits its own interval after the visit; the fixed-offset steps are alike
    assert (at(plans["S-colour"]["revisit_invitation"]) - at(plans["S-cut"]["revisit_invitation"])).days == 21
    assert plans["S-cut"]["salon_feedback"] == plans["S-colour"]["salon_feedback"]


@pytest.mark.parametrize(("interval", "message"), [
    (None, "is required by the flow (the ISO 8601 duration a step waits, such as P42D)"),
    ("six weeks", "must be an ISO 8601 duration such as PT24H, PT2H30M or P3D"),
])
def test_a_missing_or_bad_interval_is_422_and_nothing_is_planned(stack, call, interval, message):
    # GIVEN the salon example
    load(call, "salon", wait=stack.drain)
    event = event_of("salon", "visit.booked")
    event["data"] = {k: v for k, v in event["data"].items() if k != "revisit_after"} | ({"revisit_after": interval} if interval else {})
    # WHEN the booking comes without a usable interval
    status, headers, raw = stack.request("POST", "/v1/events", body=event, headers={"authorization": f"Bearer {stack.dev_tenant['api_key']}"})
    # THEN 422 problem+json naming the field, and nothing was written, planned or sent
    assert status == 422 and headers["content-type"] == "application/problem+json"
    assert __import__("json").loads(raw)["errors"] == [{"field": "data.revisit_after", "message": message}]
    stack.drain()
    assert phone(stack) == [] and call("GET", "/v1/messages", None)[1]["items"] == []
    # AND the same booking with its interval plans (no half-recorded event answers for it)
    fixed = {**event, "data": {**event["data"], "revisit_after": "P42D"}}
    assert call("POST", "/v1/events", fixed)[0] == 202


def test_a_flow_offset_must_be_a_duration_or_a_field(stack, call):
    load(call, "salon", wait=stack.drain)
    flow = copy.deepcopy(read("salon", "flows")["salon_visit"])
    flow["steps"][3]["at"]["offset"] = {"field": "revisit after"}
    status, body = call("PUT", "/v1/flows/salon_visit", flow)
    assert status == 422 and [e["field"] for e in body["errors"]] == ["steps[3].at.offset"]
    assert call("GET", "/v1/flows/salon_visit", None)[1]["steps"][3]["at"]["offset"] == {"field": "revisit_after"}  # unchanged


# ---- salon: the points notice ----------------------------------------------------------------

def test_points_earned_sends_the_points_and_the_balance(stack, call):
    load(call, "salon", wait=stack.drain)
    status, body = call("POST", "/v1/events", event_of("salon", "points.earned", points="120", balance="480"))
    assert status == 202 and [m["template"] for m in body["messages"]] == ["loyalty_points"]
    stack.drain()
    assert phone(stack) == ["Hi Ana, your colouring earned you 120 points. Your balance is now 480 points."]


# ---- salon: "Not happy" is a rating -----------------------------------------------------------

@pytest.fixture
def feedback(stack, call):
    """The salon's feedback request ("Loved it" / "It was fine" / "Not happy") on the phone."""
    with_callbacks(type("Api", (), {"call": lambda self, m, p, b: (lambda r: (r[0], r[1], {}))(call(m, p, b))})(), stack)
    load(call, "salon", wait=stack.drain)
    planned = call("POST", "/v1/events", event_of("salon", "visit.booked"))[1]["messages"]
    request = next(m for m in planned if m["template"] == "salon_feedback")
    tick_to(stack, request["send_at"])
    return sent(stack, call, request["id"])


def test_not_happy_counts_as_a_rating_and_escalates(stack, call, feedback):
    # GIVEN the salon's buttons mapped to ratings (the example's settings.json, which load PUTs)
    assert call("GET", "/v1/settings", None)[1]["rating_replies"] == {"Loved it": 5, "It was fine": 3, "Not happy": 1}
    # WHEN the customer taps "Not happy"
    tap(stack, feedback["provider_message_id"], "Not happy")
    # THEN it is stored as a 1 and escalated, like a 1 typed or a face
    assert sent(stack, call, feedback["id"])["rating"] == 1
    assert received(stack, "rating.received")[0]["data"]["rating"] == 1
    assert "rated 1 of 5" in received(stack, "rating.escalation")[0]["data"]["reason"]


def test_loved_it_is_a_rating_that_does_not_escalate(stack, call, feedback):
    tap(stack, feedback["provider_message_id"], "LOVED IT")
    assert sent(stack, call, feedback["id"])["rating"] == 5 and received(stack, "rating.escalation") == []


def test_without_rating_replies_not_happy_is_no_rating(stack, call, feedback):
    assert call("PUT", "/v1/settings", {"rating_replies": None})[1]["rating_replies"] is None
    tap(stack, feedback["provider_message_id"], "Not happy")
    assert sent(stack, call, feedback["id"])["rating"] is None and received(stack, "rating.received") == []


@pytest.mark.parametrize(("replies", "field"), [
    ({"Not happy": 0}, "rating_replies.Not happy"), ({"Not happy": True}, "rating_replies.Not happy"),
    ({"\U0001F44E": 1}, "rating_replies.\U0001F44E.[key]"), ({"Not happy": 1, "not happy!": 2}, "rating_replies"),
])
def test_bad_rating_replies_are_422_naming_the_field_and_change_nothing(stack, replies, field):
    status, headers, raw = stack.request("PUT", "/v1/settings", body={"rating_replies": replies},
                                         headers={"authorization": f"Bearer {stack.dev_tenant['api_key']}"})
    assert status == 422 and headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in __import__("json").loads(raw)["errors"]] == [field]
    assert in_process(stack, stack.dev_tenant["api_key"])("GET", "/v1/settings", None)[1]["rating_replies"] is None


# ---- restaurant: the tap is answered ---------------------------------------------------------

ACK = read("restaurant", "flows")["reservation"]["acknowledge"]


@pytest.fixture
def reminder(stack, call):
    """The restaurant's reminder ("Confirm" / "Cancel") on the phone; the 2 h notice still waits."""
    load(call, "restaurant", wait=stack.drain)
    planned = call("POST", "/v1/events", event_of("restaurant", "reservation.booked"))[1]["messages"]
    request = next(m for m in planned if m["template"] == "reservation_reminder")
    tick_to(stack, request["send_at"])
    notice = next(m for m in planned if m["template"] == "reservation_notice")
    return sent(stack, call, request["id"]), notice


def test_confirm_is_answered_once_inside_the_window_for_free(stack, call, reminder):
    message, _ = reminder
    before = len(phone(stack))
    # WHEN the customer taps Confirm, and again
    tap(stack, message["provider_message_id"], "Confirm")
    tap(stack, message["provider_message_id"], "Confirm")
    # THEN the flow's confirm text answered the first tap only, as free-form service text
    assert phone(stack)[before:] == [ACK["confirm"]]
    answer = next(m for m in call("GET", "/v1/messages", None)[1]["items"] if m.get("text") == ACK["confirm"])
    assert answer["billing"] == {"category": "service", "type": "free_customer_service", "billable": False}
    assert answer["metadata"] == {"acknowledge": "confirm", "flow": "reservation"}


def test_cancel_is_answered_after_the_booking_is_cancelled_and_not_again(stack, call, reminder):
    with_callbacks(type("Api", (), {"call": lambda self, m, p, b: (lambda r: (r[0], r[1], {}))(call(m, p, b))})(), stack)
    message, notice = reminder
    before = len(phone(stack))
    # WHEN the customer taps Cancel
    tap(stack, message["provider_message_id"], "Cancel")
    # THEN the pending notice is cancelled and the cancel text answers, named in the callback
    assert sent(stack, call, notice["id"])["status"] == "cancelled"
    assert phone(stack)[before:] == [ACK["cancel"]]
    event = received(stack, "flow.cancelled_by_customer")[0]["data"]
    assert event["cancelled"] == [notice["id"]] and sent(stack, call, event["acknowledgement"])["text"] == ACK["cancel"]
    # AND a second Cancel, or a Confirm of the cancelled booking, is not answered (nothing changes)
    tap(stack, message["provider_message_id"], "Cancel")
    tap(stack, message["provider_message_id"], "Confirm")
    assert phone(stack)[before:] == [ACK["cancel"]]
    assert "acknowledgement" not in received(stack, "flow.cancelled_by_customer")[1]["data"]


def test_a_rebooked_key_is_answered_again(stack, call, reminder):
    # GIVEN a confirmed reservation
    message, _ = reminder
    tap(stack, message["provider_message_id"], "Confirm")
    # WHEN the restaurant moves it (the key is planned anew) and the customer confirms again
    moved = {**event_of("restaurant", "reservation.booked", party_size="5"), "type": "reservation.changed"}
    assert call("POST", "/v1/events", moved)[0] == 202
    stack.drain()
    tap(stack, message["provider_message_id"], "Confirm")
    # THEN the new booking's confirm is answered too
    assert phone(stack).count(ACK["confirm"]) == 2


def test_a_flow_without_acknowledge_answers_no_tap(stack, call, reminder):
    message, _ = reminder
    flow = {k: v for k, v in read("restaurant", "flows")["reservation"].items() if k != "acknowledge"}
    assert call("PUT", "/v1/flows/reservation", flow)[0] == 200
    before = len(phone(stack))
    tap(stack, message["provider_message_id"], "Confirm")
    tap(stack, message["provider_message_id"], "Cancel")
    assert phone(stack)[before:] == []


@pytest.mark.parametrize(("acknowledge", "field"), [
    ({"confirm": ""}, "acknowledge.confirm"), ({"cancel": "x" * 4097}, "acknowledge.cancel"),
    ({"confirm": "ok\u0000"}, "acknowledge.confirm"), ({"cancelled": "Bye"}, "acknowledge.cancelled"), ({}, "acknowledge"),
])
def test_bad_acknowledge_texts_are_422_naming_the_field(stack, call, acknowledge, field):
    load(call, "restaurant", wait=stack.drain)
    flow = {**read("restaurant", "flows")["reservation"], "acknowledge": acknowledge}
    status, body = call("PUT", "/v1/flows/reservation", flow)
    assert status == 422 and [e["field"] for e in body["errors"]] == [field]
    assert call("GET", "/v1/flows/reservation", None)[1]["acknowledge"] == ACK  # unchanged


def test_a_tap_reported_after_its_window_closed_is_not_answered(stack, call, reminder):
    # GIVEN a Confirm tap that Meta reports 25 hours late (the window it opened has closed)
    from datetime import timedelta

    from wa_notify.services.statuses import handle_reply

    message, _ = reminder
    late = {"from": CUSTOMER, "wamid": "wamid.late", "type": "button", "payload": "Confirm", "text": "Confirm",
            "context_id": message["provider_message_id"],
            "received_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    before = len(phone(stack))
    # WHEN it is handled
    owed = handle_reply(stack.deps, stack.dev_tenant["tenant_id"], late)
    stack.drain()
    # THEN the confirm is still reported, but no free text goes outside the window
    assert [e["type"] for e in owed] == ["flow.confirmed"] and "acknowledgement" not in owed[0]["data"]
    assert phone(stack)[before:] == []
