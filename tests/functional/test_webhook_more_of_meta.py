"""What Meta's webhooks carry beyond text and taps reaches the platform (reference §4.5, §4.6,
§4.8): an inbound media message's id and caption, a location, shared contacts, an order, a
WhatsApp Flow's answers and the ad a chat came from are kept on the stored message and in the
`message.received` callback; a customer who stops (or resumes) marketing in WhatsApp itself
(`user_preferences`) is opted out (or back in); a message with no phone number is counted."""

import json

from wa_notify.domain import signatures

from tests.functional.test_callbacks import received, with_callbacks

CUSTOMER = "886912300088"


def post_signed(stack, field, value):
    payload = {"object": "whatsapp_business_account", "entry": [{"id": stack.dev_tenant["waba_id"], "changes": [{"field": field, "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": stack.dev_tenant["phone_number_id"]},
        **value}}]}]}
    body = json.dumps(payload).encode()
    return stack.request("POST", "/webhooks/whatsapp", body=body, headers={"x-hub-signature-256": signatures.sign(stack.app_secret, body)})


def test_media_location_contacts_order_flow_answers_and_ad_referral_reach_the_platform(api, stack):
    # GIVEN a platform with a callback URL, and a customer's messages of each kind Meta documents
    with_callbacks(api, stack)
    now = str(int(stack.deps.now().timestamp()))
    base = {"from": CUSTOMER, "timestamp": now}
    messages = [
        {**base, "id": "wamid.img", "type": "image", "image": {"id": "1479537139650973", "mime_type": "image/jpeg", "caption": "my receipt"},
         "context": {"forwarded": True}},
        {**base, "id": "wamid.loc", "type": "location", "location": {"latitude": 25.0339, "longitude": 121.5645, "name": "Taipei 101"}},
        {**base, "id": "wamid.card", "type": "contacts", "contacts": [{"name": {"formatted_name": "Sheena"}, "phones": [{"phone": "+1 555 0100", "type": "CELL"}]}]},
        {**base, "id": "wamid.order", "type": "order", "order": {"catalog_id": "cat1", "product_items": [
            {"product_retailer_id": "sku-1", "quantity": 2, "item_price": 9.5, "currency": "USD"}]}},
        {**base, "id": "wamid.flow", "type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {
            "name": "flow", "body": "Sent", "response_json": "{\"date\": \"2026-12-24\"}"}}},
        {**base, "id": "wamid.ad", "type": "text", "text": {"body": "Is this still available?"},
         "referral": {"source_url": "https://fb.me/ad", "source_type": "ad", "source_id": "120", "headline": "Winter sale", "ctwa_clid": "ARA1"}},
    ]
    # WHEN Meta posts them
    status, _, _ = post_signed(stack, "messages", {"contacts": [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}], "messages": messages})
    stack.drain()
    # THEN each callback carries what the platform needs to act on it
    assert status == 200
    data = {c["data"]["wamid"]: c["data"] for c in received(stack, "message.received")}
    assert data["wamid.img"]["media"] == {"id": "1479537139650973", "mime_type": "image/jpeg", "caption": "my receipt"}
    assert data["wamid.img"]["forwarded"] is True
    assert data["wamid.loc"]["location"] == {"latitude": 25.0339, "longitude": 121.5645, "name": "Taipei 101"}
    assert data["wamid.card"]["contacts"] == [{"name": "Sheena", "phones": [{"phone": "+1 555 0100", "type": "CELL"}]}]
    assert data["wamid.order"]["order"] == {"catalog_id": "cat1", "product_items": [
        {"product_retailer_id": "sku-1", "currency": "USD", "quantity": 2, "item_price": 9.5}]}
    assert json.loads(data["wamid.flow"]["flow_response"]["response_json"]) == {"date": "2026-12-24"}
    assert data["wamid.ad"]["referral"]["ctwa_clid"] == "ARA1" and data["wamid.ad"]["text"] == "Is this still available?"
    # AND the stored messages keep them too
    rows = {r["wamid"]: r for r in stack.deps.store.contacts.inbound_for(stack.dev_tenant["tenant_id"], "+" + CUSTOMER)}
    assert rows["wamid.img"]["media"]["id"] == "1479537139650973" and rows["wamid.loc"]["location"]["name"] == "Taipei 101"


