"""Erasure (LGPD/GDPR): DELETE /v1/contacts/{phone} leaves no copy of the phone or the name in the
table, cancels what was pending, keeps the rest's ids, statuses and times, and resumes when a
first run stopped half way."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.domain.wire import stored_request
from wa_notify.services import erasure

from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_campaigns_and_quota import campaign_body
from tests.functional.test_permissions_in_practice import allowed, calls, granted  # noqa: F401 - calls is a fixture
from tests.functional.test_webhooks_and_statuses import post_webhook, status_event

PHONE, DIGITS = "+886912345678", "886912345678"
NAME = "Zuleika Marquardt"
OTHER, OTHER_NAME = "+886987654321", "Bartholomew Otterley"


def every_item(stack):
    """Every item left in the table, as DynamoDB holds it (moto Scan, all pages), a packed request
    (domain/wire.py: deflated bytes) unpacked to its text, so a name inside it is found."""
    table = stack.deps.store.table
    items, start = [], None
    while True:
        page = table.client.scan(TableName=table.name, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    for item in items:
        if "B" in item.get("request", {}):
            item["request"] = {"S": json.dumps(stored_request(item["request"]["B"]), ensure_ascii=False)}
    return items


def traces(stack, *needles):
    """Items holding any of the needles anywhere (keys, attributes, nested maps), as text."""
    return [json.dumps(i) for i in every_item(stack) if any(n in json.dumps(i, ensure_ascii=False) for n in needles)]


def forms(phone, name):
    """Every form the phone may be stored in: E.164, digits (Meta's wa_id), a wamid's base64, and the name."""
    digits = phone.lstrip("+")
    return phone, digits, base64.b64encode(digits.encode()).decode()[:12], name


def send(api, to, name, send_at=None):
    body = {"to": to, "template": {"name": "order_shipped", "language": "en_US"},
            "params": {"order_id": "A-1001", "first_name": name, "total": {"amount": 1580, "currency": "TWD"},
                       "eta": {"date": "2024-09-07"}},
            "button_params": {"0": "1Z999AA1"}, "metadata": {"customer": name}}
    if send_at:
        body["send_at"] = send_at
    status, answer, _ = api.post("/v1/messages", body)
    assert status == 202, answer
    return answer["id"]


@pytest.fixture
def two_contacts(api, stack):
    """Two contacts, each with a delivered message, a scheduled reminder and an inbound reply."""
    with_callbacks(api, stack)
    api.approved_template()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    ids = {}
    for phone, name in ((PHONE, NAME), (OTHER, OTHER_NAME)):
        assert api.call("PUT", f"/v1/contacts/{phone}", {"name": name, "attributes": {"nickname": name}})[0] == 200
        ids[phone] = {"delivered": send(api, phone, name), "scheduled": send(api, phone, name, later)}
        stack.drain()
        wamid = api.message(ids[phone]["delivered"])["provider_message_id"]
        body = {"from": phone, "text": f"Thanks, {name} here", "context_message_id": wamid}
        assert stack.request("POST", "/_local/sandbox/inbound", body=body)[0] == 202
        stack.drain()
    return ids


def test_erasure_leaves_no_copy_of_the_phone_or_name_and_leaves_other_contacts_alone(api, stack, two_contacts):
    # GIVEN a contact with a delivered message, a scheduled reminder and an inbound text, and another contact alike
    assert traces(stack, *forms(PHONE, NAME))  # stored in many places before
    other_before = [i for i in every_item(stack) if any(n in json.dumps(i, ensure_ascii=False) for n in forms(OTHER, OTHER_NAME))]
    # WHEN the platform erases the first contact (the phone written in digits, as wa_id)
    status, body, _ = api.delete(f"/v1/contacts/{DIGITS}")
    stack.drain()
    # THEN 204, and no item of the table holds the phone in any form, nor the name
    assert status == 204, body
    assert traces(stack, *forms(PHONE, NAME)) == []
    # AND the messages keep ids, statuses and times; the phone became the hash of this erasure
    ids = two_contacts[PHONE]
    delivered, scheduled = api.message(ids["delivered"]), api.message(ids["scheduled"])
    assert delivered["status"] in ("delivered", "read") and scheduled["status"] == "cancelled"
    assert delivered["to"] == scheduled["to"] and delivered["to"].startswith("erased:")
    assert delivered["provider_message_id"] is None and delivered["metadata"] is None
    assert api.get(f"/v1/contacts/{PHONE}")[0] == 404
    # AND the platform heard of the cancel (reason platform, once) and of the erasure (its hash, never the phone)
    cancelled = [c for c in received(stack, "message.cancelled") if c["data"]["id"] == ids["scheduled"]]
    assert [c["data"]["reason"] for c in cancelled] == ["platform"]
    erased = received(stack, "contact.erased")
    assert [e["data"]["phone_hash"] for e in erased] == [delivered["to"]]
    assert not any(n in json.dumps(erased + cancelled) for n in forms(PHONE, NAME))
    # AND the other contact's items are exactly as they were
    other_after = [i for i in every_item(stack) if any(n in json.dumps(i, ensure_ascii=False) for n in forms(OTHER, OTHER_NAME))]
    assert sorted(map(json.dumps, other_after)) == sorted(map(json.dumps, other_before))
    assert api.message(two_contacts[OTHER]["scheduled"])["status"] == "scheduled"


def test_a_later_send_to_the_number_starts_fresh_and_a_repeat_erasure_is_204(api, stack, two_contacts):
    # GIVEN an erased contact
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    # WHEN the platform sends to the number again
    message_id = send(api, PHONE, "Ana")
    stack.drain()
    # THEN it goes to the phone, and nothing of the erased past is found with ?to= or on the contact
    assert api.message(message_id)["to"] == PHONE
    assert "name" not in (api.get(f"/v1/contacts/{PHONE}")[1] or {}) or api.get(f"/v1/contacts/{PHONE}")[1].get("name") is None
    # AND erasing again (or a number never stored) answers 204 again
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    assert api.delete("/v1/contacts/+886900000001")[0] == 204
    assert api.delete("/v1/contacts/12")[0] == 422


def test_an_erasure_stopped_half_way_is_finished_by_the_same_delete(api, stack, two_contacts, monkeypatch):
    # GIVEN an erasure that fails after the messages were scrubbed (deleting the inbound texts)
    repo = stack.deps.store.erasure
    real = repo.delete_inbound

    def outage(*args):
        raise RuntimeError("DynamoDB outage")

    monkeypatch.setattr(repo, "delete_inbound", outage)
    with pytest.raises(RuntimeError):
        erasure.erase(stack.deps, stack.dev_tenant["tenant_id"], PHONE)
    first_hash = api.message(two_contacts[PHONE]["delivered"])["to"]
    assert first_hash.startswith("erased:") and traces(stack, PHONE)  # the inbound text and the contact are still there
    # WHEN the platform sends the same DELETE again
    monkeypatch.setattr(repo, "delete_inbound", real)
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    # THEN nothing is left, every row carries the one hash of this erasure, and one contact.erased went
    assert traces(stack, *forms(PHONE, NAME)) == []
    assert {api.message(m)["to"] for m in two_contacts[PHONE].values()} == {first_hash}
    assert [e["data"]["phone_hash"] for e in received(stack, "contact.erased")] == [first_hash]


def test_every_aws_call_of_an_erasure_is_one_its_function_policy_allows(api, stack, two_contacts, calls):  # noqa: F811 - the fixture
    # GIVEN a contact with messages, a pending one and an inbound text, and the AWS calls watched
    # WHEN the platform erases it and the stream follows
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    # THEN the API and the callback function only made calls their policies allow, ContactIndex included
    grants = granted()
    refused = sorted((fn, action, resource) for fn, action, resource in calls if not allowed(action, resource, grants[fn]))
    assert refused == []
    assert ("ApiFunction", "dynamodb:Query", "Table/index/ContactIndex") in calls
    assert ("ApiFunction", "dynamodb:DeleteItem", "Table") in calls


def test_a_late_status_webhook_after_the_erasure_brings_nothing_back(api, stack):
    # GIVEN a message WhatsApp accepted but has not reported on yet, and its contact erased
    with_callbacks(api, stack)
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = send(api, PHONE, NAME)
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    assert wamid
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    before = api.message(message_id)
    # WHEN Meta's late webhooks arrive (they name the message and carry its wamid)
    for status, at in (("delivered", "4102444800"), ("read", "4102444801")):
        post_webhook(stack, status_event(stack, message_id, wamid, [{"status": status, "timestamp": at, "recipient_id": DIGITS}]))
    stack.drain()
    # THEN the row is as the erasure left it: no wamid, no phone, no new status or time
    assert api.message(message_id) == before and before["provider_message_id"] is None
    assert traces(stack, *forms(PHONE, NAME)) == []


def test_a_campaign_that_named_the_contact_but_sent_it_nothing_forgets_the_number(api, stack):
    # GIVEN an opted-out contact named in a campaign's explicit segment (excluded: no message to it)
    api.approved_template()
    assert api.call("PUT", f"/v1/contacts/{PHONE}", {"name": NAME, "opted_out": True})[0] == 200
    body = {**campaign_body(), "segment": {"contacts": [PHONE, OTHER]}}
    status, created, _ = api.post("/v1/campaigns", body)
    assert status == 202, created
    stack.drain()
    assert traces(stack, PHONE)
    # WHEN the contact is erased
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    # THEN the campaign keeps the other contact and nothing of the erased one is left anywhere
    assert traces(stack, *forms(PHONE, NAME)) == []
    assert [i for i in every_item(stack) if OTHER in json.dumps(i) and i["sk"]["S"] == "CAMPAIGN"]


def test_click_tokens_whose_urls_carry_the_customer_go_with_the_erasure(api, stack):
    # GIVEN click tracking, a template with a tracked URL button and one whose body carries a link,
    # both links naming the customer, one of them clicked
    from tests.functional.test_click_tracking import PLAIN, track

    track(api)
    api.approved_template()
    api.approved_template(PLAIN)
    button = send(api, PHONE, NAME)
    body = {"to": PHONE, "template": {"name": "visit_note", "language": "en_US"},
            "params": {"first_name": NAME, "link": f"https://clinic.example.com/v?who={DIGITS}"}}
    status, text_link, _ = api.post("/v1/messages", body)
    assert status == 202, text_link
    stack.drain()
    assert stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], button).get("click_tokens")
    # (the two go out side by side in one batch: the link's message found by its id, not its place)
    sent = [r for r in stack.sandbox.received(PHONE) if r["request"]["biz_opaque_callback_data"] == text_link["id"]]
    link = sent[0]["request"]["template"]["components"][0]["parameters"][1]["text"]
    assert stack.request("GET", "/r/" + link.rsplit("/r/", 1)[1])[0] == 302
    stack.drain()
    assert any(i["pk"]["S"].startswith("CLICK#") for i in every_item(stack))
    # WHEN the contact is erased
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    stack.drain()
    # THEN its token rows are gone with every other copy of the phone and the name
    assert not any(i["pk"]["S"].startswith("CLICK#") for i in every_item(stack))
    assert traces(stack, *forms(PHONE, NAME)) == []
    assert api.message(text_link["id"])["status"] in ("delivered", "read")


def test_a_message_being_sent_during_the_erasure_is_accepted_without_its_wamid(api, stack):
    # GIVEN a message the sender holds (leased, its request on its way to Meta) when its contact is erased
    api.approved_template()
    message_id = send(api, PHONE, NAME)  # queued, not drained
    tenant_id = stack.dev_tenant["tenant_id"]
    now = stack.deps.now()
    assert stack.deps.store.leases.take(tenant_id, message_id, "lease-1", int(now.timestamp() * 1000) + 60_000, now.isoformat())
    assert api.delete(f"/v1/contacts/{PHONE}")[0] == 204
    # WHEN Meta's answer comes back to the sender (a wamid that carries the number, as Meta's do)
    wamid = "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x0c" + DIGITS.encode()).decode()
    assert stack.deps.store.leases.record_accepted(tenant_id, message_id, wamid, now.isoformat())
    stack.drain()
    # THEN the message is accepted, without the wamid, and nothing of the contact is left
    message = api.message(message_id)
    assert message["provider_message_id"] is None and message["to"].startswith("erased:")
    assert traces(stack, *forms(PHONE, NAME), wamid) == []
