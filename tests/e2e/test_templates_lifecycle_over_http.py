"""Templates a platform already has, and Meta's template lifecycle, over HTTP (issue 15): templates
put on the dev tenant's WABA at the sandbox are imported by POST /v1/templates/sync and send at
once; Meta pausing one (POST /_local/sandbox/template_event) refuses new sends with 409 and holds
a scheduled message until Meta approves it again; disabling it cancels what is held
(template_disabled); each change reaches the platform as template.status_changed."""

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import DEV_API_KEY, wait_for

pytestmark = pytest.mark.e2e

NAME = "e2e_lifecycle_notice"  # nobody else's template in the e2e suites
TEMPLATE = {"name": NAME, "language": "en_US", "status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
            "id": "1300000000000077", "quality_score": {"score": "GREEN", "date": 1764576000},
            "components": [{"type": "BODY", "text": "Hi {{1}}, your visit is on {{2}}.", "example": {"body_text": [["Ana", "Monday"]]}}]}
TO = "+14155550188"  # nobody else's recipient in the e2e suites
SEND = {"to": TO, "template": {"name": NAME, "language": "en_US"}, "params": {"1": "Ana", "2": "Monday"}}



def meta_event(base_url, event, **extra):
    answer = httpx.post(f"{base_url}/_local/sandbox/template_event", json={"name": NAME, "language": "en_US", "event": event, **extra})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["webhook_statuses"]) == {200}


def tick(base_url, minutes):
    """The scheduled functions (the dispatcher) run as if `minutes` from now."""
    at = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    assert httpx.post(f"{base_url}/_local/clock", json={"at": at}, timeout=30).status_code == 200


def test_import_then_send_then_pause_hold_approve_and_disable(base_url):
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {DEV_API_KEY}"}, timeout=10)
    assert client.put("/v1/settings", json={"callback_url": f"{base_url}/_local/callbacks/sink"}).status_code == 200

    # GIVEN a template the platform made at Meta before wa-notify knew it
    assert httpx.put(f"{base_url}/_local/sandbox/templates", json={"templates": [TEMPLATE]}).status_code == 200
    # WHEN the platform syncs, then sends it without registering it
    synced = client.post("/v1/templates/sync")
    sent = client.post("/v1/messages", json=SEND)
    # THEN it was imported as Meta holds it and the message is delivered
    assert synced.status_code == 200, synced.text
    stored = client.get(f"/v1/templates/{NAME}", params={"language": "en_US"}).json()
    assert (stored["status"], stored["quality"], stored["id"]) == ("APPROVED", "GREEN", TEMPLATE["id"])
    assert sent.status_code == 202, sent.text
    first = wait_for(lambda: client.get(f"/v1/messages/{sent.json()['id']}").json(), lambda m: m["status"] in ("delivered", "read"))
    assert first["status"] in ("delivered", "read")
    assert client.post("/v1/templates/sync").json()["imported"] == 0  # a re-run imports nothing new

    # GIVEN a message scheduled two minutes ahead, and Meta pausing the template
    later = client.post("/v1/messages", json={**SEND, "send_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat()})
    assert later.status_code == 202
    meta_event(base_url, "PAUSED")
    # WHEN a new send comes, and the scheduled message's minute comes
    refused = client.post("/v1/messages", json=SEND)
    tick(base_url, 3)
    held = wait_for(lambda: client.get(f"/v1/messages/{later.json()['id']}").json(), lambda m: m.get("held_for"))
    # THEN the send is a 409 naming PAUSED, and the scheduled message is held, not sent
    assert refused.status_code == 409 and "PAUSED" in refused.json()["detail"]
    assert refused.headers["content-type"] == "application/problem+json"
    assert (held["status"], held["held_for"]) == ("scheduled", f"{NAME}#en_US")

    # WHEN Meta approves the template again and the dispatcher's minute comes
    meta_event(base_url, "APPROVED")
    tick(base_url, 10)
    # THEN the held message goes
    released = wait_for(lambda: client.get(f"/v1/messages/{later.json()['id']}").json(), lambda m: m["status"] in ("delivered", "read"))
    assert released["status"] in ("delivered", "read")

    # GIVEN another scheduled message held by a second pause
    last = client.post("/v1/messages", json={**SEND, "send_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat()})
    meta_event(base_url, "PAUSED")
    tick(base_url, 20)
    assert wait_for(lambda: client.get(f"/v1/messages/{last.json()['id']}").json(), lambda m: m.get("held_for")).get("held_for")
    # WHEN Meta disables the template
    meta_event(base_url, "DISABLED")
    # THEN the held message is cancelled with reason template_disabled
    cancelled = client.get(f"/v1/messages/{last.json()['id']}").json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "template_disabled")
    received = [m for m in httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": TO}).json()["messages"]
                if m["request"].get("template", {}).get("name") == NAME]  # other suites may write to TO too
    assert len(received) == 2  # the first message and the released one; never the cancelled one

    # AND each change reached the platform as template.status_changed, in order
    def changes():
        inbox = httpx.get(f"{base_url}/_local/callbacks").json()["callbacks"]
        bodies = [json.loads(c["body"]) for c in inbox if c["status"] == 200]
        return [(b["data"]["previous_status"], b["data"]["status"]) for b in bodies
                if b["type"] == "template.status_changed" and b["data"]["name"] == NAME]

    assert wait_for(changes, lambda c: len(c) >= 4) == [("APPROVED", "PAUSED"), ("PAUSED", "APPROVED"), ("APPROVED", "PAUSED"),
                                                        ("PAUSED", "DISABLED")]
