"""Templates as Meta takes them, through the real handlers under moto: URL buttons written
`{{1}}` (both parameter formats), media and location headers checked at intake (422 naming
`params.header...`, nothing written) and sent in the exact Cloud API component; the sandbox
refuses what Meta refuses (its error shape, 132012)."""

import copy
import json

import pytest

from tests.functional.conftest import load_event
from tests.functional.test_messages_api import queue_depth

HANDLE = "4::aW1hZ2UvanBlZw==:ARa1ZDhwbLZM3EENeeg"
TO = "+886912345678"
IMAGE_LINK = "https://cdn.example.com/promo/summer.jpg"


def media_template(header_format="IMAGE", name=None, category="UTILITY"):
    header = {"type": "HEADER", "format": header_format}
    if header_format != "LOCATION":
        header["example"] = {"header_handle": [HANDLE]}
    return {"name": name or f"order_{header_format.lower()}", "language": "en", "category": category, "parameter_format": "NAMED",
            "components": [header,
                           {"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready.",
                            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"},
                                                                   {"param_name": "order_id", "example": "A-1"}]}},
                           {"type": "FOOTER", "text": "Lucky Shrub"}]}


def send(api, name, header, **extra):
    params = {"first_name": "Ana", "order_id": "A-1001"}
    if header is not None:
        params["header"] = header
    return api.post("/v1/messages", {"to": TO, "template": {"name": name, "language": "en"}, "params": params, **extra})


def written(stack):
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    return [i for i in items if i["sk"]["S"] in ("MSG", "IDEM")]


def sandbox_post(stack, path, body):
    token = stack.sandbox.access_token
    return stack.sandbox.handle("POST", path, {"Authorization": f"Bearer {token}"}, json.dumps(body).encode())


# ---- URL buttons ------------------------------------------------------------------------------

