"""A cancel word answering a booking's message cancels that booking and leaves marketing consent;
the same word with no such context opts out; a tenant can map a button payload to opt-out."""

import pytest

from tests.functional.test_callbacks import received
from tests.functional.test_opt_out import PROMO, PROMO_MESSAGE
from tests.functional.test_replies import CUSTOMER, booked, tap  # noqa: F401  (booked is a fixture)


def inbound(stack, body):
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, **body})[0] == 202
    stack.drain()


def opted_out(api):
    return api.get(f"/v1/contacts/{CUSTOMER}")[1]["opted_out"]


@pytest.mark.parametrize("how", ["typed", "tapped"])
def test_cancelar_answering_a_reminder_cancels_the_booking_and_keeps_marketing_consent(api, stack, booked, how):  # noqa: F811
    # GIVEN a booking whose confirmation is on the phone and reminders are pending, and a marketing template
    planned, confirmation = booked
    api.approved_template(PROMO)
    # WHEN the customer answers that message with "Cancelar!" (typed as a quoted reply, or a button)
    if how == "typed":
        inbound(stack, {"text": "Cancelár!", "context_message_id": confirmation["provider_message_id"]})
    else:
        tap(stack, confirmation["provider_message_id"], "Cancelar")
    # THEN the booking's reminders are cancelled and the platform told
    assert [api.message(m["id"])["status"] for m in planned[1:]] == ["cancelled"] * 3
    assert received(stack, "flow.cancelled_by_customer")[0]["data"]["flow"]["key"] == "booking-1"
    # AND the contact still receives marketing: no opt-out
    assert opted_out(api) is False and received(stack, "contact.opted_out") == []
    assert api.post("/v1/messages", PROMO_MESSAGE)[0] == 202


def test_cancelar_with_no_context_opts_out_and_leaves_the_booking(api, stack, booked):  # noqa: F811
    # GIVEN a pending booking and a marketing template
    planned, _ = booked
    api.approved_template(PROMO)
    # WHEN the customer writes "CANCELAR" answering nothing
    inbound(stack, {"text": "CANCELAR"})
    # THEN they are out of marketing, and the booking's reminders still wait
    assert opted_out(api) is True
    assert api.post("/v1/messages", PROMO_MESSAGE)[0] == 409
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"scheduled"}


def test_stop_answering_a_reminder_still_opts_out(api, stack, booked):  # noqa: F811
    # GIVEN a booking WHEN the customer answers its message with STOP (not a cancel word)
    planned, confirmation = booked
    inbound(stack, {"text": "stop", "context_message_id": confirmation["provider_message_id"]})
    # THEN they are opted out and the reminders are left alone
    assert opted_out(api) is True
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"scheduled"}


def test_a_reply_actions_payload_mapped_to_opt_out_opts_out(api, stack, booked):  # noqa: F811
    # GIVEN the tenant maps the sample's "Stop updates" payload to opt_out
    planned, confirmation = booked
    status, settings, _ = api.call("PUT", "/v1/settings", {"reply_actions": {"STOP_UPDATES": "opt_out"}})
    assert status == 200 and settings["reply_actions"] == {"STOP_UPDATES": "opt_out"}
    # WHEN the customer taps it
    tap(stack, confirmation["provider_message_id"], "STOP_UPDATES", "Stop updates")
    # THEN they are out of marketing (the platform hears it), and the booking is untouched
    assert opted_out(api) is True
    assert [c["data"]["phone"] for c in received(stack, "contact.opted_out")] == [CUSTOMER]
    assert received(stack, "message.received")[-1]["data"]["action"] == "opt_out"
    assert {api.message(m["id"])["status"] for m in planned[1:]} == {"scheduled"}


def test_a_reply_action_other_than_the_four_is_a_422_naming_it(api):
    # GIVEN / WHEN a mapping to an unknown action THEN 422 naming it, nothing stored
    status, body, _ = api.call("PUT", "/v1/settings", {"reply_actions": {"X": "unsubscribe"}})
    assert status == 422 and "reply_actions" in str(body)
    assert api.get("/v1/settings")[1]["reply_actions"] is None
