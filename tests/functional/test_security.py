"""What a security review tries: another tenant's objects, mass assignment, oversized and deeply
nested bodies, forged webhooks, and secrets or phone numbers in the logs."""

import json
import logging
import re

import pytest
from wa_notify.domain import signatures
from wa_notify.observability import logger

from infra.local.provision import load_template
from tests.functional.conftest import Api, load_event
from tests.functional.test_callbacks import with_callbacks
from tests.functional.test_campaigns_and_quota import campaign_body
from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, booking, tomorrow_at
from tests.functional.test_messages_api import queue_depth
from tests.functional.test_webhooks_and_statuses import post_webhook

CUSTOMER = "+886912345678"


@pytest.fixture
def owned(api, stack):
    """Tenant A's objects, one of each kind, and tenant B with its own key."""
    api.approved_template()  # the campaign's
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    assert api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] in (200, 201)
    planned = api.post("/v1/events", booking(tomorrow_at(10)))[1]["messages"]
    assert api.call("PUT", f"/v1/contacts/{CUSTOMER}", {"name": "Ana", "tags": ["vip"]})[0] in (200, 201)
    status, created, _ = api.post("/v1/campaigns", campaign_body())
    assert status == 202, created["errors"]
    stack.drain()
    template = CLINIC_TEMPLATES[0]
    ids = {"name": template["name"], "language": template["language"], "id": planned[0]["id"], "flow": "clinic_visit",
           "phone": CUSTOMER, "campaign": created["id"]}
    other = stack.create_tenant("intruder")
    return ids, Api(stack, other["api_key"])


