"""Every path that cancels a message raises `message.cancelled` once, with the contract's reason;
an SMS fallback raises `message.fallback` (issue 16: callbacks for everything a platform must know)."""

from datetime import timedelta

import pytest
from wa_notify.services.deps import iso

from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_campaigns_and_quota import add_contacts, campaign_body
from tests.functional.test_flows_and_events import booking, tomorrow_at
from tests.functional.test_opt_out import CUSTOMER, PROMO, PROMO_MESSAGE
from tests.functional.test_replies import booked, tap  # noqa: F401 - booked is a fixture
from tests.functional.test_sms_fallback import RefusingSns, enable, send, sms_sent
from tests.functional.test_template_lifecycle import SEND, meta_event, visit  # noqa: F401 - visit is a fixture


def cancelled(stack, message_id):
    """The reasons of the message.cancelled callbacks the platform got for this message."""
    return [c["data"]["reason"] for c in received(stack, "message.cancelled") if c["data"]["id"] == message_id]


def test_delete_of_a_scheduled_message_raises_message_cancelled_platform_once(api, stack, message_body):
    # GIVEN a scheduled message, and a platform listening
    with_callbacks(api, stack)
    api.approved_template()
    later = (stack.deps.now() + timedelta(days=2)).isoformat()
    message_id = api.post("/v1/messages", {**message_body, "send_at": later})[1]["id"]
    # WHEN the platform cancels it (twice: the second is a 200 that changes nothing)
    assert api.delete(f"/v1/messages/{message_id}")[0] == 200
    assert api.delete(f"/v1/messages/{message_id}")[0] == 200
    stack.drain()
    # THEN one message.cancelled, reason platform, carrying no phone
    assert cancelled(stack, message_id) == ["platform"]
    assert "886912345678" not in str(received(stack, "message.cancelled"))


def test_a_customers_cancel_tap_raises_message_cancelled_customer_for_each_reminder(api, stack, booked):  # noqa: F811
    # GIVEN a booking's confirmation and its three pending reminders
    planned, confirmation = booked
    # WHEN the customer taps Cancel
    tap(stack, confirmation["provider_message_id"], "Cancel")
    # THEN each reminder raised message.cancelled once, reason customer
    assert [cancelled(stack, m["id"]) for m in planned[1:]] == [["customer"]] * 3


def test_a_disabled_template_raises_message_cancelled_template_disabled(visit, stack):  # noqa: F811
    # GIVEN a queued message of a template Meta then disables
    with_callbacks(visit, stack)
    message_id = visit.post("/v1/messages", SEND)[1]["id"]
    meta_event(stack, "DISABLED")
    # WHEN the sender takes it
    stack.drain()
    # THEN message.cancelled, reason template_disabled
    assert cancelled(stack, message_id) == ["template_disabled"]


def test_an_opt_out_before_the_send_raises_message_cancelled_opt_out(api, stack):
    # GIVEN a queued marketing message, then the contact opted out before the sender took it
    with_callbacks(api, stack)
    api.approved_template(PROMO)
    message_id = api.post("/v1/messages", PROMO_MESSAGE)[1]["id"]
    assert api.call("PUT", f"/v1/contacts/{CUSTOMER}", {"opted_out": True})[0] == 200
    # WHEN the sender takes it
    stack.drain()
    # THEN it is cancelled, and the platform heard why: opt_out
    assert api.message(message_id)["status"] == "cancelled"
    assert cancelled(stack, message_id) == ["opt_out"]


@pytest.mark.parametrize(("refusing", "status"), [(False, "sent"), (True, "failed")])
def test_an_sms_fallback_raises_message_fallback_with_its_status(api, stack, refusing, status):
    # GIVEN a tenant with SMS fallback, and WhatsApp reporting the message undeliverable
    with_callbacks(api, stack)
    api.approved_template()
    enable(api)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    if refusing:
        from wa_notify.adapters.sms import Sms

        stack.deps._sms = Sms(client=RefusingSns())
    # WHEN the message fails and its SMS goes
    message_id = send(api, stack)
    # THEN one message.fallback with the SMS's outcome, after the message's failed status
    events = [c for c in received(stack) if (c["data"].get("id") or c["data"].get("message_id")) == message_id]
    fallback = [c["data"] for c in events if c["type"] == "message.fallback"]
    assert fallback == [{"id": message_id, "channel": "sms", "status": status}]
    assert [c["type"] for c in events][-1] == "message.fallback"
    assert status != "sent" or len(sms_sent()) == 1


def test_a_campaign_send_window_that_ends_raises_message_cancelled_send_window_ended(api, stack):
    # GIVEN a campaign whose window closes in a minute, and a sender that only runs after it
    with_callbacks(api, stack)
    api.approved_template()
    add_contacts(api, ["+14155550001"])
    now = stack.deps.now()
    created = api.post("/v1/campaigns", campaign_body(send_window={"end": iso(now + timedelta(minutes=1))}))[1]
    stack.drain(max_rounds=1)
    stack.deps.clock = lambda: now + timedelta(minutes=2)
    # WHEN the send comes up after the window
    stack.drain()
    # THEN its message raised message.cancelled, reason send_window_ended
    reasons = [c["data"]["reason"] for c in received(stack, "message.cancelled")]
    assert reasons == ["send_window_ended"], created


def test_an_event_that_cancels_a_flows_plan_raises_message_cancelled_platform(api, stack, booked):  # noqa: F811
    # GIVEN a booking's pending reminders
    planned, _ = booked
    # WHEN the platform sends the booking's cancel event
    body = {**booking(tomorrow_at(10)), "type": "appointment.cancelled"}
    assert api.post("/v1/events", body)[0] == 202
    stack.drain()
    # THEN each reminder raised message.cancelled once, reason platform
    assert [cancelled(stack, m["id"]) for m in planned[1:]] == [["platform"]] * 3


def test_free_text_whose_window_closed_before_it_went_raises_message_cancelled_window_closed(api, stack):
    # GIVEN a customer who wrote (the window opens) and a free-text answer accepted inside it
    with_callbacks(api, stack)
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "Is my order ready?"})[0] == 202
    stack.drain()
    status, accepted, _ = api.post("/v1/messages", {"to": CUSTOMER, "text": "Yes, pick it up today."})
    assert status == 202, accepted
    # WHEN the sender only gets to it after the 24 h window closed
    later = stack.deps.now() + timedelta(hours=25)
    stack.deps.clock = lambda: later
    stack.drain()
    # THEN it is cancelled, never sent to Meta, and the platform heard why: window_closed
    assert api.message(accepted["id"])["status"] == "cancelled"
    assert stack.sandbox.received(CUSTOMER) == []
    assert cancelled(stack, accepted["id"]) == ["window_closed"]
