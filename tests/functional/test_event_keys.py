"""An event's key is the flow_key its messages are listed by: one the flow_key filter could not take
(control, zero-width or bidi characters) is a 422 naming key, nothing planned; a printable key with
spaces, accents or emoji plans and lists."""

from urllib.parse import quote

import pytest

TO = "+14155550178"
FLOW = {"trigger": "points.earned", "language": "en_US", "steps": [{"template": "order_shipped", "at": "now"}]}
DATA = {"order_id": "A-1", "first_name": "Ana", "total": {"amount": 1, "currency": "USD"}, "eta": {"date": "2030-01-01"}}


@pytest.fixture
def flow(api):
    api.approved_template()
    steps = [{**FLOW["steps"][0], "button_params": {"0": "order_id"}}]
    status, body, _ = api.call("PUT", "/v1/flows/points", {**FLOW, "steps": steps})
    assert status in (200, 201), body


@pytest.mark.parametrize("key", ["k\x00", "appt\x1b42", "\u200b", "appt-42\u202e", "a\u2028b"])
def test_an_event_key_the_flow_key_filter_cannot_take_is_refused(api, stack, flow, key):
    # WHEN an event comes with a key holding a control, zero-width, bidi or line-separator character
    status, body, _ = api.post("/v1/events", {"type": "points.earned", "key": key, "to": TO, "data": DATA})
    # THEN 422 naming key, and nothing is planned or sent
    assert status == 422, body
    assert [p["field"] for p in body["errors"]] == ["key"]
    stack.drain()
    assert api.get(f"/v1/messages?to=%2B{TO[1:]}")[1]["items"] == []


def test_a_printable_key_with_spaces_accents_and_emoji_plans_and_is_listed_by_it(api, stack, flow):
    key = "Reserva nº 42 \U0001F389"
    status, body, _ = api.post("/v1/events", {"type": "points.earned", "key": key, "to": TO, "data": DATA})
    assert status == 202, body
    listed = api.get("/v1/messages?flow_key=" + quote(key))[1]["items"]
    assert [m["id"] for m in listed] == [body["messages"][0]["id"]]
