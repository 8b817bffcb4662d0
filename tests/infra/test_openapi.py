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
