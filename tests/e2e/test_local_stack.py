"""End to end: `python -m infra.local` as its own process, driven over HTTP like a platform would."""

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import wait_for

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.e2e



def test_template_registration_and_send_reach_read_within_seconds(base_url, dev_api_key):
    # GIVEN the dev tenant of a freshly started stack, called with the key it was started with
    # (LOCAL_API_KEY), as a platform configured once would call it
    info = httpx.get(f"{base_url}/_local/info").json()
    assert {"tenant_id", "phone_number_id", "app_secret", "verify_token"} <= set(info)
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {dev_api_key}"}, timeout=10)
    assert client.get("/v1/templates").status_code == 200
    assert httpx.get(f"{base_url}/v1/templates", headers={"Authorization": "Bearer wan_e2e_other_key"}).status_code == 401
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    # WHEN a template is registered and a message sent
    created = client.post("/v1/templates", json=template)
    assert created.status_code == 201, created.text
    approved = wait_for(lambda: client.get("/v1/templates/order_shipped", params={"language": "en_US"}).json(),
                        lambda t: t["status"] == "APPROVED")
    assert approved["status"] == "APPROVED"
    started = time.monotonic()
    message = json.loads((ROOT / "events/api/create_message.json").read_text())
    accepted = client.post("/v1/messages", json=message, headers={"Idempotency-Key": "e2e-1"})
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["id"]
    # THEN it reaches read within seconds, and the sandbox phone shows exactly what was sent
    # (the sandbox posts each status as its own webhook: under load `read` may land before
    # `delivered`, which is then only added to the history, so wait for both)
    final = wait_for(lambda: client.get(f"/v1/messages/{message_id}").json(),
                     lambda m: m["status"] == "read" and "delivered" in {h["status"] for h in m["history"]})
    assert final["status"] == "read", final
    assert time.monotonic() - started < 10
    assert [h["status"] for h in final["history"]][-3:] == ["sent", "delivered", "read"]
    phone = httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": "+886912345678"}).json()["messages"]
    assert len(phone) == 1 and phone[0]["id"] == final["provider_message_id"]
    assert phone[0]["request"]["biz_opaque_callback_data"] == message_id
    assert [s["status"] for s in phone[0]["statuses"]] == ["sent", "delivered", "read"]
    # AND the same key and body is the same message, a different body a conflict
    assert client.post("/v1/messages", json=message, headers={"Idempotency-Key": "e2e-1"}).json()["id"] == message_id
    assert client.post("/v1/messages", json={**message, "priority": "bulk"}, headers={"Idempotency-Key": "e2e-1"}).status_code == 409


def test_another_tenant_sees_nothing(base_url):
    info = httpx.get(f"{base_url}/_local/info").json()
    other = httpx.post(f"{base_url}/_local/tenants", json={"name": "clinic"})
    assert other.status_code == 201 and other.json()["api_key"] != info["api_key"]
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {other.json()['api_key']}"})
    assert client.get("/v1/templates").json() == {"items": [], "next": None}
    assert client.get("/v1/templates/order_shipped", params={"language": "en_US"}).status_code == 404


def test_sandbox_config_auto_status_off_and_our_own_webhook(base_url):
    info = httpx.get(f"{base_url}/_local/info").json()
    assert httpx.put(f"{base_url}/_local/sandbox/config", json={"auto_status": False}).json()["auto_status"] is False
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=10)
    message = json.loads((ROOT / "events/api/create_message.json").read_text())
    message_id = client.post("/v1/messages", json={**message, "to": "+14155550123"}).json()["id"]
    accepted = wait_for(lambda: client.get(f"/v1/messages/{message_id}").json(), lambda m: m["status"] == "accepted")
    assert accepted["status"] == "accepted"
    # an unsigned webhook is refused and changes nothing
    from wa_notify.domain import signatures
    payload = {"object": "whatsapp_business_account", "entry": [{"id": info["waba_id"], "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": info["phone_number_id"]},
        "statuses": [{"id": accepted["provider_message_id"], "status": "delivered", "timestamp": str(int(time.time())),
                      "recipient_id": "14155550123", "biz_opaque_callback_data": message_id}]}}]}]}
    body = json.dumps(payload).encode()
    assert httpx.post(f"{base_url}/webhooks/whatsapp", content=body).status_code == 401
    time.sleep(0.5)
    assert client.get(f"/v1/messages/{message_id}").json()["status"] == "accepted"
    signed = httpx.post(f"{base_url}/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signatures.sign(info["app_secret"], body)})
    assert signed.status_code == 200
    assert wait_for(lambda: client.get(f"/v1/messages/{message_id}").json(), lambda m: m["status"] == "delivered")["status"] == "delivered"
    httpx.put(f"{base_url}/_local/sandbox/config", json={"auto_status": True})


def test_clock_and_inbound_routes(base_url):
    fired = httpx.post(f"{base_url}/_local/clock", json={"at": "2030-01-01T00:00:00Z"})
    assert fired.status_code == 200 and "DispatcherFunction" in fired.json()["results"]
    inbound = httpx.post(f"{base_url}/_local/sandbox/inbound", json={"from": "+886912345678", "text": "hello"})
    assert inbound.status_code == 202 and inbound.json()["webhook_status"] == 200
    assert httpx.post(f"{base_url}/_local/clock", json={"at": "not a time"}).status_code == 422
