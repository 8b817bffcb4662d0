"""Media headers over HTTP (issue 15): an image-header and a document-header template,
registered with Meta's example.header_handle, sent with params.header; the sandbox phone
(`GET /_local/sandbox/messages`) shows Meta's exact header component."""


import httpx
import pytest

from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

HANDLE = "4::aW1hZ2UvanBlZw==:ARa1ZDhwbLZM3EENeeg"
TO = "+14155550166"  # nobody else's recipient in the e2e suites
IMAGE = "https://cdn.example.com/e2e/summer.jpg"
PDF = "https://cdn.example.com/e2e/invoice-A-1001.pdf"


def template(name, header_format, what):
    return {"name": name, "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED", "components": [
        {"type": "HEADER", "format": header_format, "example": {"header_handle": [HANDLE]}},
        {"type": "BODY", "text": f"Hi {{{{first_name}}}}, here is {what}.",
         "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]}



def test_image_and_document_headers_reach_the_phone_in_metas_exact_component(base_url):
    # GIVEN a tenant with an approved IMAGE-header and DOCUMENT-header template
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "media"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    for name, header_format, what in (("e2e_photo", "IMAGE", "your photo"), ("e2e_invoice", "DOCUMENT", "your invoice")):
        created = client.post("/v1/templates", json=template(name, header_format, what))
        assert created.status_code == 201, created.text
        approved = wait_for(lambda n=name: client.get(f"/v1/templates/{n}", params={"language": "en_US"}).json(),
                            lambda t: t["status"] == "APPROVED")
        assert approved["status"] == "APPROVED"
    # WHEN one is sent with an image link, the other with a document and its filename (and one without its media)
    sends = {
        "e2e_photo": {"image": {"link": IMAGE}},
        "e2e_invoice": {"document": {"link": PDF, "filename": "Invoice A-1001.pdf"}},
    }
    ids = {}
    for name, header in sends.items():
        accepted = client.post("/v1/messages", json={"to": TO, "template": {"name": name, "language": "en_US"},
                                                     "params": {"first_name": "Ana", "header": header}})
        assert accepted.status_code == 202, accepted.text
        ids[name] = accepted.json()["id"]
    refused = client.post("/v1/messages", json={"to": TO, "template": {"name": "e2e_invoice", "language": "en_US"},
                                                "params": {"first_name": "Ana"}})
    # THEN the one without media is a 422 naming params.header
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["params.header"]
    # AND the phone received both, each with Meta's header component first, and they reached read
    received = wait_for(lambda: httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": TO}).json()["messages"],
                        lambda items: len(items) >= 2)
    by_name = {m["request"]["template"]["name"]: m["request"]["template"]["components"] for m in received}
    assert by_name["e2e_photo"][0] == {"type": "header", "parameters": [{"type": "image", "image": {"link": IMAGE}}]}
    assert by_name["e2e_invoice"][0] == {"type": "header", "parameters": [
        {"type": "document", "document": {"link": PDF, "filename": "Invoice A-1001.pdf"}}]}
    assert len(received) == 2
    for message_id in ids.values():
        final = wait_for(lambda i=message_id: client.get(f"/v1/messages/{i}").json(), lambda m: m["status"] == "read")
        assert final["status"] == "read"
