"""Bad input gets a clear 4xx in problem+json and changes nothing; never a 5xx."""

import copy
import json

import pytest

from tests.functional.conftest import load_event
from tests.functional.test_messages_api import queue_depth

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
    # GIVEN a caller whose API key is cached (it is looked up once), and every DynamoDB call recorded
    api.get("/v1/templates")
    calls = []
    stack.deps.store.table.client.meta.events.register("before-call.dynamodb.*", lambda **kw: calls.append(kw["event_name"]))
    # WHEN ids no message or template can have are asked for (over DynamoDB's 2 KB key limit)
    for path in ("/v1/messages/" + "x" * 3000, "/v1/templates/" + "a" * 3000):
        status, data, headers = api.get(path)
        # THEN each is a plain 404 problem (there is no such thing), not a 5xx, the id not echoed whole
        assert status == 404 and headers["content-type"] == "application/problem+json", (path[:20], status, data)
        assert data["status"] == 404 and len(data["detail"]) < 100
    # AND neither was looked up
    assert not [c for c in calls if "GetItem" in c or "Query" in c]


def test_logs_never_show_the_phone_number(api, stack, caplog):
    import logging

    from wa_notify.observability import logger

    # the per-message lines ("message accepted", "accepted by WhatsApp") are DEBUG
    caplog.set_level(logging.DEBUG, logger=logger.name)
    logger.setLevel("DEBUG")
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


# ---- issue 12: what the JSON parser and the content type let through ---------------------------------

def stored(stack):
    """Every item of the table and every queued message: what a refused request must leave as it was."""
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    depths = {name: queue_depth(stack, name) for name in ("SendQueueHigh", "SendQueueNormal", "SendQueueBulk", "CallbackRetryQueue")}
    return sorted(json.dumps(item, sort_keys=True) for item in items), depths


def with_surrogate(document, path, escape="\\ud800"):
    """`document` as JSON text with the string at `path` (keys and indexes) replaced by a lone surrogate
    escape; a trailing "<key>" path element puts it in that object's first key instead."""
    marker = "SURROGATE-MARKER"
    doc = copy.deepcopy(document)
    target = doc
    for part in path[:-1]:
        target = target[part]
    if path[-1] == "<key>":
        first = next(iter(target))
        target[first + marker] = target.pop(first)
    else:
        target[path[-1]] = marker
    return json.dumps(doc).replace(marker, escape)


CLINIC_EVENT = {"type": "appointment.booked", "key": "k-1", "to": "+886912345678",
                "data": {"first_name": "Ana", "visit_at": {"datetime": "2031-03-14T10:00", "timezone": "Asia/Taipei"}}}
SURROGATES = [
    ("POST", "/v1/messages", MSG, ("params", "first_name"), "params.first_name"),
    ("POST", "/v1/messages", MSG, ("params", "<key>"), "params.order_id\\ud800"),
    ("POST", "/v1/messages", MSG, ("params", "eta", "date"), "params.eta.date"),
    ("POST", "/v1/messages", MSG, ("button_params", "0"), "button_params.0"),
    ("POST", "/v1/messages", MSG, ("metadata", "order"), "metadata.order"),
    ("POST", "/v1/messages", MSG, ("metadata", "<key>"), "metadata.order\\ud800"),
    ("POST", "/v1/templates/order_shipped/preview", {"language": "en_US", "params": P}, ("params", "first_name"), "params.first_name"),
    ("PUT", "/v1/contacts/+886912345678", {"name": "Ana", "attributes": {"city": "Taipei"}}, ("attributes", "city"), "attributes.city"),
    ("PUT", "/v1/contacts/+886912345678", {"name": "Ana", "attributes": {"city": "Taipei"}}, ("attributes", "<key>"), "attributes.city\\ud800"),
    ("POST", "/v1/campaigns", {"template": "order_shipped", "language": "en_US", "segment": {"tag": "vip"}, "params": P},
     ("params", "first_name"), "params.first_name"),
    ("POST", "/v1/templates", load_event("api/create_template.json"), ("components", 1, "text"), "components[1].text"),
    ("POST", "/v1/templates", load_event("api/create_template.json"), ("components", 2, "text"), "components[2].text"),
    ("PUT", "/v1/flows/clinic", {"trigger": "appointment.booked", "steps": [{"template": "t", "at": "now"}]}, ("trigger",), "trigger"),
    ("PUT", "/v1/flows/clinic", {"trigger": "appointment.booked", "steps": [{"template": "t", "at": "now"}]}, ("steps", 0, "template"), "steps[0].template"),
    ("POST", "/v1/events", CLINIC_EVENT, ("data", "first_name"), "data.first_name"),
    ("POST", "/v1/events", CLINIC_EVENT, ("data", "visit_at", "timezone"), "data.visit_at.timezone"),
    ("PUT", "/v1/settings", {"out_of_hours_reply": "We are closed"}, ("out_of_hours_reply",), "out_of_hours_reply"),
]


@pytest.mark.parametrize(("method", "path", "document", "where", "field"), SURROGATES, ids=[c[4] + " " + c[1] for c in SURROGATES])
def test_a_lone_surrogate_anywhere_is_422_naming_the_field_and_nothing_is_written(api, stack, method, path, document, where, field):
    # GIVEN an approved template, so only the surrogate is wrong
    api.approved_template()
    before = stored(stack)
    for escape in ("\\ud800", "\\udfff"):
        # WHEN a string (or a key) of an otherwise valid body is a lone surrogate escape
        status, data, headers = api.call(method, path, with_surrogate(document, where, escape))
        # THEN 422 in problem+json names that field, and nothing is stored or queued
        assert status == 422, data
        assert headers["content-type"] == "application/problem+json"
        assert data["errors"][0]["field"] == field.replace("\\ud800", escape)
        assert stored(stack) == before


