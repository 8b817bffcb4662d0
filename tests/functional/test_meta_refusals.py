"""Meta's refusals, in the sandbox too (issue 15).

For each send Meta refuses, the table shows (a) our intake refusing the request first, as
application/problem+json naming the field (or the template's status, or the window), and (b)
the same request sent straight to the sandbox, bypassing our intake, answered with Meta's code,
HTTP status and error shape. Where only Meta can know (131049 per-user marketing limit, 131056
pair rate) the sender's handling is tested end to end.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from wa_notify.adapters.cloud_api import Rejected
from wa_notify.services import callbacks

POSITIONAL = {
    "name": "visit_reminder", "language": "en_US", "category": "UTILITY", "parameter_format": "POSITIONAL",
    "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}}.", "example": {"body_text": [["Ana", "Monday"]]}}],
}
MARKETING = {
    "name": "spring_sale", "language": "en_US", "category": "MARKETING", "parameter_format": "NAMED",
    "components": [{"type": "BODY", "text": "Hi {{first_name}}, our spring sale starts today: 20% off everything.",
                    "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}],
}
PENDING = {
    "name": "order_pending", "language": "en_US", "category": "UTILITY", "parameter_format": "POSITIONAL",
    "components": [{"type": "BODY", "text": "Your order {{1}} is being prepared.", "example": {"body_text": [["A-1001"]]}}],
}
NOT_APPROVED = PENDING["name"]
STRANGER = "+14155550142"  # never wrote to us: no customer-service window


def components(request: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in request["template"].get("components", []) if c["type"] == kind]


def params_of(request: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return components(request, kind)[0]["parameters"]


def drop_component(request: dict[str, Any], kind: str) -> None:
    request["template"]["components"] = [c for c in request["template"]["components"] if c["type"] != kind]


@dataclass
class Refusal:
    """One refusal: what our intake answers, and what Meta (the sandbox) answers to the same send."""

    template: str  # "named" (order_shipped), "positional" (visit_reminder) or "pending"
    intake: Callable[[dict[str, Any]], None]  # changes the POST /v1/messages body
    status: int  # our answer
    names: str  # the errors[].field (422), or a word the detail must name (404/409)
    meta: Callable[[dict[str, Any]], None]  # changes the Cloud API request we would have sent
    code: int  # Meta's
    http: int  # Meta's HTTP status (whatsapp-cloud-api.md §1.6: 404 for 132001, else 400)
    details: str = ""  # a part of Meta's error_data.details
    title: str = field(default="")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for p in parents:
            target = target[p]
        target[last] = value
    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for p in parents:
            target = target[p]
        del target[last]
    return change


def _meta_body(change: Callable[[list[dict[str, Any]]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda request: change(params_of(request, "body"))


def _strip_names(params: list[dict[str, Any]]) -> None:
    for p in params:
        p.pop("parameter_name", None)


def _add_names(params: list[dict[str, Any]]) -> None:
    for i, p in enumerate(params):
        p["parameter_name"] = f"p{i + 1}"


def _positional_to_named(body: dict[str, Any]) -> None:
    body["params"] = {"first_name": "Ana", "day": "Monday"}


REFUSALS = {
    "unknown template": Refusal(
        "named", _set("template.name", "no_such_template"), 422, "template.name",
        _set("template.name", "no_such_template"), 132001, 404, "template name (no_such_template) does not exist in en_US",
        "Template name does not exist in the translation"),
    "a language the template does not have": Refusal(
        "named", _set("template.language", "pt_BR"), 422, "template.name",
        _set("template.language.code", "pt_BR"), 132001, 404, "does not exist in pt_BR"),
    "a PENDING template": Refusal(
        "pending", lambda b: None, 409, "PENDING", lambda r: None, 132001, 404, f"template name ({NOT_APPROVED})"),
    "a body parameter missing": Refusal(
        "named", _delete("params.eta"), 422, "params.eta",
        _meta_body(lambda ps: ps.pop()), 132000, 400,
        "body: number of localizable_params (2) does not match the expected number of params (3)",
        "Number of parameters does not match the expected number of params"),
    "a body parameter too many": Refusal(
        "named", _set("params.coupon", "SPRING"), 422, "params.coupon",
        _meta_body(lambda ps: ps.append({"type": "text", "text": "SPRING", "parameter_name": "coupon"})), 132000, 400,
        "body: number of localizable_params (4) does not match the expected number of params (3)"),
    "the header parameter missing": Refusal(
        "named", _delete("params.order_id"), 422, "params.order_id",
        lambda r: drop_component(r, "header"), 132000, 400, "header: number of localizable_params (0)"),
    "the URL button's parameter missing": Refusal(
        "named", _delete("button_params"), 422, "button_params.0",
        lambda r: drop_component(r, "button"), 132000, 400, "button at index 0: number of localizable_params (0)"),
    "positional parameters for a NAMED template": Refusal(
        "named", _set("params", {"1": "A-1001", "2": "Ana", "3": "NT$1,580", "4": "soon"}), 422, "params.1",
        _meta_body(_strip_names), 132012, 400, "parameter_format is NAMED",
        "Parameter format does not match format in the created template"),
    "parameter_name for a POSITIONAL template": Refusal(
        "positional", _positional_to_named, 422, "params.first_name",
        _meta_body(_add_names), 132012, 400, "parameter_format is POSITIONAL"),
    "a header parameter over 60 characters": Refusal(
        "named", _set("params.order_id", "A" * 61), 422, "params.order_id",
        lambda r: params_of(r, "header")[0].update(text="A" * 61), 131009, 400, "at most 60", "Parameter value is not valid"),
    "an empty body parameter": Refusal(
        "named", _set("params.first_name", " "), 422, "params.first_name",
        _meta_body(lambda ps: ps[0].update(text="")), 131008, 400, "non-empty value", "Required parameter is missing"),
    "a rendered body over 1,024 characters": Refusal(
        "named", _set("params.first_name", "A" * 1000), 422, "params",
        _meta_body(lambda ps: ps[0].update(text="A" * 1000)), 132005, 400, "the rendered text is", "Template Hydrated Text Too Long"),
    "a button at an index the template lacks": Refusal(
        "named", _set("button_params", {"0": "1Z", "5": "x"}), 422, "button_params.5",
        lambda r: r["template"]["components"].append({"type": "button", "sub_type": "url", "index": "5",
                                                      "parameters": [{"type": "text", "text": "x"}]}),
        132000, 400, "button at index 5: the template has no button there"),
    "a media value where the template has text": Refusal(
        "named", _set("params.first_name", {"image": {"link": "https://example.com/a.png"}}), 422, "params.first_name",
        _meta_body(lambda ps: ps[1].update(type="image", image={"link": "https://example.com/a.png"})), 132012, 400,
        "Format mismatch, expected TEXT, received IMAGE"),
}


def graph(stack, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /{pnid}/messages straight to the sandbox, with the tenant's token: no intake on the way."""
    sandbox = stack.sandbox
    headers = {"Authorization": f"Bearer {sandbox.access_token}", "Content-Type": "application/json"}
    return sandbox.handle("POST", f"/v23.0/{stack.dev_tenant['phone_number_id']}/messages", headers, json.dumps(request).encode())


