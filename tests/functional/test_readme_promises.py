"""What the README promises a newcomer, through the real handlers (issue 16): flow messages show
their billing like direct ones; a plain ISO date-time with no contact zone is timed and shown in
its own offset; an SMS fallback is GSM-7, not UCS-2 because of Babel's U+202F."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from wa_notify.domain.fallback import sms_segments

from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, booking, tomorrow_at
from tests.functional.test_sms_fallback import enable, send, sms_sent

CUSTOMER = "+886912345678"


def clinic(api):
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    assert api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] == 201


def test_flow_messages_carry_their_billing_like_direct_messages(api, stack):
    # GIVEN the clinic flow and a customer who never wrote (no window)
    clinic(api)
    # WHEN a visit is booked
    planned = api.post("/v1/events", booking(tomorrow_at(10)))[1]["messages"]
    # THEN every message shows what Meta will charge: a utility template outside the window is billable
    for m in planned:
        assert api.message(m["id"])["billing"] == {"category": "utility", "type": "regular", "billable": True}
    # AND once the customer wrote, the next booking's confirmation (sent inside the window) is free
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "hi"})[0] == 202
    stack.drain()
    again = api.post("/v1/events", booking(tomorrow_at(11, days=3), key="booking-2"))[1]["messages"]
    assert api.message(again[0]["id"])["billing"] == {"category": "utility", "type": "free_customer_service", "billable": False}
    assert api.message(again[1]["id"])["billing"]["billable"] is True  # the -24 h reminder: the window will have closed


def test_a_plain_iso_visit_with_no_contact_zone_is_timed_and_shown_in_its_own_offset(api, stack):
    # GIVEN the clinic flow (quiet hours 21:00-08:00, no zone) and a contact with no timezone
    clinic(api)
    day = (datetime.now(ZoneInfo("Asia/Taipei")) + timedelta(days=3)).date()
    visit = f"{day.isoformat()}T07:30:00+08:00"
    # WHEN the visit comes as a plain ISO string with Taipei's offset
    status, body, _ = api.post("/v1/events", {"type": "appointment.booked", "key": "iso-1", "to": CUSTOMER,
                                              "data": {"first_name": "Ana", "room": "3B", "visit_at": visit}})
    assert status == 202, body
    reminder = next(m for m in body["messages"] if m["template"] == "visit_reminder")
    # THEN the -24 h reminder (07:30 Taipei, quiet) moves to 08:00 Taipei, not to 04:59 Taipei (UTC's quiet hours)
    at = datetime.fromisoformat(reminder["send_at"].replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Taipei"))
    assert (at.date(), at.hour, at.minute) == (day - timedelta(days=1), 8, 0)
    # AND the confirmation reached the phone with the date localized, not "2030-...T07:30:00+08:00"
    stack.drain()
    text = stack.sandbox.received()[0]["text"]
    assert visit not in text and f"{day.strftime('%B')} {day.day}, {day.year}, 7:30\u202fAM" in text


def test_sms_fallback_text_is_gsm7_one_segment_despite_babels_narrow_spaces(api, stack):
    # GIVEN SMS fallback on, a sample message whose eta is a typed date-time (Babel: "6:30\u202fPM"),
    # and WhatsApp reporting it undeliverable
    api.approved_template()
    enable(api)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    # WHEN it is sent and falls back
    send(api, stack, params={"order_id": "A-1001", "first_name": "Ana", "total": {"amount": 1580, "currency": "TWD"},
                             "eta": {"datetime": "2030-09-07T18:30:00", "timezone": "Asia/Taipei"}})
    # THEN the SMS says 6:30 PM with a plain space, and takes one GSM-7 segment (it took two UCS-2 ones)
    (_, text), = sms_sent()
    assert "6:30 PM" in text and "\u202f" not in text
    assert len(text) > 70 and sms_segments(text) == 1


def test_campaign_messages_carry_the_same_billing_as_direct_ones(api, stack):
    from tests.functional.test_campaigns_and_quota import add_contacts, campaign_body

    # GIVEN a utility template and two vip contacts, one of whom wrote today (window open)
    api.approved_template()
    add_contacts(api, ["+14155550001", "+14155550002"])
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": "+14155550002", "text": "hi"})[0] == 202
    stack.drain()
    # WHEN a campaign sends it to both
    status, created, _ = api.post("/v1/campaigns", campaign_body())
    assert status == 202, created
    stack.drain()
    items = api.get(f"/v1/messages?campaign={created['id']}")[1]["items"]
    # THEN each message shows Meta's billing with its type: free inside the window, regular outside
    billing = {m["to"]: m["billing"] for m in items}
    assert billing == {"+14155550001": {"category": "utility", "type": "regular", "billable": True},
                       "+14155550002": {"category": "utility", "type": "free_customer_service", "billable": False}}
