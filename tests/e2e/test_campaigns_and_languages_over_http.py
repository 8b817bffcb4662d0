"""Language everywhere and campaigns a marketer would run (issue 16), over HTTP on the running local stack."""

import time

import httpx
import pytest

from infra.examples import http_call, load

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(base_url):
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "language shop"}).json()
    call = http_call(base_url, tenant["api_key"])
    load(call, "retail")  # we_miss_you in en and pt_BR
    return call


def test_a_pt_PT_contact_gets_the_pt_BR_translation_from_a_flow_without_language(shop):
    # GIVEN a flow whose step names no language and a contact whose locale is pt_PT
    status, body = shop("PUT", "/v1/flows/welcome_back", {"trigger": "customer.returned", "steps": [{"template": "we_miss_you", "at": "now"}]})
    assert status == 201, body
    assert shop("PUT", "/v1/contacts/+351912000001", {"name": "Rui", "locale": "pt_PT"})[0] == 200
    # WHEN the event comes
    status, body = shop("POST", "/v1/events", {"type": "customer.returned", "key": "r1", "to": "+351912000001",
                                               "data": {"first_name": "Rui", "store": "Lucky Shrub Porto"}})
    assert status == 202, body
    # THEN the message is in pt_BR and says why
    message = shop("GET", f"/v1/messages/{body['messages'][0]['id']}", None)[1]
    assert message["template"] == {"name": "we_miss_you", "language": "pt_BR", "language_reason": "contact locale pt_PT, nearest translation"}


def test_a_campaign_with_contact_params_and_a_computed_tag_segment_reaches_completed(shop, base_url):
    # GIVEN three contacts with a spend (computed value tier tier_standard): pt_PT, en_US, and one without a name
    for phone, fields in [("+351912000002", {"name": "Inês", "locale": "pt_PT", "attributes": {"annual_spend": 300, "store": "Lisboa"}}),
                          ("+14155000003", {"name": "Al", "locale": "en_US", "attributes": {"annual_spend": 50}}),
                          ("+14155000004", {"locale": "en_US", "attributes": {"annual_spend": 10, "store": "Austin"}})]:
        assert shop("PUT", f"/v1/contacts/{phone}", fields)[0] == 200
    # WHEN one call sends we_miss_you to the computed tag, names and stores from each contact
    status, created = shop("POST", "/v1/campaigns", {
        "name": "We miss you", "template": "we_miss_you", "segment": {"tag": "tier_standard"},
        "params": {"first_name": {"contact": "name", "default": "there"}, "store": {"contact": "attributes.store", "default": "our shop"}}})
    assert status == 202, created
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        campaign = shop("GET", f"/v1/campaigns/{created['id']}", None)[1]
        if campaign["status"] == "completed":
            break
        time.sleep(0.3)
    # THEN it completed, each contact got its own words in its own language
    assert campaign["status"] == "completed" and campaign["progress"]["planned"] == 3, campaign
    texts = {m["to"].lstrip("+"): m["text"] for phone in ("+351912000002", "+14155000003", "+14155000004")
             for m in httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": phone}).json()["messages"]}
    assert texts["351912000002"].startswith("Oi Inês, sentimos sua falta na Lisboa")
    assert texts["14155000003"].startswith("Hi Al, we miss you at our shop")
    assert texts["14155000004"].startswith("Hi there, we miss you at Austin")
    # AND it is listed, newest first
    assert shop("GET", "/v1/campaigns", None)[1]["items"][0]["id"] == created["id"]