def assert_meta_error(body: dict[str, Any], code: int, details: str, title: str = "") -> None:
    """Meta's error shape: {"error": {message "(#code) title", type, code, error_data {messaging_product, details}, fbtrace_id}}."""
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "code", "error_data", "fbtrace_id"}
    assert error["code"] == code and error["type"] == "OAuthException" and error["fbtrace_id"]
    assert error["message"].startswith(f"({'#'}{code}) ")
    if title:
        assert error["message"] == f"(#{code}) {title}"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert details in error["error_data"]["details"]


@pytest.fixture
def templates(api, stack):
    """order_shipped (NAMED, header, body and a URL button), visit_reminder (POSITIONAL), both
    APPROVED, and order_pending still PENDING at Meta and with us."""
    api.approved_template()
    api.approved_template(POSITIONAL)
    stack.sandbox.configure({"template_decision": "PENDING"})
    created = api.post("/v1/templates", copy.deepcopy(PENDING))
    assert created[0] == 201, created[1]
    stack.drain()
    stack.sandbox.configure({"template_decision": "APPROVED"})


def intake_body(case: Refusal, message_body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(message_body)
    if case.template == "positional":
        body.update(template={"name": "visit_reminder", "language": "en_US"}, params={"1": "Ana", "2": "Monday"})
        body.pop("button_params")
    elif case.template == "pending":
        body.update(template={"name": NOT_APPROVED, "language": "en_US"}, params={"1": "A-1001"})
        body.pop("button_params")
    case.intake(body)
    return body


def valid_request(api, case: Refusal, message_body: dict[str, Any]) -> dict[str, Any]:
    """The exact Cloud API request our renderer builds for the valid message (the preview's)."""
    body = intake_body(Refusal(case.template, lambda b: None, 0, "", lambda r: None, 0, 0), message_body)
    if case.template == "pending":  # we hold no request for a template we cannot send: Meta's form by hand
        return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "886912345678", "type": "template",
                "template": {"name": NOT_APPROVED, "language": {"code": "en_US"},
                             "components": [{"type": "body", "parameters": [{"type": "text", "text": "A-1001"}]}]}}
    name = body["template"]["name"]
    preview = {"language": "en_US", "params": body["params"], "button_params": body.get("button_params"), "to": body["to"]}
    status, view, _ = api.post(f"/v1/templates/{name}/preview", {k: v for k, v in preview.items() if v is not None})
    assert status == 200, view
    request = view["request"]
    request["template"]["name"] = body["template"]["name"]
    return request


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_intake_refuses_before_meta_and_the_sandbox_refuses_as_meta(api, stack, templates, message_body, case):
    # GIVEN the request as a platform would send it, with the one thing Meta refuses
    body = intake_body(case, message_body)
    calls = len(stack.sandbox.messages)
    # WHEN it reaches our intake
    status, problem, headers = api.post("/v1/messages", body)
    # THEN it is refused as problem+json naming the field (or the status), and nothing went to Meta
    assert status == case.status, problem
    assert headers["content-type"].startswith("application/problem+json")
    if status == 422:
        assert case.names in [e["field"] for e in problem["errors"]], problem
    else:
        assert case.names in problem["detail"], problem
    stack.drain()
    assert len(stack.sandbox.messages) == calls
    # GIVEN the same send as a Cloud API request, bypassing our intake
    request = valid_request(api, case, message_body)
    case.meta(request)
    # WHEN it goes straight to WhatsApp (the sandbox)
    http, answer = graph(stack, request)
    # THEN Meta's code, HTTP status and error shape come back
    assert http == case.http, answer
    assert_meta_error(answer, case.code, case.details, case.title)
    # AND the Cloud API adapter reads it as a refusal that is not retried
    token = stack.deps.whatsapp_token(stack.dev_tenant["tenant_id"])
    outcome = stack.deps.cloud_api.send_message(stack.dev_tenant["phone_number_id"], request, token)
    assert isinstance(outcome, Rejected) and outcome.error.code == case.code and not outcome.error.retryable


