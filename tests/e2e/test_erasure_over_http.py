"""Erasure over HTTP on the running local stack: a contact with a delivered confirmation and pending
reminders is erased; the platform hears message.cancelled and contact.erased; nothing it reads
back shows the phone (issue 16)."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from infra.examples import demo_events, http_call, load
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

PHONE = "+886955501234"



def test_erasing_a_contact_cancels_its_reminders_reports_it_and_leaves_no_phone(base_url):
    # GIVEN a clinic tenant listening for callbacks, and a booking for the contact: a confirmation
    # that goes out, reminders still pending
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "erasure clinic"}).json()
    call = http_call(base_url, tenant["api_key"])
    load(call, "clinic")
    assert call("PUT", "/v1/settings", {"callback_url": f"{base_url}/_local/callbacks/sink"})[0] == 200
    assert call("PUT", f"/v1/contacts/{PHONE}", {"name": "Odalys Verhoeven"})[0] == 200
    status, planned = call("POST", "/v1/events", demo_events("clinic", datetime.now(UTC), to=PHONE)[0])
    assert status == 202, planned
    ids = [m["id"] for m in planned["messages"]]
    first = wait_for(lambda: call("GET", f"/v1/messages/{ids[0]}", None)[1], lambda m: m["status"] in ("delivered", "read"))
    assert first["status"] in ("delivered", "read"), first
    pending = [i for i in ids if call("GET", f"/v1/messages/{i}", None)[1]["status"] == "scheduled"]
    assert pending
    # WHEN the platform erases the contact
    status, _ = call("DELETE", f"/v1/contacts/{PHONE}", None)
    # THEN 204, and the platform hears each pending message cancelled (platform) and the erasure, never the phone
    assert status == 204

    def mine():
        out = []
        for c in httpx.get(f"{base_url}/_local/callbacks").json()["callbacks"]:
            body = json.loads(c["body"])
            if body["type"] == "contact.erased" or body["data"].get("id") in ids:
                out.append(body)
        return out

    erased_hash = None
    for message_id in ids:
        erased_hash = call("GET", f"/v1/messages/{message_id}", None)[1]["to"]
    told = wait_for(mine, lambda cs: any(c["type"] == "contact.erased" and c["data"]["phone_hash"] == erased_hash for c in cs))
    assert sorted(c["data"]["id"] for c in told if c["type"] == "message.cancelled") == sorted(pending)
    assert {c["data"]["reason"] for c in told if c["type"] == "message.cancelled"} == {"platform"}
    assert PHONE.lstrip("+") not in json.dumps(told)
    # AND every message reads back without the phone, and ?to= finds none of them
    for message_id in ids:
        status, message = call("GET", f"/v1/messages/{message_id}", None)
        assert status == 200 and message["to"] == erased_hash and PHONE.lstrip("+") not in json.dumps(message)
    assert call("GET", f"/v1/messages?to=%2B{PHONE.lstrip('+')}", None)[1]["items"] == []
    assert call("GET", f"/v1/contacts/{PHONE}", None)[0] == 404
