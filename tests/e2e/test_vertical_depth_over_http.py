"""Issue 18's salon and restaurant over HTTP on the running local stack, black box: each event's
own re-visit interval, the points notice, "Not happy" as a rating that escalates, and the text
that answers a customer's Confirm."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from infra.examples import demo_events, http_call, load, read
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

TO = "+14155550118"  # nobody else's recipient in the e2e suites


def tenant_loaded(base_url, *verticals):
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "vertical depth"}).json()
    call = http_call(base_url, tenant["api_key"])
    for vertical in verticals:
        load(call, vertical)
    return tenant, call


def event_of(vertical, event_type, **data):
    event = next(e for e in demo_events(vertical, datetime.now(UTC), to=TO) if e["type"] == event_type)
    return {**event, "data": {**event["data"], **data}}


def phone(base_url, tenant):
    """What the phone received from this tenant's number."""
    messages = httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": TO}).json()["messages"]
    return [m for m in messages if m["phone_number_id"] == tenant["phone_number_id"]]


def tap(base_url, tenant, wamid, label):
    answer = httpx.post(f"{base_url}/_local/sandbox/inbound", json={
        "from": TO, "button": {"payload": label, "text": label}, "context_message_id": wamid, "phone_number_id": tenant["phone_number_id"]})
    assert answer.status_code == 202


def delivered(base_url, call, message):
    """Move the clock to the message's minute; the message once the phone has it."""
    httpx.post(f"{base_url}/_local/clock", json={"at": message["send_at"]})
    return wait_for(lambda: call("GET", f"/v1/messages/{message['id']}", None)[1], lambda m: bool(m.get("provider_message_id")))


def test_salon_revisit_interval_points_and_not_happy_over_http(base_url):
    tenant, call = tenant_loaded(base_url, "salon")
    sink = f"{base_url}/_local/callbacks/sink"
    assert call("PUT", "/v1/settings", {"callback_url": sink})[1]["rating_replies"] == {"Loved it": 5, "It was fine": 3, "Not happy": 1}
    # a cut booked with its own interval: the invitation goes 21 days after the visit, not the colouring's 42
    status, body = call("POST", "/v1/events", {**event_of("salon", "visit.booked", revisit_after="P21D"), "key": "S-e2e-cut"})
    assert status == 202, body
    visit_at = event_of("salon", "visit.booked")["data"]["visit_at"]
    visit = datetime.fromisoformat(visit_at["datetime"]).replace(tzinfo=ZoneInfo(visit_at["timezone"]))
    invitation = next(m for m in body["messages"] if m["template"] == "revisit_invitation")
    assert datetime.fromisoformat(invitation["send_at"].replace("Z", "+00:00")) == visit + timedelta(days=21)
    # a booking without one: 422 problem+json naming the field, nothing planned
    bad = {**event_of("salon", "visit.booked"), "key": "S-e2e-none"}
    bad["data"] = {k: v for k, v in bad["data"].items() if k != "revisit_after"}
    answer = httpx.post(f"{base_url}/v1/events", json=bad, headers={"Authorization": f"Bearer {tenant['api_key']}"})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["data.revisit_after"]
    # the points notice: points and balance on the phone
    assert call("POST", "/v1/events", event_of("salon", "points.earned", points="120", balance="480"))[0] == 202
    texts = wait_for(lambda: [m["text"] for m in phone(base_url, tenant)], lambda t: any("points" in x for x in t))
    assert "Hi Ana, your colouring earned you 120 points. Your balance is now 480 points." in texts
    # the feedback request's "Not happy" is a 1 that escalates
    feedback = delivered(base_url, call, next(m for m in body["messages"] if m["template"] == "salon_feedback"))
    tap(base_url, tenant, feedback["provider_message_id"], "Not happy")
    rated = wait_for(lambda: call("GET", f"/v1/messages/{feedback['id']}", None)[1], lambda m: m.get("rating") is not None)
    assert rated["rating"] == 1

    def escalations():
        bodies = [json.loads(c["body"]) for c in httpx.get(f"{base_url}/_local/callbacks").json()["callbacks"]]
        return [b for b in bodies if b["type"] == "rating.escalation" and b["data"]["message_id"] == feedback["id"]]

    assert wait_for(escalations, bool), "no rating.escalation callback"


def test_restaurant_confirm_tap_is_answered_once_over_http(base_url):
    tenant, call = tenant_loaded(base_url, "restaurant")
    acknowledge = read("restaurant", "flows")["reservation"]["acknowledge"]
    status, body = call("POST", "/v1/events", {**event_of("restaurant", "reservation.booked"), "key": "R-e2e"})
    assert status == 202, body
    reminder = delivered(base_url, call, next(m for m in body["messages"] if m["template"] == "reservation_reminder"))
    # the customer taps Confirm twice: one answer, the flow's confirm text, free inside the window
    tap(base_url, tenant, reminder["provider_message_id"], "Confirm")
    tap(base_url, tenant, reminder["provider_message_id"], "Confirm")
    texts = wait_for(lambda: [m["text"] for m in phone(base_url, tenant)], lambda t: acknowledge["confirm"] in t)
    assert texts.count(acknowledge["confirm"]) == 1
    answer = next(m for m in phone(base_url, tenant) if m["text"] == acknowledge["confirm"])
    assert answer["request"]["type"] == "text"