def test_a_rejected_template_is_refused_by_both(api, stack, message_body):
    # GIVEN a template Meta rejected (and so do we, from its webhook)
    stack.sandbox.configure({"template_decision": "REJECTED"})
    api.approved_template()
    body = copy.deepcopy(message_body)
    # WHEN it is sent through our intake
    status, problem, _ = api.post("/v1/messages", body)
    # THEN 409 naming the status
    assert status == 409 and "REJECTED" in problem["detail"], problem
    # WHEN the Cloud API request goes straight to the sandbox
    request = {"messaging_product": "whatsapp", "to": "886912345678", "type": "template",
               "template": {"name": "order_shipped", "language": {"code": "en_US"}}}
    http, answer = graph(stack, request)
    # THEN 132001, HTTP 404
    assert http == 404
    assert_meta_error(answer, 132001, "template name (order_shipped) does not exist in en_US")


def test_free_text_outside_the_window_is_refused_by_us_and_failed_by_meta_through_the_webhook(api, stack):
    # GIVEN someone who never wrote to us
    # WHEN free text to them reaches our intake
    status, problem, headers = api.post("/v1/messages", {"to": STRANGER, "text": "Your table is ready"})
    # THEN 409 naming the window, nothing sent
    assert status == 409 and "24 h customer-service window" in problem["detail"]
    assert headers["content-type"].startswith("application/problem+json")
    assert stack.sandbox.received(STRANGER) == []
    # WHEN the same text goes straight to the sandbox
    http, answer = graph(stack, {"messaging_product": "whatsapp", "to": STRANGER.lstrip("+"), "type": "text",
                                 "text": {"body": "Your table is ready"}})
    # THEN Meta's way: accepted (200, a wamid), then failed by a status webhook carrying 131047
    assert http == 200 and answer["messages"][0]["id"].startswith("wamid.")
    failed = [s for w in stack.sandbox.webhook_log for c in w["payload"]["entry"][0]["changes"]
              for s in c["value"].get("statuses", []) if s["id"] == answer["messages"][0]["id"]]
    assert [s["status"] for s in failed] == ["failed"]
    error = failed[0]["errors"][0]
    assert error["code"] == 131047 and error["title"] == error["message"] == "Re-engagement message"
    assert "24 hours" in error["error_data"]["details"] and "pricing" not in failed[0]


