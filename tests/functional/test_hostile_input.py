"""Bad input gets a clear 4xx in problem+json and changes nothing; never a 5xx."""

import pytest

from tests.functional.conftest import load_event

MSG = load_event("api/create_message.json")
P = MSG["params"]
CASES = [
    ("POST", "/v1/messages", "[" * 5000 + "]" * 5000, 422),
    ("POST", "/v1/messages", {**MSG, "metadata": {"": 1}}, 422),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "total": {"amount": "1e999999", "currency": "USD"}}}, 422),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "total": {"amount": 1e300, "currency": "USD"}}}, 422),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "eta": {"datetime": "2024-01-01T00:00:00", "timezone": "../../etc/passwd"}}}, 422),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "first_name": "\u0000x"}}, 422),
    ("POST", "/v1/messages", {**MSG, "send_at": "9999-12-31T23:59:59+14:00"}, 422),
    ("POST", "/v1/messages", {**MSG, "to": "+" + "9" * 30}, 422),
    ("POST", "/v1/messages", {**MSG, "button_params": {"0": "a" * 5000}}, 422),
    ("POST", "/v1/messages", {**MSG, "status": "read"}, 422),
    ("GET", "/v1/messages/" + "x" * 3000, None, 404),
    ("DELETE", "/v1/messages/" + "x" * 3000, None, 404),
    ("GET", "/v1/templates/" + "a" * 3000 + "?language=en", None, 404),
    ("GET", "/v1/templates/x?language=" + "a" * 3000, None, 404),
    ("POST", "/v1/templates/" + "a" * 3000 + "/preview", {"language": "en"}, 404),
    ("GET", "/v1/templates?cursor=eyJwayI6eyJTIjoiVEVOQU5UI3gjVFBMIn0sInNrIjp7Ik4iOiIxIn19", None, 422),
    ("GET", "/v1/templates?limit=abc", None, 422),
    ("POST", "/v1/templates", {"name": "x", "language": "en", "category": ["UTILITY"], "components": [{"type": ["BODY"], "text": "hi", "format": [1]}]}, 422),
    ("POST", "/v1/templates", "null", 400),
    ("POST", "/v1/templates", '"a string"', 422),
    ("POST", "/v1/templates/order_shipped/preview", {"language": "x" * 5000}, 422),
    ("POST", "/v1/messages", "x" * 300_000, 413),
    ("POST", "/v1/messages", b"\xa5\xff{", 400),
    ("POST", "/v1/templates/%F0%9F%87%BA%F0%9F%87%B8/preview", b"\xbe\x00B", 400),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES, ids=[f"{c[0]} {c[1][:30]} {i}" for i, c in enumerate(CASES)])
def test_hostile_input_gets_a_clear_4xx(api, stack, method, path, body, expected):
    status, data, headers = api.call(method, path, body)
    assert status == expected, data
    assert headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail", "errors"} <= set(data)


def test_empty_idempotency_key_is_refused_and_nothing_is_written(api, stack):
    api.approved_template()
    status, data, _ = api.post("/v1/messages", MSG, headers={"Idempotency-Key": ""})
    assert status == 422 and data["errors"][0]["field"] == "idempotency-key"
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    assert not [i for i in items if i["sk"]["S"] == "MSG"]


def test_impossible_ids_never_reach_dynamodb(api, stack):
    api.get("/v1/templates")  # the API key is looked up once, then cached
    calls = []
    stack.deps.store.table.client.meta.events.register("before-call.dynamodb.*", lambda **kw: calls.append(kw["event_name"]))
    api.get("/v1/messages/" + "x" * 3000)
    api.get("/v1/templates/" + "a" * 3000)
    assert not [c for c in calls if "GetItem" in c or "Query" in c]


def test_logs_never_show_the_phone_number(api, stack, caplog):
    from wa_notify.observability import logger

    logger.setLevel("INFO")
    try:
        api.approved_template()
        api.post("/v1/messages", MSG)
        stack.drain()
    finally:
        logger.setLevel("WARNING")
    # every field of every record, the `extra` keys included
    out = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "message accepted" in out and "accepted by WhatsApp" in out and "+88********78" in out
    assert "912345678" not in out


def test_no_key_is_401_before_any_validation(api):
    status, data, headers = api.post("/v1/messages", {"nonsense": True}, key=None)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert api.post("/v1/messages", "x" * 300_000, key=None)[0] == 401


def test_a_body_that_is_not_json_gets_415(api):
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, data, _ = api.post("/v1/messages", "to=1", headers={"content-type": content_type})
        assert status == 415 and "application/json" in data["detail"], content_type
    assert api.post("/v1/messages", "{}", headers={"content-type": "application/json; charset=utf-8"})[0] == 422


def test_numbers_dynamodb_cannot_store_are_422_everywhere(api, stack):
    huge, tiny = 1.3e308, 1.2e-219
    assert api.post("/v1/messages", {**MSG, "metadata": {"x": huge}})[0] == 422
    assert api.call("PUT", "/v1/contacts/+886912345678", {"attributes": {"spend": tiny}})[0] == 422
    assert api.call("PUT", "/v1/settings", {"value_tiers": [{"tag": "t", "min_spend": huge}]})[0] == 422
    template = load_event("api/create_template.json")
    template["components"][1]["example"]["extra"] = {"n": huge}
    status, data, _ = api.post("/v1/templates", template)
    assert status == 422 and data["errors"][0]["field"] == "components[1].example.extra.n"
    assert api.call("PUT", "/v1/flows/f", {"trigger": "x", "steps": [{"template": "t", "at": "now"}], "weight": huge})[0] == 422


def test_the_openapi_document_and_swagger_ui_are_served(api, stack):
    import json as _json
    from pathlib import Path

    # GIVEN no key at all: the contract and its UI are public
    status, _, raw = stack.request("GET", "/v1/openapi.json")
    served = _json.loads(raw)
    committed = _json.loads((Path(__file__).parents[2] / "docs/openapi.json").read_text())
    # THEN the served document is the committed one, analytics included
    assert status == 200 and served == committed
    assert {"/v1/analytics/templates", "/v1/analytics/activity"} <= set(served["paths"])
    errors = served["paths"]["/v1/analytics/templates"]["get"]["responses"]["422"]["content"]
    assert list(errors) == ["application/problem+json"]
    status, headers, raw = stack.request("GET", "/docs")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"swagger" in raw.lower()