def test_a_named_template_with_a_url_button_ending_in_1_registers_and_sends_the_suffix(api, stack):
    # GIVEN Meta's creation JSON: a NAMED template whose URL button ends in {{1}}
    payload = load_event("api/create_template.json")
    assert payload["parameter_format"] == "NAMED" and payload["components"][3]["buttons"][0]["url"].endswith("/{{1}}")
    # WHEN registered (the sandbox reviews it with Meta's rules) and sent with button_params {"0": suffix}
    api.approved_template(payload)
    message = load_event("api/create_message.json")
    status, body, _ = api.post("/v1/messages", message)
    assert status == 202, body
    stack.drain()
    # THEN Meta got the suffix as the url button's one text parameter
    request = stack.sandbox.received(TO)[0]["request"]
    button = [c for c in request["template"]["components"] if c["type"] == "button"][0]
    assert button == {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": message["button_params"]["0"]}]}


@pytest.mark.parametrize(("url", "fragment"), [
    ("https://track.example.com/{{tracking_number}}", "variable {{tracking_number}} is not Meta's form"),
    ("https://track.example.com/{{1}}/details", "the variable must be at the end of the URL"),
    ("https://track.example.com/{{1}}/{{1}}", "has 2 variables"),
])
def test_any_other_url_variable_is_a_422_naming_the_field_and_meta_refuses_it_too(api, stack, url, fragment):
    # GIVEN a URL button in a form Meta refuses
    payload = load_event("api/create_template.json")
    payload["components"][3]["buttons"][0]["url"] = url
    # WHEN registered through us
    status, body, _ = api.post("/v1/templates", payload)
    # THEN 422 naming the URL, saying what Meta expects, and nothing reached Meta
    assert status == 422
    problem = [e for e in body["errors"] if e["field"] == "components[3].buttons[0].url"]
    assert problem and fragment in problem[0]["message"] and "written {{1}}" in problem[0]["message"]
    assert stack.sandbox.templates == {}
    # AND the sandbox, sent the same JSON directly, refuses it in Meta's error shape
    waba = next(iter(stack.sandbox.numbers.values()))["waba_id"]
    http_status, answer = sandbox_post(stack, f"/v21.0/{waba}/message_templates", payload)
    assert http_status == 400 and answer["error"]["code"] == 100 and answer["error"]["type"] == "OAuthException"
    assert "components[3].buttons[0].url" in answer["error"]["error_data"]["details"]


def test_a_flow_step_on_a_url_button_template_must_name_the_field_that_fills_it(api):
    # GIVEN the approved order_shipped template (URL button 0 ends in {{1}})
    api.approved_template()
    flow = {"trigger": "order.shipped", "language": "en_US", "steps": [{"template": "order_shipped", "at": "now"}]}
    # WHEN a flow uses it without button_params
    status, body, _ = api.call("PUT", "/v1/flows/shipping", flow)
    # THEN 422 naming steps[0].button_params.0; with the mapping the flow is stored and an event fills the URL
    assert status == 422 and [e["field"] for e in body["errors"]] == ["steps[0].button_params.0"]
    flow["steps"][0]["button_params"] = {"0": "tracking_number"}
    assert api.call("PUT", "/v1/flows/shipping", flow)[0] == 201
    event = {"type": "order.shipped", "key": "A-1", "to": TO, "data": {
        "order_id": "A-1", "first_name": "Ana", "total": "NT$1", "eta": "soon", "tracking_number": "1Z9"}}
    status, body, _ = api.post("/v1/events", event)
    assert status == 202, body
    api.stack.drain()
    request = api.stack.sandbox.received(TO)[0]["request"]
    assert request["template"]["components"][-1]["parameters"] == [{"type": "text", "text": "1Z9"}]


# ---- media and location headers ---------------------------------------------------------------

@pytest.mark.parametrize(("header_format", "header", "parameter"), [
    ("IMAGE", {"image": {"link": IMAGE_LINK}}, {"type": "image", "image": {"link": IMAGE_LINK}}),
    ("VIDEO", {"video": {"id": "1037543291543636"}}, {"type": "video", "video": {"id": "1037543291543636"}}),
    ("DOCUMENT", {"document": {"link": "https://cdn.example.com/inv.pdf", "filename": "Invoice A-1001.pdf"}},
     {"type": "document", "document": {"link": "https://cdn.example.com/inv.pdf", "filename": "Invoice A-1001.pdf"}}),
    ("LOCATION", {"location": {"latitude": 25.0339, "longitude": 121.5645, "name": "Taipei 101", "address": "Xinyi Rd 7"}},
     {"type": "location", "location": {"latitude": "25.0339", "longitude": "121.5645", "name": "Taipei 101", "address": "Xinyi Rd 7"}}),
])
def test_a_media_or_location_header_reaches_meta_in_its_exact_component(api, stack, header_format, header, parameter):
    # GIVEN an approved template with a media or location header
    api.approved_template(media_template(header_format))
    # WHEN sent with params.header of its kind
    status, body, _ = send(api, f"order_{header_format.lower()}", header)
    assert status == 202, body
    stack.drain()
    # THEN the request Meta got carries the header component exactly as Meta documents it, first,
    # and the sandbox (which checks it as Meta does) accepted it: the message reached read
    components = stack.sandbox.received(TO)[0]["request"]["template"]["components"]
    assert components[0] == {"type": "header", "parameters": [parameter]}
    assert components[1]["type"] == "body"
    assert api.message(body["id"])["status"] == "read"


@pytest.mark.parametrize(("header_format", "header", "field"), [
    ("IMAGE", None, "params.header"),
    ("DOCUMENT", {"image": {"link": IMAGE_LINK}}, "params.header.image"),
    ("IMAGE", {"image": {"link": "http://cdn.example.com/p.jpg"}}, "params.header.image.link"),
    ("IMAGE", {"image": {"link": IMAGE_LINK, "id": "1037543291543636"}}, "params.header.image"),
    ("IMAGE", {"image": {"link": {"nested": "x"}}}, "params.header"),
    ("LOCATION", {"location": {"latitude": 95.5, "longitude": 121.5}}, "params.header.location.latitude"),
])
def test_missing_or_wrong_header_media_is_a_422_and_nothing_is_written(api, stack, header_format, header, field):
    # GIVEN an approved media or location header template
    api.approved_template(media_template(header_format))
    # WHEN sent without its header, or with the wrong kind or a bad value
    status, body, headers = send(api, f"order_{header_format.lower()}", header)
    # THEN 422 problem+json naming params.header..., nothing written or queued, nothing sent
    assert status == 422 and headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in body["errors"]], body
    assert written(stack) == [] and queue_depth(stack, "SendQueueNormal") == 0
    stack.drain()
    assert stack.sandbox.received() == []


def test_preview_shows_the_header_media(api):
    # GIVEN an approved document-header template
    api.approved_template(media_template("DOCUMENT"))
    header = {"document": {"id": "1037543291543636", "filename": "Invoice.pdf"}}
    # WHEN previewed with its document
    status, body, _ = api.post("/v1/templates/order_document/preview", {
        "language": "en", "params": {"first_name": "Ana", "order_id": "A-1", "header": header}})
    # THEN the preview shows the header media and the exact request
    parameter = {"type": "document", "document": {"id": "1037543291543636", "filename": "Invoice.pdf"}}
    assert status == 200 and body["header_media"] == parameter and body["header"] is None
    assert body["request"]["template"]["components"][0] == {"type": "header", "parameters": [parameter]}
    # AND without it, preview is the same 422 as a send
    status, body, _ = api.post("/v1/templates/order_document/preview", {"language": "en", "params": {"first_name": "Ana", "order_id": "A-1"}})
    assert status == 422 and body["errors"][0]["field"] == "params.header"


