"""STOP and its equivalents opt a contact out of marketing: new sends refused, pending ones never go out."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.test_callbacks import received, with_callbacks

CUSTOMER = "+886912345678"
PROMO = {"name": "spring_promo", "language": "en", "category": "MARKETING", "parameter_format": "NAMED", "components": [
    {"type": "BODY", "text": "Hi {{first_name}}, our spring sale starts today with 20% off.",
     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]}
PROMO_MESSAGE = {"to": CUSTOMER, "template": {"name": "spring_promo", "language": "en"}, "params": {"first_name": "Ana"}}


def write(stack, text):
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": text})[0] == 202
    stack.drain()


@pytest.mark.parametrize("word", ["STOP", "stop", " Parar ", "SAIR", "cancelar", "STOPP", "Annulla", "退訂"])
def test_stop_words_opt_out_of_marketing(api, stack, word):
    api.approved_template(PROMO)
    write(stack, word)
    status, body, _ = api.post("/v1/messages", PROMO_MESSAGE)
    assert status == 409 and "opted out of marketing" in body["detail"]
    assert api.get(f"/v1/contacts/{CUSTOMER}")[1]["opted_out"] is True


def test_ordinary_words_do_not_opt_out(api, stack):
    write(stack, "please stop by tomorrow")
    assert api.get(f"/v1/contacts/{CUSTOMER}")[1]["opted_out"] is False


def test_utility_messages_still_go_after_stop(api, stack, message_body):
    api.approved_template()
    write(stack, "STOP")
    assert api.post("/v1/messages", message_body)[0] == 202


def test_pending_marketing_is_cancelled_at_the_send_gate_and_the_platform_is_told(api, stack):
    # GIVEN a marketing message scheduled for tomorrow, and a platform listening
    with_callbacks(api, stack)
    api.approved_template(PROMO)
    at = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    message_id = api.post("/v1/messages", {**PROMO_MESSAGE, "send_at": at.isoformat()})[1]["id"]
    # WHEN the customer writes STOP, then the minute comes
    write(stack, "STOP")
    stack.request("POST", "/_local/clock", body={"at": at.isoformat()})
    stack.drain()
    # THEN the message is cancelled, not sent, and the platform heard about the opt-out
    assert api.message(message_id)["status"] == "cancelled"
    assert stack.sandbox.received() == []
    assert [c["data"]["phone"] for c in received(stack, "contact.opted_out")] == [CUSTOMER]


def test_start_or_the_api_opts_back_in(api, stack):
    api.approved_template(PROMO)
    write(stack, "STOP")
    write(stack, "START")
    assert api.post("/v1/messages", PROMO_MESSAGE)[0] == 202
    write(stack, "STOP")
    assert api.call("PUT", f"/v1/contacts/{CUSTOMER}", {"opted_out": False})[1]["opted_out"] is False
    assert api.post("/v1/messages", PROMO_MESSAGE)[0] == 202


def test_whatsapp_131050_opts_the_contact_out(api, stack):
    api.approved_template(PROMO)
    stack.sandbox.configure({"faults": [{"code": 131050, "mode": "async"}]})
    message_id = api.post("/v1/messages", PROMO_MESSAGE)[1]["id"]
    stack.drain()
    assert api.message(message_id)["error"]["code"] == 131050
    assert api.get(f"/v1/contacts/{CUSTOMER}")[1]["opted_out"] is True
    assert api.post("/v1/messages", PROMO_MESSAGE)[0] == 409


def test_flows_skip_marketing_steps_for_opted_out_contacts(api, stack):
    api.approved_template(PROMO)
    write(stack, "STOP")
    api.call("PUT", "/v1/flows/promo", {"trigger": "season.started", "language": "en", "steps": [{"template": "spring_promo", "at": "now"}]})
    body = api.post("/v1/events", {"type": "season.started", "key": "spring", "to": CUSTOMER, "data": {"first_name": "Ana"}})[1]
    assert body["messages"] == [] and body["skipped"][0]["reason"] == "the contact opted out of marketing"
