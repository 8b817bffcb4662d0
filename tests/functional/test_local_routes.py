"""The `/_local/...` routes take a stranger's input as the API does: problem+json 4xx, never a 500."""

import json

import pytest

HOSTILE = [
    # (method, path, raw body, the field named)
    ("POST", "/_local/tenants", '{"name": "\\ud800"}', "name"),
    ("POST", "/_local/tenants", '{"name": 5}', "name"),
    ("POST", "/_local/tenants", '{"name": "   "}', "name"),
    ("POST", "/_local/sandbox/inbound", '{"from": "++886", "text": "hi"}', "from"),
    ("POST", "/_local/sandbox/inbound", '{"from": "+886912345678", "text": "\\udfff"}', "text"),
    ("POST", "/_local/sandbox/inbound", '{"from": 886912345678, "text": "hi"}', "from"),
    ("POST", "/_local/sandbox/inbound", '{"from": "+886912345678", "button": "yes"}', "button"),
    ("PUT", "/_local/sandbox/config", '{"faults": [{"mode": "bogus"}]}', "faults[0].mode"),
    ("PUT", "/_local/sandbox/config", '{"faults": [{"code": "131026"}]}', "faults[0].code"),
    ("PUT", "/_local/sandbox/config", '{"faults": [{"mdoe": "sync"}]}', "faults[0].mdoe"),
    ("PUT", "/_local/sandbox/config", '{"throughput_per_second": "fast"}', "throughput_per_second"),
    ("PUT", "/_local/sandbox/config", '{"template_decision": "\\ud800"}', "template_decision"),
    ("PUT", "/_local/callbacks/config", '{"status": true}', "status"),
    ("PUT", "/_local/callbacks/config", '{"status": "500"}', "status"),
    ("POST", "/_local/clock", '{"at": "\\udfff"}', "at"),
    ("POST", "/_local/clock", '{"at": 1893456000}', "at"),
    ("POST", "/_local/clock", '{"at": "not a time"}', "at"),
    ("POST", "/_local/clock", '{"at": "123"}', "at"),  # lax pydantic: seconds since 1970
    ("POST", "/_local/clock", '{"at": "0001-01-01T00:00:00Z"}', "at"),  # the scheduled functions overflowed: 500
    ("POST", "/_local/clock", '{"at": "9999-12-31T23:59:59-14:00"}', "at"),
    ("PUT", "/_local/sandbox/config", '{"throughput_per_second": 5, "pair_burst": null}', "pair_burst"),  # was a 500, half applied
    ("PUT", "/_local/sandbox/config", '{"template_decision": null}', "template_decision"),  # stored "NONE"
    ("PUT", "/_local/sandbox/config", '{"auto_status": null}', "auto_status"),
    ("PUT", "/_local/sandbox/config", '{"auto_stauts": false}', "auto_stauts"),  # a typo was a 200 that changed nothing
    ("POST", "/_local/numbers", '{"tenant_id": 5}', "tenant_id"),
    ("POST", "/_local/numbers", '{"quality_rating": "PURPLE"}', "quality_rating"),
    ("POST", "/_local/numbers", '{"messaging_limit_tier": "TIER_1M"}', "messaging_limit_tier"),
    ("POST", "/_local/numbers", '{"phone_number_id": "1"}', "phone_number_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), HOSTILE, ids=[f"{m} {p} {b}" for m, p, b, _ in HOSTILE])
def test_hostile_bodies_on_local_routes_get_a_422_naming_the_field(stack, method, path, body, field):
    # GIVEN the local stack, and its state before the request
    config_before, tenants_before = stack.sandbox.config(), len(stack.sandbox.numbers)
    # WHEN a body with a lone surrogate, a wrong type or a bad value is sent to a local route
    status, headers, answer = stack.request(method, path, body=body)
    # THEN it is a 422 problem naming the field, and nothing changed
    assert status == 422, answer
    assert headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in json.loads(answer)["errors"]]
    assert stack.sandbox.config() == config_before and len(stack.sandbox.numbers) == tenants_before


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b'{"name": NaN}'])
def test_bodies_that_are_not_json_get_a_400(stack, body):
    # GIVEN the local stack
    # WHEN a body that is not UTF-8 JSON is posted
    status, headers, answer = stack.request("POST", "/_local/tenants", body=body)
    # THEN it is a 400 problem
    assert status == 400, answer
    assert headers["content-type"] == "application/problem+json"


def test_valid_local_bodies_still_work(stack):
    # GIVEN the local stack
    # WHEN valid bodies are sent (a number without +, a fault, a naive clock time)
    inbound = stack.request("POST", "/_local/sandbox/inbound", body={"from": "886912345678", "text": "hi"})
    config = stack.request("PUT", "/_local/sandbox/config", body={"faults": [{"code": 131026, "mode": "async", "to": "+886912345678"}]})
    clock = stack.request("POST", "/_local/clock", body={"at": "2030-01-01T00:00"})
    tenant = stack.request("POST", "/_local/tenants", body={"name": " clinic "})
    # THEN each is answered as before
    assert inbound[0] == 202 and stack.sandbox.messages == [] and stack.sandbox.inbound_at
    assert config[0] == 200 and json.loads(config[2])["faults"][0]["mode"] == "async"
    assert clock[0] == 200 and json.loads(clock[2])["at"] == "2030-01-01T00:00:00+00:00"
    assert tenant[0] == 201


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("POST", "/_local/info", "GET"),
    ("GET", "/_local/clock", "POST"),
    ("DELETE", "/_local/sandbox/config", "GET, POST, PUT"),
    ("GET", "/_local/tenants", "POST"),
])
def test_wrong_method_on_a_local_route_is_405_with_allow(stack, method, path, allow):
    # GIVEN the local stack
    # WHEN a local path is called with a method it does not take
    status, headers, answer = stack.request(method, path)
    # THEN 405 with the methods it takes in Allow (RFC 9110 §15.5.6), as the /v1 routes answer
    assert status == 405, answer
    assert headers["allow"] == allow
    assert headers["content-type"] == "application/problem+json"


def test_unknown_local_path_is_still_404(stack):
    # GIVEN the local stack
    # WHEN a local path that does not exist is called
    status, headers, _ = stack.request("GET", "/_local/nothing")
    # THEN 404 without Allow
    assert status == 404 and "allow" not in headers