def test_the_pair_rate_refusal_has_metas_shape(api, stack):
    # GIVEN a pair burst of one
    stack.sandbox.configure({"pair_burst": 1, "pair_interval_seconds": 3600})
    stack.sandbox.templates[(stack.dev_tenant["waba_id"], "hello", "en")] = {
        "name": "hello", "language": "en", "category": "UTILITY", "parameter_format": "POSITIONAL", "status": "APPROVED",
        "components": [{"type": "BODY", "text": "Hello there."}]}
    request = {"messaging_product": "whatsapp", "to": "14155550100", "type": "template",
               "template": {"name": "hello", "language": {"code": "en"}}}
    # WHEN two go to one person at once
    assert graph(stack, request)[0] == 200
    http, answer = graph(stack, request)
    # THEN the second is refused with 131056, synchronously, in Meta's shape (HTTP 400 by default)
    assert http == 400
    assert_meta_error(answer, 131056, "too many messages sent from this phone number to the same phone number",
                      "(Business Account, Consumer Account) pair rate limit hit")


def marketing_sends(api, stack, n: int, to: str = STRANGER) -> list[str]:
    ids = []
    for i in range(n):
        status, body, _ = api.post("/v1/messages", {"to": to, "template": {"name": "spring_sale", "language": "en_US"},
                                                    "params": {"first_name": "Ana"}, "priority": "bulk", "metadata": {"n": i}})
        assert status == 202, body
        ids.append(body["id"])
    return ids