def object_routes():
    """Every route of template.yaml with an id in its path."""
    routes = set()
    for resource in load_template()["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event["Type"] == "HttpApi" and "{" in event["Properties"]["Path"]:
                routes.add((event["Properties"]["Method"], event["Properties"]["Path"]))
    return routes


ATTEMPTS = {
    ("GET", "/v1/templates/{name}"): lambda i: f"/v1/templates/{i['name']}?language={i['language']}",
    ("DELETE", "/v1/templates/{name}"): lambda i: f"/v1/templates/{i['name']}?language={i['language']}",
    ("POST", "/v1/templates/{name}/preview"): lambda i: f"/v1/templates/{i['name']}/preview",
    ("GET", "/v1/messages/{id}"): lambda i: f"/v1/messages/{i['id']}",
    ("DELETE", "/v1/messages/{id}"): lambda i: f"/v1/messages/{i['id']}",
    ("GET", "/v1/flows/{name}"): lambda i: f"/v1/flows/{i['flow']}",
    ("DELETE", "/v1/flows/{name}"): lambda i: f"/v1/flows/{i['flow']}",
    ("GET", "/v1/contacts/{phone}"): lambda i: f"/v1/contacts/{i['phone']}",
    ("GET", "/v1/campaigns/{id}"): lambda i: f"/v1/campaigns/{i['campaign']}",
    ("DELETE", "/v1/campaigns/{id}"): lambda i: f"/v1/campaigns/{i['campaign']}",
}
# PUT on a name or a phone is the caller's own upsert: it writes B's object, never A's; DELETE of a
# phone erases B's own contact of that number (204 whether B had one), never A's (checked below).
OWN_UPSERTS = {("PUT", "/v1/flows/{name}"), ("PUT", "/v1/contacts/{phone}"), ("DELETE", "/v1/contacts/{phone}")}
# A phone's timeline is the caller's own contact of that number: B reads B's (empty), never A's.
OWN_READS = {("GET", "/v1/contacts/{phone}/timeline")}
# A tracked link is followed by a customer's browser with no key: the 128-bit token is the
# capability, and another tenant's token only counts on its own message (test_click_tracking.py).
PUBLIC_OBJECT_ROUTES = {("GET", "/r/{token}")}


def test_every_object_route_is_covered_here():
    assert object_routes() == set(ATTEMPTS) | OWN_UPSERTS | OWN_READS | PUBLIC_OBJECT_ROUTES


def test_another_tenants_key_gets_404_and_no_data_on_every_object_route(api, stack, owned):
    ids, intruder = owned
    secret_values = ["Ana", "vip", "scheduled", "APPROVED", "appointment.booked"]  # the ids in a 404 are what B sent; nothing else of A
    for (method, _), path in ((route, build(ids)) for route, build in ATTEMPTS.items()):
        # WHEN tenant B uses tenant A's ids
        body = {"language": ids["language"], "params": {}} if method == "POST" else None
        status, data, headers = intruder.call(method, path, body)
        # THEN 404 in problem+json, with nothing of A's in it
        assert status == 404, (method, path, status, data)
        assert headers["content-type"].startswith("application/problem+json")
        assert not any(v in json.dumps(data) for v in secret_values), (method, path, data)
    # AND A's objects are all still there, untouched
    assert api.get(f"/v1/templates/{ids['name']}?language={ids['language']}")[0] == 200
    assert api.message(ids["id"])["status"] in ("scheduled", "queued", "read")
    assert api.get(f"/v1/flows/{ids['flow']}")[0] == 200
    assert api.get(f"/v1/campaigns/{ids['campaign']}")[1]["status"] != "cancelled"


def test_another_tenants_upserts_and_lists_never_touch_or_show_a(api, stack, owned):
    ids, intruder = owned
    assert intruder.call("PUT", f"/v1/contacts/{CUSTOMER}", {"name": "Mallory"})[0] in (200, 201)
    assert api.get(f"/v1/contacts/{CUSTOMER}")[1]["name"] == "Ana"
    assert intruder.delete(f"/v1/contacts/{CUSTOMER}")[0] == 204
    stack.drain()
    assert api.get(f"/v1/contacts/{CUSTOMER}")[1]["name"] == "Ana"
    assert api.message(ids["id"])["to"] == CUSTOMER
    # A's customer read back by B, by phone: B's own (empty) timeline and messages (issue 16)
    assert intruder.get(f"/v1/contacts/{CUSTOMER}/timeline")[1]["items"] == []
    assert intruder.get(f"/v1/messages?to={CUSTOMER.replace('+', '%2B')}")[1]["items"] == []
    for path in ("/v1/templates", "/v1/flows", "/v1/contacts?tag=vip", "/v1/analytics/templates", "/v1/messages"):
        status, data, _ = intruder.get(path)
        assert status == 200 and all(item.get("name") != "Ana" for item in data["items"]), (path, data)
        assert ids["name"] not in json.dumps(data)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/messages", {**load_event("api/create_message.json"), "tenant_id": "ten_victim"}),
    ("/v1/messages", {**load_event("api/create_message.json"), "status": "delivered"}),
    ("/v1/messages", {**load_event("api/create_message.json"), "provider_message_id": "wamid.forged"}),
    ("/v1/messages", {**load_event("api/create_message.json"), "id": "msg_chosen"}),
    ("/v1/messages", {**load_event("api/create_message.json"), "phone_number_id": "106540352242922"}),
    ("/v1/events", {"type": "appointment.booked", "key": "k", "to": CUSTOMER, "data": {}, "tenant_id": "ten_victim"}),
    ("/v1/campaigns", {**campaign_body(), "status": "done"}),
])
def test_fields_that_try_to_set_tenant_status_or_provider_ids_are_rejected(api, stack, path, body):
    # WHEN a body carries a field the server owns
    status, data, _ = api.post(path, body)
    # THEN 422 names it, and nothing was written
    assert status == 422, data
    assert any(e["field"].split(".")[-1] in body for e in data["errors"]), data
    assert queue_depth(stack, "SendQueueHigh") == 0


def test_settings_cannot_set_the_tenant_or_its_secret(api):
    for field in ({"tenant_id": "ten_victim"}, {"callback_secret": "chosen"}, {"api_key": "wan_x"}):
        status, data, _ = api.call("PUT", "/v1/settings", {"callback_url": "https://platform.example.com/h", **field})
        assert status == 422 and data["errors"][0]["field"] == next(iter(field)), data


def count_aws_calls(stack):
    calls = []
    for client in (stack.deps.store.table.client, stack.deps.queues.client):
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


