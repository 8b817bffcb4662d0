"""Meta's refusals over HTTP (issue 15): the sandbox's per-user marketing limit (131049), enabled
with PUT /_local/sandbox/config, fails marketing sends to one person; wa-notify reports each as
failed with Meta's code and advice, and never retries them."""

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

SALE = {
    "name": "e2e_winter_sale", "language": "en_US", "category": "MARKETING", "parameter_format": "NAMED",
    "components": [{"type": "BODY", "text": "Hi {{first_name}}, the winter sale is on: 30% off boots this week.",
                    "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}],
}
TO = "+14155550177"  # nobody else's recipient in the e2e suites



def test_the_per_user_marketing_limit_is_reported_and_never_retried(base_url):
    # GIVEN a tenant listening for callbacks, an approved MARKETING template, and WhatsApp
    # limiting marketing to one per person per day
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "boots"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    assert client.put("/v1/settings", json={"callback_url": f"{base_url}/_local/callbacks/sink"}).status_code == 200
    assert client.post("/v1/templates", json=SALE).status_code == 201
    assert wait_for(lambda: client.get(f"/v1/templates/{SALE['name']}", params={"language": "en_US"}).json(),
                    lambda t: t["status"] == "APPROVED")["status"] == "APPROVED"
    configured = httpx.put(f"{base_url}/_local/sandbox/config", json={"marketing_per_user_limit": 1})
    assert configured.status_code == 200 and configured.json()["marketing_per_user_limit"] == 1
    try:
        # WHEN three marketing messages go to one person
        ids = []
        for i in range(3):
            accepted = client.post("/v1/messages", json={"to": TO, "template": {"name": SALE["name"], "language": "en_US"},
                                                         "params": {"first_name": "Ana"}, "priority": "bulk", "metadata": {"n": i}})
            assert accepted.status_code == 202, accepted.text
            ids.append(accepted.json()["id"])

        def finals():
            return [client.get(f"/v1/messages/{i}").json() for i in ids]

        done = wait_for(finals, lambda ms: all(m["status"] in ("read", "failed") for m in ms))
        # THEN one is read; two failed with 131049, Meta's title and our advice, on their one attempt
        assert sorted(m["status"] for m in done) == ["failed", "failed", "read"], done
        refused = [m for m in done if m["status"] == "failed"]
        for m in refused:
            assert m["error"]["code"] == 131049 and "healthy ecosystem engagement" in m["error"]["title"]
            assert "at least 24 h" in m["error"]["advice"] and m["attempts"] == 1
        # AND the platform was told, with the code and the advice
        def failed_callbacks():
            out = []
            for c in httpx.get(f"{base_url}/_local/callbacks").json()["callbacks"]:
                body = json.loads(c["body"])
                if body["type"] == "message.status" and body["data"]["status"] == "failed" and body["data"]["message_id"] in ids:
                    out.append(body["data"])
            return out

        told = wait_for(failed_callbacks, lambda cs: len({c["message_id"] for c in cs}) == 2)
        assert {c["message_id"] for c in told} == {m["id"] for m in refused}
        assert all(c["error"]["code"] == 131049 and "24 h" in c["error"]["advice"] for c in told)
        # AND nothing sends them again, not even once the scheduled functions run two days later
        later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        assert httpx.post(f"{base_url}/_local/clock", json={"at": later}).status_code == 200
        time.sleep(1.0)
        phone = httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": TO}).json()["messages"]
        assert len(phone) == 3
        assert sorted(s["status"] for p in phone for s in p["statuses"] if s["status"] == "failed") == ["failed", "failed"]
        assert sorted(m["status"] for m in finals()) == ["failed", "failed", "read"]
    finally:
        httpx.put(f"{base_url}/_local/sandbox/config", json={"marketing_per_user_limit": None})