def test_a_surrogate_pair_is_text_not_a_problem(api, stack):
    # GIVEN an emoji written as the JSON escape of its UTF-16 pair
    api.approved_template()
    body = json.dumps({**MSG, "params": {**P, "first_name": "PAIR"}}).replace("PAIR", "Ana \\ud83d\\ude00")
    # THEN it is accepted like any other text
    assert api.post("/v1/messages", body)[0] == 202


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/vnd.api+json", "APPLICATION/JSON",
                                          "Application/Json; charset=UTF-8", "application/json;charset=utf-8"])
def test_every_json_content_type_is_read_as_json(api, stack, content_type):
    # GIVEN an approved template
    api.approved_template()
    # WHEN the body is sent as a JSON media type other than exactly application/json
    status, data, _ = api.post("/v1/messages", json.dumps(MSG), headers={"content-type": content_type})
    # THEN it is read as JSON (it was a 500 from the resolver)
    assert status == 202, data
    # AND a bad body under that type is the usual 422, naming the field
    status, data, _ = api.post("/v1/messages", with_surrogate(MSG, ("metadata", "order")), headers={"content-type": content_type})
    assert status == 422 and data["errors"][0]["field"] == "metadata.order"


@pytest.mark.parametrize("content_type", ["text/json", "application/jsonx", "application/json+xml", "json"])
def test_a_type_that_only_looks_like_json_gets_415(api, content_type):
    status, data, _ = api.post("/v1/messages", json.dumps(MSG), headers={"content-type": content_type})
    assert status == 415, data


DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB, under the 256 KB limit: RecursionError in json.loads
BIG_INT = "9" * 5000  # over Python's 4,300-digit int() limit: ValueError
TRANSPORT = [
    ("POST", "/v1/messages", DEEP, 422, ""),
    ("POST", "/v1/messages", json.dumps({**MSG, "metadata": "DEEP"}).replace('"DEEP"', "[" * 40 + "]" * 40), 422, "metadata" + "[0]" * 31),
    ("POST", "/v1/templates", DEEP, 422, ""),
    ("PUT", "/v1/flows/clinic", '{"trigger": ' + "[" * 90_000 + "]" * 90_000 + "}", 422, ""),
    ("PUT", "/v1/contacts/+886912345678", '{"attributes": ' + '{"a": ' * 20_000 + "1" + "}" * 20_001, 422, ""),
    ("POST", "/v1/messages", json.dumps({**MSG, "metadata": {"n": 0}}).replace('"n": 0', '"n": ' + BIG_INT), 422, "metadata.n"),
    ("POST", "/v1/messages", '{"to": -' + BIG_INT + "}", 422, "to"),
    ("PUT", "/v1/flows/clinic", '{"trigger": "x", "steps": [], "weight": ' + BIG_INT + "}", 422, "weight"),
    ("PUT", "/v1/settings", '{"throughput_per_second": ' + BIG_INT + "}", 422, "throughput_per_second"),
    ("POST", "/v1/events", json.dumps(CLINIC_EVENT).replace('"Ana"', BIG_INT), 422, "data.first_name"),
    ("POST", "/v1/messages", json.dumps({**MSG, "metadata": {"n": 0}}).replace('"n": 0', '"n": NaN'), 400, "metadata.n"),
    ("PUT", "/v1/contacts/+886912345678", '{"attributes": {"spend": -Infinity}}', 400, "attributes.spend"),
    ("PUT", "/v1/flows/clinic", '{"trigger": Infinity}', 400, "trigger"),
]


@pytest.mark.parametrize(("method", "path", "body", "expected", "field"), TRANSPORT, ids=[f"{c[0]} {c[1]} {c[3]} {c[4][:20]}" for c in TRANSPORT])
def test_depth_long_integers_and_nan_are_refused_while_parsing(api, stack, method, path, body, expected, field):
    # GIVEN a body under the size limit that Python's json module cannot (or should not) turn into values
    assert len(body) <= 256 * 1024
    api.approved_template()
    before = stored(stack)
    # WHEN it is sent
    status, data, headers = api.call(method, path, body)
    # THEN a 4xx names the problem (it was a 500: RecursionError, ValueError), and nothing is written
    assert (status, headers["content-type"]) == (expected, "application/problem+json"), data
    assert data["errors"][0]["field"] == field
    assert stored(stack) == before


def test_a_wrong_method_on_a_known_path_is_405_with_allow(stack):
    # WHEN a path that exists is asked with a method it does not have
    status, headers, raw = stack.request("PATCH", "/v1/messages")
    # THEN 405 says which methods it has (RFC 9110), in problem+json
    assert status == 405 and headers["allow"] == "GET, POST" and headers["content-type"] == "application/problem+json"
    status, headers, _ = stack.request("POST", "/v1/templates/x")
    assert status == 405 and headers["allow"] == "DELETE, GET"
    # AND an unknown path is still 404, without Allow
    status, headers, _ = stack.request("PATCH", "/v1/nothing")
    assert status == 404 and "allow" not in headers