def test_the_per_user_marketing_limit_fails_the_message_once_reported_and_never_retried(api, stack):
    # GIVEN WhatsApp limiting marketing to two per user per day, and a platform listening
    callbacks._settings_cache.clear()
    api.call("PUT", "/v1/settings", {"callback_url": "https://platform.example.com/hooks/wa"})
    stack.sandbox.configure({"marketing_per_user_limit": 2})
    api.approved_template(MARKETING)
    # WHEN four marketing messages go to one person
    ids = marketing_sends(api, stack, 4)
    stack.drain()
    # THEN two are read; two fail with 131049, reported with Meta's title and our advice
    messages = [api.message(i) for i in ids]
    assert sorted(m["status"] for m in messages) == ["failed", "failed", "read", "read"]
    refused = [m for m in messages if m["status"] == "failed"]
    for m in refused:
        assert m["error"]["code"] == 131049 and "healthy ecosystem engagement" in m["error"]["title"]
        assert "at least 24 h" in m["error"]["advice"] and m["attempts"] == 1
    failed = [json.loads(c["body"])["data"] for c in stack.callback_inbox
              if json.loads(c["body"])["type"] == "message.status" and json.loads(c["body"])["data"]["status"] == "failed"]
    assert sorted(f["message_id"] for f in failed) == sorted(m["id"] for m in refused)
    assert {f["error"]["code"] for f in failed} == {131049} and all("24 h" in f["error"]["advice"] for f in failed)
    # AND nothing retries them: WhatsApp got exactly one request per message, however long we wait
    stack.drain()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    stack.request("POST", "/_local/clock", body={"at": later})
    stack.drain()
    assert len(stack.sandbox.received(STRANGER)) == 4
    assert sorted(api.message(i)["status"] for i in ids) == ["failed", "failed", "read", "read"]


def test_marketing_inside_an_open_window_is_not_limited(api, stack):
    # GIVEN the limit at one, and a person who just wrote to us (their window is open)
    stack.sandbox.configure({"marketing_per_user_limit": 1})
    api.approved_template(MARKETING)
    stack.request("POST", "/_local/sandbox/inbound", body={"from": STRANGER, "text": "Any offers?"})
    stack.drain()
    # WHEN three marketing messages go to them
    ids = marketing_sends(api, stack, 3)
    stack.drain()
    # THEN all are delivered: Meta does not count marketing inside the customer-service window
    assert [api.message(i)["status"] for i in ids] == ["read"] * 3


def test_the_marketing_limit_is_off_by_default_and_is_per_user(api, stack):
    # GIVEN the sandbox as it starts (no per-user marketing limit), then a limit of one
    assert stack.sandbox.config()["marketing_per_user_limit"] is None
    api.approved_template(MARKETING)
    ids = marketing_sends(api, stack, 3)
    stack.drain()
    assert [api.message(i)["status"] for i in ids] == ["read"] * 3
    stack.sandbox.configure({"marketing_per_user_limit": 1})
    # WHEN one marketing message goes to each of two people
    first = marketing_sends(api, stack, 1)[0]
    other = marketing_sends(api, stack, 1, to="+14155550143")[0]
    stack.drain()
    # THEN each gets theirs: the limit counts per user
    assert api.message(first)["status"] == api.message(other)["status"] == "read"


def test_a_synchronous_131049_fails_at_once_with_advice_and_is_not_retried(api, stack):
    # GIVEN WhatsApp answering the send itself with 131049 (the HTTP answer, not a status webhook)
    stack.sandbox.configure({"faults": [{"code": 131049, "mode": "sync", "to": STRANGER}]})
    api.approved_template(MARKETING)
    # WHEN a marketing message goes, with attempts to spare
    message_id = marketing_sends(api, stack, 1)[0]
    stack.drain()
    stack.drain()
    # THEN it failed on its first attempt with Meta's code and the advice, and WhatsApp got no second request
    message = api.message(message_id)
    assert message["status"] == "failed" and message["attempts"] == 1 and stack.deps.settings.max_send_attempts > 1
    assert message["error"]["code"] == 131049 and "at least 24 h" in message["error"]["advice"]
    assert stack.sandbox.received(STRANGER) == []


