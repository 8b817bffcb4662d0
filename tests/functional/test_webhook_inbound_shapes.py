"""A signed webhook's inbound message whose parts are not the types Meta documents (a NoSQL-looking
context id, a number for a button's text, a string where an object goes) is acknowledged and
skipped with a warning before anything is stored; the well-formed messages beside it are taken."""

import json

from wa_notify.domain import signatures

CUSTOMER = "886912300077"


def post_signed(stack, messages):
    payload = {"object": "whatsapp_business_account", "entry": [{"id": stack.dev_tenant["waba_id"], "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": stack.dev_tenant["phone_number_id"]},
        "messages": messages}}]}]}
    body = json.dumps(payload).encode()
    return stack.request("POST", "/webhooks/whatsapp", body=body, headers={"x-hub-signature-256": signatures.sign(stack.app_secret, body)})


def test_an_inbound_message_with_parts_of_other_types_is_skipped_before_it_is_stored(api, stack, caplog):
    now = str(int(stack.deps.now().timestamp()))
    messages = [
        {"from": CUSTOMER, "id": "wamid.shape1", "timestamp": now, "type": "text", "text": {"body": "5"}, "context": {"id": {"$ne": 1}}},
        {"from": CUSTOMER, "id": "wamid.shape2", "timestamp": now, "type": "button", "button": {"payload": None, "text": 5}},
        {"from": CUSTOMER, "id": "wamid.good", "timestamp": now, "type": "text", "text": {"body": "hello"}},
    ]
    # WHEN Meta's signature covers messages with parts of the wrong types beside a good one
    status, _, _ = post_signed(stack, messages)
    stack.drain()
    # THEN the webhook is acknowledged, the malformed messages are skipped with a warning and not
    # stored (they were: a row no timeline read takes, its handling failed half way), the good one is taken
    assert status == 200
    assert sum("malformed webhook part skipped" in r.getMessage() for r in caplog.records) == 2
    rows = stack.deps.store.contacts.inbound_for(stack.dev_tenant["tenant_id"], "+" + CUSTOMER)
    assert len(rows) == 1 and rows[0].get("handled_at")
    status, timeline, _ = api.get(f"/v1/contacts/%2B{CUSTOMER}/timeline")
    assert status == 200 and [i["id"] for i in timeline["items"] if i["direction"] == "inbound"] == ["wamid.good"]