def test_events_fill_the_header_from_event_data_and_refuse_a_bad_one(api, stack):
    # GIVEN an image-header template and a flow that takes the image from the event's `photo`
    api.approved_template(media_template("IMAGE"))
    flow = {"trigger": "order.ready", "language": "en", "steps": [{"template": "order_image", "at": "now", "params": {"header": "photo"}}]}
    assert api.call("PUT", "/v1/flows/ready", flow)[0] == 201
    event = {"type": "order.ready", "key": "A-1", "to": TO, "data": {"first_name": "Ana", "order_id": "A-1"}}
    # WHEN an event comes with a non-https photo, or none
    bad = api.post("/v1/events", {**event, "data": {**event["data"], "photo": {"image": {"link": "ftp://x.example/p.jpg"}}}})
    missing = api.post("/v1/events", event)
    # THEN each is a 422 naming the event's data field, nothing planned
    assert bad[0] == 422 and [e["field"] for e in bad[1]["errors"]] == ["data.photo.image.link"]
    assert missing[0] == 422 and [e["field"] for e in missing[1]["errors"]] == ["data.photo"]
    assert written(stack) == []
    # AND a good photo goes out as Meta's image header
    status, body, _ = api.post("/v1/events", {**event, "data": {**event["data"], "photo": {"image": {"link": IMAGE_LINK}}}})
    assert status == 202, body
    stack.drain()
    assert stack.sandbox.received(TO)[0]["request"]["template"]["components"][0] == {
        "type": "header", "parameters": [{"type": "image", "image": {"link": IMAGE_LINK}}]}


def test_a_campaign_sends_its_location_header_to_every_contact(api, stack):
    # GIVEN a LOCATION-header template and two contacts tagged vip
    api.approved_template(media_template("LOCATION", category="MARKETING"))
    for phone in ("+14155550101", "+14155550102"):
        assert api.call("PUT", f"/v1/contacts/{phone}", {"tags": ["vip"]})[0] == 200
    location = {"latitude": 25.0339, "longitude": 121.5645, "name": "Taipei 101"}
    body = {"template": "order_location", "language": "en", "segment": {"tag": "vip"},
            "params": {"first_name": "friend", "order_id": "SALE", "header": {"location": location}}}
    # WHEN the campaign is planned (its params stored, then read back per page) and sent
    status, created, _ = api.post("/v1/campaigns", body)
    assert status == 202, created
    stack.drain()
    # THEN each contact got Meta's location header component, coordinates as Meta's text
    expected = {"type": "header", "parameters": [{"type": "location", "location": {
        "latitude": "25.0339", "longitude": "121.5645", "name": "Taipei 101"}}]}
    received = stack.sandbox.received()
    assert len(received) == 2 and all(m["request"]["template"]["components"][0] == expected for m in received)


def test_a_campaign_with_a_wrong_header_is_refused_before_planning(api, stack):
    # GIVEN an approved video-header template
    api.approved_template(media_template("VIDEO", category="MARKETING"))
    body = {"template": "order_video", "language": "en", "segment": {"tag": "vip"},
            "params": {"first_name": "friend", "order_id": "SALE", "header": {"image": {"link": IMAGE_LINK}}}}
    # WHEN a campaign gives an image for it
    status, problem, _ = api.post("/v1/campaigns", body)
    # THEN 422 naming params.header.image
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["params.header.image"]


def test_the_sandbox_refuses_a_media_header_sent_without_its_media_with_132012(api, stack):
    # GIVEN an approved image-header template at the sandbox
    api.approved_template(media_template("IMAGE"))
    pnid = next(iter(stack.sandbox.numbers))
    body = {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"},
                                           {"type": "text", "parameter_name": "order_id", "text": "A-1"}]}
    request = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO.lstrip("+"), "type": "template",
               "template": {"name": "order_image", "language": {"code": "en"}, "components": [body]}}
    # WHEN sent straight to the Cloud API without the header, or with a document in it
    without = sandbox_post(stack, f"/v21.0/{pnid}/messages", request)
    wrong = copy.deepcopy(request)
    wrong["template"]["components"].insert(0, {"type": "header", "parameters": [{"type": "document", "document": {"id": "1"}}]})
    mismatched = sandbox_post(stack, f"/v21.0/{pnid}/messages", wrong)
    # THEN Meta's 132012 in its error shape, and nothing is delivered
    for http_status, answer in (without, mismatched):
        assert http_status == 400 and answer["error"]["code"] == 132012
        assert answer["error"]["message"] == "(#132012) Parameter format does not match format in the created template"
        assert answer["error"]["error_data"]["details"].startswith("header: Format mismatch, expected IMAGE")
    assert stack.sandbox.received() == []