def sandbox_request(api, message_body: dict[str, Any]) -> dict[str, Any]:
    """The Cloud API request our renderer builds for order_shipped (NAMED: header, body, a URL button)."""
    return valid_request(api, Refusal("named", lambda b: None, 0, "", lambda r: None, 0, 0), message_body)


@pytest.mark.parametrize(("change", "code", "details"), [
    (lambda r: r["template"]["language"].update(policy="fallback"), 100, "language.policy"),
    (lambda r: components(r, "button")[0]["parameters"][0].update(text="1Z 999/AA"), 131009, "percent-encoded"),
    (lambda r: r["template"]["components"].append({"type": "bodyy", "parameters": []}), 100, "unknown type 'bodyy'"),
    (lambda r: components(r, "button")[0].update(sub_type="quick_reply", parameters=[{"type": "payload", "payload": "X"}]), 132012,
     "expected URL, received QUICK_REPLY"),
    (lambda r: components(r, "button")[0].update(sub_type="link"), 100, "sub_type 'link'"),
    (lambda r: params_of(r, "body")[1].update(type="currency", currency={"fallback_value": "$1"}), 131008, "currency"),
])
def test_the_sandbox_refuses_sends_meta_refuses_that_our_renderer_never_builds(api, stack, templates, message_body, change, code, details):
    # GIVEN the request our renderer builds, changed the way another client might build it
    request = sandbox_request(api, message_body)
    change(request)
    # WHEN it goes straight to the sandbox / THEN Meta's code comes back, in Meta's shape, with a title
    http, answer = graph(stack, request)
    assert http == 400, answer
    assert_meta_error(answer, code, details)
    assert not answer["error"]["message"].endswith(" Error")


@pytest.mark.parametrize("change", [
    pytest.param(lambda r: params_of(r, "body").reverse(), id="named parameters in another order"),
    pytest.param(lambda r: r.update(to="+886 (912) 345-678"), id="to with spaces, dashes and parentheses"),
    pytest.param(lambda r: r["template"]["language"].update(policy="deterministic"), id="policy deterministic"),
])
def test_the_sandbox_accepts_what_meta_accepts(api, stack, templates, message_body, change):
    # GIVEN a valid request written another way Meta documents as accepted (reference §1.1, §1.2)
    request = sandbox_request(api, message_body)
    change(request)
    # WHEN it goes straight to the sandbox / THEN it is accepted, and the phone shows the same text
    http, answer = graph(stack, request)
    assert http == 200, answer
    assert stack.sandbox.messages[-1]["text"].startswith("Hi Ana, your order of NT$1,580.00")


def test_the_sandbox_answers_a_template_it_cannot_check_with_a_refusal_not_a_crash(api, stack):
    # GIVEN a carousel template the WABA holds at Meta (a form the sandbox cannot fill)
    from infra.local.sandbox_templates import MetaTemplate, put_templates

    carousel = {"name": "carousel_promo", "language": "en_US", "category": "marketing", "status": "approved", "components": [
        {"type": "BODY", "text": "See our picks"}, {"type": "CAROUSEL", "cards": [{"components": []}]}]}
    put_templates(stack.sandbox, stack.dev_tenant["waba_id"], [MetaTemplate.model_validate(carousel).model_dump(exclude_none=True)])
    # WHEN a send of it reaches the sandbox
    http, answer = graph(stack, {"messaging_product": "whatsapp", "to": "886912345678", "type": "template",
                                 "template": {"name": "carousel_promo", "language": {"code": "en_US"}}})
    # THEN a Graph error says the sandbox cannot check it (never a 500)
    assert http == 400 and answer["error"]["code"] == 100 and "cannot be checked" in answer["error"]["error_data"]["details"]


COPY_AND_OTP = [
    {"name": "promo_code", "language": "en_US", "category": "MARKETING", "status": "APPROVED", "components": [
        {"type": "BODY", "text": "Your code for 25% off is below."}, {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "25OFF"}]}]},
    {"name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "status": "APPROVED", "components": [
        {"type": "BODY", "text": "{{1}} is your verification code."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]},
]


