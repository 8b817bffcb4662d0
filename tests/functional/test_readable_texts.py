"""Texts sent as they are written (a free-form message, auto-replies, the out-of-hours reply) must be
readable: blank ones (zero-width characters only) and ones with control characters are a 422 naming
the field, stored nowhere and sent nowhere, like a template parameter with the same characters."""

import pytest

CUSTOMER = "+5511987650077"
READABLE = "must be text the customer can read: not blank, no control characters but line breaks and tabs"


def problems(answer):
    status, body, headers = answer
    assert status == 422 and headers["content-type"].startswith("application/problem+json"), (status, body)
    return {p["field"]: p["message"].removeprefix("Value error, ") for p in body["errors"]}


@pytest.mark.parametrize("text", ["\u200b", "\ufeff\u200d", "\u3164", "\u2800 \u034f", "\ufe0f", "hi\x00", "ring\x07", "esc\x1b[31m"])
def test_a_free_form_text_that_is_blank_or_holds_control_characters_is_refused(api, stack, text):
    # GIVEN a customer inside the 24 h window
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "hi"})[0] == 202
    stack.drain()
    # WHEN the platform sends them a text that shows nothing, or NUL / BEL / ESC
    answer = api.post("/v1/messages", {"to": CUSTOMER, "text": text})
    # THEN 422 naming text, and nothing is written or sent
    assert problems(answer) == {"text": READABLE}
    stack.drain()
    assert api.get(f"/v1/messages?to=%2B{CUSTOMER[1:]}")[1]["items"] == []
    assert stack.sandbox.received(CUSTOMER) == []


def test_a_text_with_line_breaks_tabs_and_emoji_joined_by_zero_width_joiners_still_goes(api, stack):
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "hi"})[0] == 202
    stack.drain()
    status, body, _ = api.post("/v1/messages", {"to": CUSTOMER, "text": "Thanks!\n\tSee you \U0001F469\u200d\u2695\ufe0f"})
    assert status == 202, body


@pytest.mark.parametrize(("settings", "field"), [
    ({"out_of_hours_reply": "closed\x00"}, "out_of_hours_reply"),
    ({"out_of_hours_reply": "\u200b"}, "out_of_hours_reply"),
    ({"out_of_hours_reply": "\u3164"}, "out_of_hours_reply"),
    ({"auto_replies": [{"id": "z", "keywords": ["frete"], "reply": "\u2800"}]}, "auto_replies[0].reply"),
    ({"auto_replies": [{"id": "z", "keywords": ["frete"], "reply": "x\x07"}]}, "auto_replies[0].reply"),
    ({"auto_replies": [{"id": "z", "keywords": ["frete"], "reply": "\u2060"}]}, "auto_replies[0].reply"),
    ({"auto_replies": [{"id": "z", "keywords": ["\u200b"], "reply": "ok"}]}, "auto_replies[0].keywords[0]"),
    ({"auto_replies": [{"id": "z", "keywords": ["fre\x00te"], "reply": "ok"}]}, "auto_replies[0].keywords[0]"),
])
def test_an_auto_reply_that_is_blank_or_holds_control_characters_is_refused(api, settings, field):
    before = api.get("/v1/settings")[1]
    # WHEN the tenant saves a reply (or keyword) that shows nothing or holds control characters
    # THEN 422 naming it, and the settings are as they were
    assert problems(api.call("PUT", "/v1/settings", settings)) == {field: READABLE}
    assert api.get("/v1/settings")[1] == before


@pytest.mark.parametrize("name", ["A\x00b", "Ana\nMaria", "Ana\tMaria", "Bea\x1b[31m"])
def test_a_contact_name_with_control_characters_or_line_breaks_is_refused(api, name):
    # GIVEN a name that could never fill a template parameter ({"contact": "name"} in a campaign)
    # WHEN it is saved THEN 422 naming name, and no contact is written
    status, body, _ = api.call("PUT", "/v1/contacts/+14155550179", {"name": name, "tags": ["vip"]})
    assert status == 422, body
    assert [p["field"] for p in body["errors"]] == ["name"]
    assert api.get("/v1/contacts/+14155550179")[0] == 404


def test_a_contact_name_in_any_script_with_emoji_is_kept(api):
    status, body, _ = api.call("PUT", "/v1/contacts/+14155550179", {"name": "José 林 \u202bعلي\u202c 👩\u200d⚕️"})
    assert status == 200 and body["name"] == "José 林 \u202bعلي\u202c 👩\u200d⚕️", body
