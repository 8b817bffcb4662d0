"""A clinic's reminders over HTTP on the running local stack: loaded with the example loader, timed by /_local/clock."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from infra.examples import demo_events, http_call, load

pytestmark = pytest.mark.e2e


def test_a_reminder_goes_out_in_its_minute_not_before_and_once(base_url):
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "clinic"}).json()
    call = http_call(base_url, tenant["api_key"])
    load(call, "clinic")
    event = demo_events("clinic", datetime.now(UTC), to="+886987654321")[0]
    status, body = call("POST", "/v1/events", event)
    assert status == 202
    reminder = next(m for m in body["messages"] if m["template"] == "visit_reminder")
    at = datetime.fromisoformat(reminder["send_at"].replace("Z", "+00:00"))

    def phone():
        return httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": "+886987654321"}).json()["messages"]

    def settle(expected):
        deadline = time.monotonic() + 10
        while len(phone()) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # anything extra would show up now
        return phone()

    assert len(settle(1)) == 1  # the confirmation
    httpx.post(f"{base_url}/_local/clock", json={"at": (at - timedelta(seconds=1)).isoformat()})
    assert len(settle(1)) == 1  # a second before its minute: nothing
    httpx.post(f"{base_url}/_local/clock", json={"at": at.isoformat()})
    httpx.post(f"{base_url}/_local/clock", json={"at": (at + timedelta(seconds=30)).isoformat()})  # a second tick in the minute
    received = settle(2)
    assert len(received) == 2 and "reminder" in received[1]["text"]
    status, message = call("GET", f"/v1/messages/{reminder['id']}", None)
    assert message["status"] == "read"
