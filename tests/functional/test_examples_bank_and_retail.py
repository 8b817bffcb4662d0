"""The bank's and the shop's examples carry what the field asks for (issue 18, DESIGN.md "use cases"):
the transaction alert's "not you? deny this transaction" URL button, and the order confirmation's
items and order-details link. Each URL button is a dynamic one, `{{1}}` at the end of its URL
(Meta's only form), filled from the event's data by the flow's `button_params`."""

from datetime import UTC, datetime

import pytest

from infra.examples import DEMO_PHONE, demo_events, load, read
from tests.functional.test_examples import in_process


def url_button(vertical, template_name):
    """The example template's URL button as the platform registers it (before any tracker)."""
    template = next(t for t in read(vertical, "templates") if t["name"] == template_name)
    buttons = [b for c in template["components"] if c["type"] == "BUTTONS" for b in c["buttons"] if b["type"] == "URL"]
    assert len(buttons) == 1, buttons
    return buttons[0]


def post_demo_event(stack, vertical, event_type, *, track_clicks):
    """The vertical loaded as `make examples` loads it (tracking on) or without tracking, and its
    sample event of that type posted; the Cloud API request the phone received for it."""
    call = in_process(stack, stack.dev_tenant["api_key"])
    load(call, vertical, wait=stack.drain, track_clicks=track_clicks)
    event = next(e for e in demo_events(vertical, datetime.now(UTC)) if e["type"] == event_type)
    status, body = call("POST", "/v1/events", event)
    assert status == 202, body
    stack.drain()
    received = stack.sandbox.received(DEMO_PHONE)
    assert len(received) == 1, received
    return event, received[0]


def url_suffix(request):
    """The `{{1}}` value of the request's one URL button component (Cloud API form)."""
    buttons = [c for c in request["template"]["components"] if c["type"] == "button" and c.get("sub_type") == "url"]
    assert len(buttons) == 1, request
    assert buttons[0]["index"] in (0, "0")
    return buttons[0]["parameters"][0]["text"]


CASES = [  # vertical, event type, template, data field the suffix comes from, the URL the customer should land on
    ("bank", "transaction.posted", "transaction_alert", "deny_token", "https://bank.example.com/deny/tx-9001-k7Qp2"),
    ("retail", "order.placed", "order_confirmed", "order_id", "https://shop.example.com/orders/A-1001"),
]


@pytest.mark.parametrize(("vertical", "event_type", "template", "field", "landing"), CASES)
def test_the_examples_url_button_follows_metas_rules(vertical, event_type, template, field, landing):
    # GIVEN the example's URL button as written in examples/<vertical>/templates.json
    button = url_button(vertical, template)
    # THEN it is Meta's dynamic form: one {{1}} at the very end, an example that is a full URL, a label of at most 25 characters
    assert button["url"].count("{{") == 1 and button["url"].endswith("/{{1}}")
    assert button["example"][0].startswith(button["url"].removesuffix("{{1}}"))
    assert len(button["text"]) <= 25
    # AND the flow fills it from the event's data field, which the sample event carries
    step = next(s for f in read(vertical, "flows").values() for s in f["steps"] if s["template"] == template)
    assert step["button_params"] == {"0": field}
    assert button["url"].replace("{{1}}", str(next(e for e in read(vertical, "demo") if e["type"] == event_type)["data"][field])) == landing


@pytest.mark.parametrize(("vertical", "event_type", "template", "field", "landing"), CASES)
def test_without_tracking_the_cloud_api_request_carries_the_events_suffix(stack, vertical, event_type, template, field, landing):
    # GIVEN the vertical loaded without click tracking
    # WHEN its sample event is posted
    event, received = post_demo_event(stack, vertical, event_type, track_clicks=False)
    # THEN the Cloud API request names the template and fills the button's {{1}} with the event's field
    assert received["request"]["template"]["name"] == template
    suffix = url_suffix(received["request"])
    assert suffix == event["data"][field]
    # AND the URL the phone opens is the platform's page for this transaction or order
    assert url_button(vertical, template)["url"].replace("{{1}}", suffix) == landing


@pytest.mark.parametrize(("vertical", "event_type", "template", "field", "landing"), CASES)
def test_as_make_examples_loads_it_the_button_is_tracked_and_lands_on_the_platforms_page(stack, vertical, event_type, template, field, landing):
    # GIVEN the vertical loaded as `make examples` does (click tracking on, URL buttons registered via the tracker)
    # WHEN its sample event is posted
    _, received = post_demo_event(stack, vertical, event_type, track_clicks=True)
    # THEN the suffix is a tracker token, and tapping the button redirects to the filled URL
    suffix = url_suffix(received["request"])
    status, headers, _ = stack.request("GET", f"/r/{suffix}")
    assert status == 302 and headers["location"] == landing
    stack.drain()
    message = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], received["request"]["biz_opaque_callback_data"])
    assert message["click_count"] == 1


def test_the_order_confirmation_lists_the_items_and_total(stack):
    # GIVEN the shop's example loaded
    # WHEN an order is placed with its items
    event, received = post_demo_event(stack, "retail", "order.placed", track_clicks=False)
    # THEN the phone reads the order number, the total in the order's currency and the items as the platform wrote them
    assert event["data"]["items"] == "2x T-shirt, 1x Cap"
    assert received["text"].startswith("Hi Ana, we received order A-1001 for NT$1,580.00: 2x T-shirt, 1x Cap.")
    body = next(c for c in received["request"]["template"]["components"] if c["type"] == "body")
    assert {"type": "text", "parameter_name": "items", "text": "2x T-shirt, 1x Cap"} in body["parameters"]


def test_the_transaction_alert_says_what_the_button_is_for(stack):
    # GIVEN the bank's example loaded WHEN a transaction posts
    _, received = post_demo_event(stack, "bank", "transaction.posted", track_clicks=False)
    # THEN the text tells a customer who did not make the charge to deny it, and it went on the high lane
    assert "Not you? Tap below to deny this transaction." in received["text"]
    assert received["request"]["template"]["name"] == "transaction_alert"
    message = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], received["request"]["biz_opaque_callback_data"])
    assert message["priority"] == "high"
