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
