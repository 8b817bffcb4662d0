"""Opt-out that understands people, over HTTP on the running local stack: "Cancelar" quoted in reply
to a booking's message cancels the booking; the same word answering nothing opts out; a payload
mapped to opt_out in reply_actions opts out."""

import time
from datetime import UTC, datetime

import httpx
import pytest

from infra.examples import demo_events, http_call, load

pytestmark = pytest.mark.e2e


def wait_for(check, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    return check()


def test_cancel_words_in_context_and_out_of_it_and_an_opt_out_payload(base_url):
    # GIVEN a clinic tenant whose booking's confirmation reached the phone
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "clinic-optout"}).json()
    call = http_call(base_url, tenant["api_key"])
    load(call, "clinic")
    phone = "+886955501234"
    status, body = call("POST", "/v1/events", demo_events("clinic", datetime.now(UTC), to=phone)[0])
    assert status == 202, body
    first, pending = body["messages"][0]["id"], [m["id"] for m in body["messages"][1:] if m["status"] == "scheduled"]
    wamid = wait_for(lambda: call("GET", f"/v1/messages/{first}", None)[1].get("provider_message_id"))
    assert wamid and pending

    def inbound(**reply):
        answer = httpx.post(f"{base_url}/_local/sandbox/inbound", json={"from": phone, "phone_number_id": tenant["phone_number_id"], **reply})
        assert answer.status_code == 202

    def opted_out():
        return call("GET", f"/v1/contacts/{phone}", None)[1]["opted_out"]

    # WHEN the customer quotes that message with "Cancelár!"
    inbound(text="Cancelár!", context_message_id=wamid)
    # THEN the booking's reminders are cancelled, and the contact is not opted out
    assert wait_for(lambda: all(call("GET", f"/v1/messages/{m}", None)[1]["status"] == "cancelled" for m in pending))
    time.sleep(0.5)
    assert opted_out() is False

    # WHEN they write "CANCELAR" answering nothing THEN they are out of marketing
    inbound(text="CANCELAR")
    assert wait_for(opted_out) is True

    # GIVEN they opted back in and the tenant maps STOP_UPDATES to opt_out
    inbound(text="start")
    assert wait_for(lambda: opted_out() is False)
    assert call("PUT", "/v1/settings", {"reply_actions": {"STOP_UPDATES": "opt_out"}})[0] == 200
    # WHEN they tap a button carrying it THEN they are out again
    inbound(button={"payload": "STOP_UPDATES", "text": "Stop updates"}, context_message_id=wamid)
    assert wait_for(opted_out) is True
