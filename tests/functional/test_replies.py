"""Replies act on what they answer: cancel / confirm / reschedule a flow, ratings with escalation."""

import pytest

from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, booking, tomorrow_at

CUSTOMER = "+886912345678"


@pytest.fixture
def booked(api, stack):
    with_callbacks(api, stack)
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)
    planned = api.post("/v1/events", booking(tomorrow_at(10)))[1]["messages"]
    stack.drain()
    confirmation = api.message(planned[0]["id"])
    return planned, confirmation


def tap(stack, wamid, payload, text=None):
    body = {"from": CUSTOMER, "button": {"payload": payload, "text": text or payload}, "context_message_id": wamid}
    assert stack.request("POST", "/_local/sandbox/inbound", body=body)[0] == 202
    stack.drain()


def test_tapping_cancel_cancels_the_pending_reminders_of_that_booking(api, stack, booked):
    planned, confirmation = booked
    tap(stack, confirmation["provider_message_id"], "Cancel")
    assert [api.message(m["id"])["status"] for m in planned[1:]] == ["cancelled"] * 3
    event = received(stack, "flow.cancelled_by_customer")[0]["data"]
    assert event["flow"] == {"name": "clinic_visit", "key": "booking-1"} and sorted(event["cancelled"]) == sorted(m["id"] for m in planned[1:])
    reply = received(stack, "message.received")[-1]["data"]
    assert reply["message_id"] == confirmation["id"] and reply["action"] == "cancel"
    assert api.message(confirmation["id"])["reply"]["action"] == "cancel"


def test_confirm_and_reschedule_are_reported_and_change_nothing(api, stack, booked):
    planned, confirmation = booked
    tap(stack, confirmation["provider_message_id"], "CONFIRM_VISIT", "Confirm visit")
    tap(stack, confirmation["provider_message_id"], "Change time")
    assert received(stack, "flow.confirmed")[0]["data"]["flow"]["key"] == "booking-1"
    assert received(stack, "flow.reschedule_requested")[0]["data"]["message_id"] == confirmation["id"]
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"scheduled"}


def test_payload_actions_are_configurable_per_tenant(api, stack, booked):
    planned, confirmation = booked
    api.call("PUT", "/v1/settings", {"reply_actions": {"NOT_COMING": "cancel"}})
    tap(stack, confirmation["provider_message_id"], "NOT_COMING", "I can't make it")
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"cancelled"}


def test_a_plain_text_cancel_without_context_changes_nothing(api, stack, booked):
    planned, _ = booked
    stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "cancel"})
    stack.drain()
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"scheduled"}


@pytest.mark.parametrize(("payload", "stars", "escalated"), [("2", 2, True), ("5", 5, False), ("\u2b50\u2b50\u2b50\u2b50", 4, False),
                                                             ("\U0001F61E", 2, True), ("1 star", 1, True)])
def test_ratings_are_stored_and_low_ones_escalate(api, stack, booked, payload, stars, escalated):
    _, confirmation = booked
    tap(stack, confirmation["provider_message_id"], payload)
    assert api.message(confirmation["id"])["rating"] == stars
    assert received(stack, "rating.received")[0]["data"]["rating"] == stars
    assert bool(received(stack, "rating.escalation")) is escalated
