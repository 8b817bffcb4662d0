"""Reading back on the running stack (issue 16): send a few, find them by to, status, template and
metadata; a contact's timeline shows the customer's reply between our messages."""

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).parents[2]
ANA, BO = "+5511987650001", "+5511987650002"



def test_filters_and_the_timeline_over_http(base_url):
    # GIVEN a tenant of its own with an approved template
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "reading-back"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    assert client.post("/v1/templates", json=template).status_code == 201
    assert wait_for(lambda: client.get("/v1/templates/order_shipped", params={"language": "en_US"}).json(),
                    lambda t: t["status"] == "APPROVED")["status"] == "APPROVED"
    message = json.loads((ROOT / "events/api/create_message.json").read_text())
    # AND three messages: two to Ana, one to Bo that WhatsApp fails
    httpx.post(f"{base_url}/_local/sandbox/config", json={"faults": [{"code": 131026, "mode": "async", "to": BO}]})
    sent = {}
    for name, to, order in (("ana1", ANA, "A-1"), ("bo", BO, "B-1"), ("ana2", ANA, "A-2")):
        accepted = client.post("/v1/messages", json={**message, "to": to, "metadata": {"order": order}})
        assert accepted.status_code == 202, accepted.text
        sent[name] = accepted.json()["id"]
        time.sleep(0.01)  # distinct creation times: newest first is then one order

    def listing(query):
        response = client.get(f"/v1/messages{query}")
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    # WHEN they have settled (read, and failed)
    assert wait_for(lambda: listing("?status=read"), lambda ids: len(ids) == 2) == [sent["ana2"], sent["ana1"]]
    # THEN each filter finds its own, newest first
    assert listing("") == [sent["ana2"], sent["bo"], sent["ana1"]]
    assert listing("?to=%2B5511987650001") == [sent["ana2"], sent["ana1"]]
    assert wait_for(lambda: listing("?status=failed"), lambda ids: ids) == [sent["bo"]]
    assert listing("?template=order_shipped&limit=100") == [sent["ana2"], sent["bo"], sent["ana1"]]
    assert listing("?metadata.order=A-1") == [sent["ana1"]]
    # AND paging by one gives the same three through `next`
    seen, cursor = [], None
    while True:
        page = client.get("/v1/messages", params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == [sent["ana2"], sent["bo"], sent["ana1"]]
    # AND a hostile value is a 422 problem naming its parameter
    bad = client.get("/v1/messages", params={"since": "last tuesday"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["errors"][0]["field"] == "since"

    # WHEN Ana replies, and is answered inside the window
    time.sleep(1.1)  # the inbound time is WhatsApp's, whole seconds
    reply = httpx.post(f"{base_url}/_local/sandbox/inbound", json={"from": ANA, "text": "Obrigada!", "phone_number_id": tenant["phone_number_id"]})
    assert reply.status_code == 202
    timeline = wait_for(lambda: client.get(f"/v1/contacts/{ANA}/timeline").json()["items"], lambda items: len(items) == 3)
    time.sleep(1.1)
    answer = client.post("/v1/messages", json={"to": ANA, "text": "De nada!"})
    assert answer.status_code == 202, answer.text
    # THEN her timeline shows both directions, newest first, each with its direction and kind
    timeline = client.get(f"/v1/contacts/{ANA}/timeline").json()["items"]
    assert [(i["direction"], i["kind"]) for i in timeline] == [
        ("outbound", "text"), ("inbound", "text"), ("outbound", "template"), ("outbound", "template")]
    assert timeline[0]["id"] == answer.json()["id"] and timeline[1]["text"] == "Obrigada!"
    assert [i["id"] for i in timeline[2:]] == [sent["ana2"], sent["ana1"]]
    # AND Bo's messages are in none of it, and another tenant reads nothing
    assert sent["bo"] not in [i["id"] for i in timeline]
    other = httpx.get(f"{base_url}/v1/messages", headers={"Authorization": f"Bearer {httpx.get(f'{base_url}/_local/info').json()['api_key']}"},
                      params={"to": ANA})
    assert other.status_code == 200 and other.json()["items"] == []