@pytest.mark.parametrize(("description", "body", "expected"), [
    ("300 KB body", "x" * 300_000, 413),
    ("JSON nested 5,000 deep", "[" * 5000 + "]" * 5000, 422),
    ("an object nested 200 deep in params", {**load_event("api/create_message.json"),
                                             "params": {"a": json.loads('{"x":' * 200 + "1" + "}" * 200)}}, 422),
    ("10,000 params", {**load_event("api/create_message.json"), "params": {f"p{i}": "v" for i in range(10_000)}}, 422),
    ("a 100,000-item list", {**load_event("api/create_message.json"), "params": {"list": list(range(100_000))}}, 413),
    ("500 button params", {**load_event("api/create_message.json"), "button_params": {str(i): "v" for i in range(500)}}, 422),
])
def test_oversized_and_deep_bodies_are_refused_before_any_aws_call(api, stack, description, body, expected):
    # GIVEN the key already known (authentication is cached), so any AWS call would be the body's doing
    api.get("/v1/settings")
    calls = count_aws_calls(stack)
    # WHEN the body is sent
    status, data, headers = api.post("/v1/messages", body)
    # THEN a clear 4xx in problem+json, and neither DynamoDB nor SQS was called
    assert status == expected, (description, data)
    assert headers["content-type"].startswith("application/problem+json")
    assert calls == [], (description, calls)


def test_forged_reserialized_and_unsigned_webhooks_store_nothing(api, stack):
    # GIVEN a sent message and the exact status webhook Meta would post for it
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", load_event("api/create_message.json"))[1]["id"]
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    payload = load_event("webhook/status_batch.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = stack.dev_tenant["phone_number_id"]
    value["statuses"] = [{"id": wamid, "status": "read", "timestamp": "1795428000", "recipient_id": CUSTOMER[1:],
                          "biz_opaque_callback_data": message_id}]
    body = json.dumps(payload).encode()
    before = api.message(message_id)
    attempts = [
        {"header": ""},  # unsigned
        {"secret": "a-guessed-secret"},  # forged with another key
        {"raw": json.dumps(payload, indent=1).encode(), "header": signatures.sign(stack.app_secret, body)},  # re-serialized
        {"raw": body.replace(b'"read"', b'"failed"'), "header": signatures.sign(stack.app_secret, body)},  # tampered
        {"header": signatures.sign(stack.app_secret, body).upper()},  # mangled
    ]
    for kwargs in attempts:
        status, headers, _ = post_webhook(stack, payload, **kwargs)
        assert status == 401 and headers["content-type"] == "application/problem+json", kwargs
    # THEN the message did not move
    stack.drain()
    assert api.message(message_id)["status"] == before["status"] == "accepted"


def test_a_full_run_logs_no_phone_number_token_or_secret(api, stack, caplog, capsys, monkeypatch):
    # GIVEN our logs at their most talkative (libraries at INFO, as in Lambda: botocore's DEBUG
    # dumps whole requests and is never on in production), and every kind of secret in play
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=logger.name)  # ours at DEBUG: the per-message lines are DEBUG
    logger.setLevel("DEBUG")
    try:
        callback_secret = with_callbacks(api, stack)
        for t in CLINIC_TEMPLATES:
            api.approved_template(t)
        api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)
        # WHEN a full day of work runs: events, sends, statuses, an inbound reply, callbacks, a failure
        planned = api.post("/v1/events", booking(tomorrow_at(10)))[1]["messages"]
        stack.drain()
        wamid = api.message(planned[0]["id"])["provider_message_id"]
        stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "see you then", "context_message_id": wamid})
        stack.sandbox.configure({"faults": [{"code": 131026, "mode": "sync"}]})
        api.post("/v1/messages", {**load_event("api/create_message.json"), "to": "+886987654321"})
        stack.drain()
        api.get("/v1/messages/" + planned[0]["id"])
        api.get("/v1/contacts/" + CUSTOMER)
    finally:
        logger.setLevel("WARNING")
    out = capsys.readouterr()
    logs = out.out + out.err + "\n".join(repr(vars(r)) for r in caplog.records)
    assert "accepted by WhatsApp" in logs  # the scan did see the run
    # THEN no phone number in any form, and no key, token or secret
    for phone in (CUSTOMER, "+886987654321"):
        digits = phone[1:]
        assert digits not in logs and digits[-9:] not in logs, phone
    for secret in (api.key, stack.access_token, stack.app_secret, stack.verify_token, callback_secret):
        assert secret not in logs
    assert not re.search(r"Bearer\s+\S{8,}", logs)


def test_a_tenant_appended_to_the_logs_is_gone_with_the_next_request(api, stack):
    from wa_notify.observability import logger

    # GIVEN a request that authenticated a tenant (its id is appended to every log line)
    assert api.get("/v1/templates")[0] == 200
    # WHEN the next request has no key at all
    status, _, _ = api.call("GET", "/v1/health", key=None)
    # THEN its log lines carry no tenant
    assert status == 200 and "tenant_id" not in logger.get_current_keys()
