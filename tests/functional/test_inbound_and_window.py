"""Inbound messages: stored per contact once, they open the 24 h window that free-form text and free utility pricing need."""

import json
import time

from tests.functional.test_webhooks_and_statuses import post_webhook

CUSTOMER = "+886912345678"


def inbound_event(stack, messages):
    return {"object": "whatsapp_business_account", "entry": [{"id": stack.dev_tenant["waba_id"], "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": stack.dev_tenant["phone_number_id"]},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER[1:]}], "messages": messages}}]}]}


def text(body, wamid="wamid.in1", ts=None):
    return {"from": CUSTOMER[1:], "id": wamid, "timestamp": str(ts or int(time.time())), "type": "text", "text": {"body": body}}


def test_inbound_text_is_stored_once_and_opens_the_window(api, stack):
    # GIVEN a customer who writes (and Meta delivers the webhook twice)
    status, _, _ = stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "Does shipping cost extra?"})
    assert status == 202
    assert post_webhook(stack, stack.sandbox.webhook_log[-1]["payload"])[0] == 200
    stack.drain()
    # THEN the message is stored once, and the window is open
    inbox = stack.deps.store.contacts.inbound_for(stack.dev_tenant["tenant_id"], CUSTOMER)
    assert [(m["type"], m["text"]) for m in inbox] == [("text", "Does shipping cost extra?")]
    contact = stack.deps.store.contacts.get(stack.dev_tenant["tenant_id"], CUSTOMER)
    assert contact["window_expires_at"] > contact["last_inbound_at"]
    # AND free-form text is accepted, billed as free service
    status, body, _ = api.post("/v1/messages", {"to": CUSTOMER, "text": "No, shipping is free."})
    assert status == 202
    stack.drain()
    message = api.message(body["id"])
    assert message["status"] == "read" and message["billing"] == {"category": "service", "type": "free_customer_service", "billable": False}


def test_an_old_message_does_not_open_the_window(api, stack):
    post_webhook(stack, inbound_event(stack, [text("hi", ts=int(time.time()) - 25 * 3600)]))
    stack.drain()
    assert api.post("/v1/messages", {"to": CUSTOMER, "text": "hello"})[0] == 409


def test_a_late_older_webhook_does_not_shorten_the_window(api, stack):
    now = int(time.time())
    post_webhook(stack, inbound_event(stack, [text("new", "wamid.new", now)]))
    post_webhook(stack, inbound_event(stack, [text("old", "wamid.old", now - 3600)]))
    stack.drain()
    contact = stack.deps.store.contacts.get(stack.dev_tenant["tenant_id"], CUSTOMER)
    assert contact["last_inbound_at"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(now)))
    assert len(stack.deps.store.contacts.inbound_for(stack.dev_tenant["tenant_id"], CUSTOMER)) == 2


def test_utility_inside_the_window_is_free_and_marketing_is_not(api, stack, message_body):
    api.approved_template()
    outside = api.post("/v1/messages", message_body)[1]["id"]
    stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "hi"})
    stack.drain()
    inside = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    assert api.message(outside)["billing"] == {"category": "utility", "type": "regular", "billable": True}
    assert api.message(inside)["billing"] == {"category": "utility", "type": "free_customer_service", "billable": False}
    assert api.message(inside)["pricing"]["type"] == "free_customer_service"  # what the sandbox reports back


def test_every_inbound_kind_is_understood(stack):
    messages = [
        {"from": CUSTOMER[1:], "id": "wamid.b", "timestamp": "1", "type": "button", "button": {"payload": "CONFIRM", "text": "Confirm"},
         "context": {"from": "15550000000", "id": "wamid.tpl"}},
        {"from": CUSTOMER[1:], "id": "wamid.i", "timestamp": "2", "type": "interactive",
         "interactive": {"type": "list_reply", "list_reply": {"id": "slot-2", "title": "Tuesday 10:00", "description": "x"}}},
        {"from": CUSTOMER[1:], "id": "wamid.r", "timestamp": "3", "type": "reaction", "reaction": {"message_id": "wamid.tpl", "emoji": "\U0001F44D"}},
    ]
    post_webhook(stack, inbound_event(stack, messages))
    stack.drain()
    inbox = {m["type"]: m for m in stack.deps.store.contacts.inbound_for(stack.dev_tenant["tenant_id"], CUSTOMER)}
    assert inbox["button"]["payload"] == "CONFIRM" and inbox["button"]["context_id"] == "wamid.tpl"
    assert inbox["interactive"]["payload"] == "slot-2" and inbox["interactive"]["reply_type"] == "list_reply"
    assert inbox["reaction"]["emoji"] == "\U0001F44D"
    assert json.dumps(inbox)  # plain JSON, ready for callbacks