@pytest.mark.parametrize(("name", "components_sent", "code"), [
    ("promo_code", [], 131008),  # no coupon: nothing to copy
    ("promo_code", [{"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": "X" * 16}]}], 131009),
    ("login_code", [{"type": "body", "parameters": [{"type": "text", "text": "482913"}]}], 132000),  # no OTP button
    ("login_code", [{"type": "body", "parameters": [{"type": "text", "text": "1234567890123456"}]},
                    {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "1234567890123456"}]}], 131009),
])
def test_copy_code_and_otp_sends_meta_refuses_are_refused(api, stack, name, components_sent, code):
    # GIVEN a copy-code and an authentication template the WABA holds at Meta
    from infra.local.sandbox_templates import put_templates

    put_templates(stack.sandbox, stack.dev_tenant["waba_id"], copy.deepcopy(COPY_AND_OTP))
    # WHEN a send without what Meta requires (or with too long a code) reaches the sandbox
    http, answer = graph(stack, {"messaging_product": "whatsapp", "to": "886912345678", "type": "template",
                                 "template": {"name": name, "language": {"code": "en_US"}, "components": components_sent}})
    # THEN Meta's code comes back
    assert http == 400 and answer["error"]["code"] == code, answer


def test_our_copy_code_and_otp_sends_pass_the_sandbox(api, stack):
    # GIVEN both templates imported from Meta
    from infra.local.sandbox_templates import put_templates

    put_templates(stack.sandbox, stack.dev_tenant["waba_id"], copy.deepcopy(COPY_AND_OTP))
    assert api.post("/v1/templates/sync", {})[0] == 200
    # WHEN each is sent through our API the way a platform would (the code given once)
    sent = [api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "promo_code", "language": "en_US"}, "button_params": {"0": "SAVE25"}}),
            api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "login_code", "language": "en_US"}, "params": {"1": "482913"}})]
    stack.drain()
    # THEN Meta (the sandbox) accepted both: they reach read
    assert [s[0] for s in sent] == [202, 202], sent
    assert [api.message(s[1]["id"])["status"] for s in sent] == ["read", "read"]


@pytest.mark.parametrize("change", [
    pytest.param(lambda r: params_of(r, "body")[1].update(parameter_name=params_of(r, "body")[0]["parameter_name"]), id="a parameter_name twice"),
    pytest.param(lambda r: params_of(r, "body")[0].update(parameter_name=["first_name"]), id="a parameter_name as a list"),
    pytest.param(lambda r: r["template"].update(name=["order_shipped"]), id="the name as a list"),
    pytest.param(lambda r: r["template"]["language"].update(code=["en_US"]), id="the language code as a list"),
    pytest.param(lambda r: components(r, "body")[0].update(parameters=5), id="parameters as a number"),
    pytest.param(lambda r: components(r, "button")[0].update(parameters=7), id="button parameters as a number"),
    pytest.param(lambda r: components(r, "button")[0].update(index="\u0661"), id="an index in Arabic-Indic digits"),
    pytest.param(lambda r: components(r, "button")[0]["parameters"][0].update(text="a%zz"), id="a malformed percent escape"),
    pytest.param(lambda r: r.update(to="886912345678\n"), id="to with a line break"),
])
def test_the_sandbox_answers_malformed_graph_requests_with_meta_s_error_never_an_exception(api, stack, templates, message_body, change):
    # GIVEN the request our renderer builds, broken the way a raw Graph client might break it
    request = sandbox_request(api, message_body)
    change(request)
    # WHEN it reaches the sandbox / THEN a Graph error in Meta's shape (an exception was a 500)
    http, answer = graph(stack, request)
    assert http == 400 and set(answer) == {"error"} and answer["error"]["code"] in (100, 131009, 132000, 132012), answer