def test_a_customer_who_stops_marketing_in_whatsapp_is_opted_out_and_a_late_resume_does_not_undo_a_newer_stop(api, stack):
    # GIVEN a contact, and Meta's user_preferences webhook: the customer stopped marketing messages
    with_callbacks(api, stack)
    now = int(stack.deps.now().timestamp())
    stop = {"wa_id": CUSTOMER, "category": "marketing_messages", "value": "stop", "timestamp": now, "detail": "User requested to stop"}
    # WHEN it arrives
    assert post_signed(stack, "user_preferences", {"user_preferences": [stop]})[0] == 200
    stack.drain()
    # THEN the contact is opted out, and the platform hears it
    assert api.get(f"/v1/contacts/%2B{CUSTOMER}")[1]["opted_out"] is True
    assert [c["data"]["phone"] for c in received(stack, "contact.opted_out")] == ["+" + CUSTOMER]
    # WHEN a resume from before the stop arrives late, then a later one
    post_signed(stack, "user_preferences", {"user_preferences": [{**stop, "value": "resume", "timestamp": now - 60}]})
    assert api.get(f"/v1/contacts/%2B{CUSTOMER}")[1]["opted_out"] is True
    post_signed(stack, "user_preferences", {"user_preferences": [{**stop, "value": "resume", "timestamp": now + 60}]})
    # THEN only the later one opts the contact back in
    assert api.get(f"/v1/contacts/%2B{CUSTOMER}")[1]["opted_out"] is False


def test_a_message_from_a_username_without_a_phone_number_is_counted_not_silently_dropped(api, stack, caplog):
    # GIVEN a message from a customer known only by a username (Meta's 2026 BSUIDs: `from` empty)
    now = str(int(stack.deps.now().timestamp()))
    message = {"from": "", "user_id": "US.1349101", "id": "wamid.bsuid", "timestamp": now, "type": "text", "text": {"body": "hi"}}
    # WHEN Meta posts it
    status, _, _ = post_signed(stack, "messages", {"messages": [message]})
    # THEN it is acknowledged and said in the log (contacts are keyed by phone: it cannot be stored yet)
    assert status == 200
    assert any("inbound message without a phone number dropped" in r.getMessage() for r in caplog.records)


def test_the_customer_s_profile_name_names_a_contact_without_one_and_never_replaces_a_given_one(api, stack):
    # GIVEN a new customer and one the platform named, both writing with their WhatsApp profile names
    named = "886912300099"
    assert api.call("PUT", f"/v1/contacts/%2B{named}", {"name": "Dr. Ana Lima"})[0] == 200
    now = str(int(stack.deps.now().timestamp()))
    messages = [{"from": CUSTOMER, "id": "wamid.p1", "timestamp": now, "type": "text", "text": {"body": "hi"}},
                {"from": named, "id": "wamid.p2", "timestamp": now, "type": "text", "text": {"body": "hi"}}]
    contacts = [{"profile": {"name": "Sheena"}, "wa_id": CUSTOMER}, {"profile": {"name": "Ana"}, "wa_id": named}]
    # WHEN Meta posts their messages
    assert post_signed(stack, "messages", {"contacts": contacts, "messages": messages})[0] == 200
    # THEN the new contact is named Sheena (campaigns' {"contact": "name"} fill with it); the named one keeps its name
    assert api.get(f"/v1/contacts/%2B{CUSTOMER}")[1]["name"] == "Sheena"
    assert api.get(f"/v1/contacts/%2B{named}")[1]["name"] == "Dr. Ana Lima"
