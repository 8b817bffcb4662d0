import json

import pytest

from infra.openapi import TARGET, generate

pytestmark = pytest.mark.infra


def test_committed_openapi_matches_the_code():
    assert TARGET.read_text() == generate(), "docs/openapi.json is stale: run `make openapi`"


def test_openapi_documents_the_contract_routes():
    paths = json.loads(generate())["paths"]
    assert {"/v1/templates", "/v1/templates/{name}", "/v1/templates/{name}/preview", "/v1/messages", "/v1/messages/{message_id}"} <= set(paths)
    body = paths["/v1/messages"]["post"]
    assert any(p["name"] == "idempotency-key" for p in body["parameters"])


def test_template_and_flow_bodies_are_documented_models():
    # GIVEN the generated document
    document = json.loads(generate())
    paths, schemas = document["paths"], document["components"]["schemas"]
    # THEN both bodies that used to be read by hand have a request schema the fuzzer can build from
    template = paths["/v1/templates"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    flow = paths["/v1/flows/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert template == {"$ref": "#/components/schemas/TemplateRequest"} and flow == {"$ref": "#/components/schemas/FlowRequest"}
    assert set(schemas["TemplateRequest"]["required"]) == {"name", "language", "category", "components"}
    assert schemas["TemplateComponent"]["properties"]["type"]["enum"] == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert set(schemas["FlowRequest"]["required"]) == {"trigger", "steps"}


def test_the_routes_document_their_response_models():
    # GIVEN the generated document
    document = json.loads(generate())
    paths, schemas = document["paths"], document["components"]["schemas"]
    # THEN a message's answer is the MessageView schema, with its nullable keys required (always sent, maybe null)
    answer = paths["/v1/messages/{message_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/MessageView"}
    view = schemas["MessageView"]
    assert {"text", "send_at", "error", "provider_message_id", "fallback"} <= set(view["required"])
    assert {"type": "null"} in view["properties"]["text"]["anyOf"]
    # AND the listings, contacts, settings, campaigns, previews and reports are documented models too
    def schema(path, method="get", code="200"):
        return paths[path][method]["responses"][code]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert schema("/v1/templates") == "Page_TemplateView_" and schema("/v1/templates/{name}") == "TemplateView"
    assert schema("/v1/contacts/{phone}") == "ContactView" and schema("/v1/settings", "put") == "SettingsView"
    assert schema("/v1/campaigns", "post", "202") == "CampaignView" and schema("/v1/templates/{name}/preview", "post") == "PreviewView"
    assert schema("/v1/analytics/templates") == "TemplatesReport" and "from" in schemas["TemplatesReport"]["required"]
