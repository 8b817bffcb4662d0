"""Several numbers on the running stack: a second number for a tenant, listed with Meta's quality and
limit, a message sent from it (the sandbox shows it from that number, its statuses route back), and
a customer writing to it."""

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_local_stack import wait_for

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.e2e


def test_a_second_number_lists_sends_and_receives(base_url):
    # GIVEN a tenant with an approved template and a second number Meta rates YELLOW, tier 1K
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "two numbers"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    template = json.loads((ROOT / "events" / "api" / "create_template.json").read_text())
    assert client.post("/v1/templates", json=template).status_code == 201
    wait_for(lambda: client.get("/v1/templates/order_shipped", params={"language": "en_US"}).json(),
             lambda t: t["status"] == "APPROVED")
    added = httpx.post(f"{base_url}/_local/numbers", json={"tenant_id": tenant["tenant_id"], "quality_rating": "YELLOW",
                                                           "messaging_limit_tier": "TIER_1K"})
    assert added.status_code == 201, added.text
    second = added.json()
    assert set(second) == {"phone_number_id", "display_phone_number", "waba_id"}

    # WHEN the platform lists its numbers
    numbers = client.get("/v1/numbers").json()["items"]
    # THEN both are there, the tenant's first number the default, each with what Meta says of it
    assert [(n["phone_number_id"], n["default"]) for n in numbers] == [(tenant["phone_number_id"], True),
                                                                       (second["phone_number_id"], False)]
    assert (numbers[1]["quality_rating"], numbers[1]["messaging_limit"]) == ("YELLOW", "TIER_1K")

    # WHEN a message names the second number by its display number
    message = json.loads((ROOT / "events" / "api" / "create_message.json").read_text())
    sent = client.post("/v1/messages", json={**message, "to": "+5511912340001", "from": second["display_phone_number"]})
    assert sent.status_code == 202, sent.text
    # THEN WhatsApp got it from that number, and its statuses came back to this tenant
    received = wait_for(lambda: httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": "+5511912340001"}).json()["messages"],
                        lambda m: len(m) == 1)
    assert received[0]["phone_number_id"] == second["phone_number_id"]
    read = wait_for(lambda: client.get(f"/v1/messages/{sent.json()['id']}").json(), lambda m: m["status"] == "read")
    assert read["status"] == "read"

    # WHEN a customer writes to the second number
    inbound = httpx.post(f"{base_url}/_local/sandbox/inbound",
                         json={"from": "+5511912340002", "text": "oi", "phone_number_id": second["phone_number_id"]})
    assert inbound.status_code == 202
    # THEN the tenant holds the contact, its window open
    contact = wait_for(lambda: client.get("/v1/contacts/+5511912340002"), lambda r: r.status_code == 200 and r.json()["window_open"])
    assert contact.json()["window_open"] is True
    # AND an unknown `from` is a 422 naming it
    refused = client.post("/v1/messages", json={**message, "from": "+1 628 555 0000"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "from"
