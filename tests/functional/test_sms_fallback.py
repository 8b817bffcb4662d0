"""SMS fallback (Amazon SNS, moto) for utility and authentication messages that WhatsApp cannot
deliver (131026) or that stay unread past the tenant's per-template deadline."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from wa_notify.adapters.sms import Sms
from wa_notify.services import callbacks

from tests.functional.conftest import load_event
from tests.functional.test_webhooks_and_statuses import post_webhook

TO = "+886912345678"


def sms_sent():
    """What SNS sent, as (phone, text)."""
    return list(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values())


def enable(api, **over):
    callbacks._settings_cache.clear()
    status, body, _ = api.call("PUT", "/v1/settings", {"sms_fallback": {"enabled": True, **over}})
    assert status == 200, body
    callbacks._settings_cache.clear()
    return body


def send(api, stack, **over):
    status, body, _ = api.post("/v1/messages", {**load_event("api/create_message.json"), **over})
    assert status == 202, body
    stack.drain()
    return body["id"]


def test_undeliverable_131026_falls_back_to_one_sms_and_history_shows_both(api, stack):
    # GIVEN a tenant with SMS fallback, and WhatsApp reporting the message undeliverable after accepting it
    api.approved_template()
    enable(api)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    # WHEN the message is sent and the failed status arrives
    message_id = send(api, stack)
    # THEN exactly one SMS went to the customer with the rendered text
    assert len(sms_sent()) == 1
    phone, text = sms_sent()[0]
    assert phone == TO
    assert text.startswith("Order A-1001 shipped\n") and "Ana" in text and "1,580" in text  # header, then the rendered body
    view = api.message(message_id)
    assert view["status"] == "failed" and view["error"]["code"] == 131026
    assert [(h["channel"], h["status"]) for h in view["history"]][-2:] == [("whatsapp", "failed"), ("sms", "sent")]
    assert view["fallback"]["channel"] == "sms" and view["fallback"]["reason"] == "undeliverable" and view["fallback"]["provider_message_id"]
    # AND the same webhook delivered again sends no second SMS
    for record in stack.sandbox.webhook_log:
        post_webhook(stack, record["payload"])
    stack.drain()
    assert len(sms_sent()) == 1


def test_a_synchronous_131026_falls_back_too(api, stack):
    api.approved_template()
    enable(api)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "sync"}]})
    message_id = send(api, stack)
    assert api.message(message_id)["fallback"]["status"] == "sent"
    assert len(sms_sent()) == 1


def test_unread_past_the_templates_deadline_gets_one_sms_read_in_time_gets_none(api, stack):
    # GIVEN a 5-minute unread deadline for order_shipped, and a phone that never reads
    api.approved_template()
    enable(api, unread_minutes={"order_shipped": 5})
    stack.sandbox.configure({"auto_status": False})
    unread = send(api, stack)
    stack.sandbox.configure({"auto_status": True})
    read_in_time = send(api, stack, to="+886912000777")
    assert api.message(read_in_time)["status"] == "read"
    now = stack.deps.now()
    # WHEN the schedule fires before and after the deadline, twice
    for minutes in (4, 6, 7):
        assert stack.request("POST", "/_local/clock", body={"at": (now + timedelta(minutes=minutes)).isoformat()})[0] == 200
        stack.drain()
        if minutes == 4:
            assert sms_sent() == []
    # THEN only the unread message got its SMS, once
    assert [phone for phone, _ in sms_sent()] == [TO]
    view = api.message(unread)
    assert view["status"] == "accepted" and view["fallback"]["reason"] == "unread"
    assert view["history"][-1]["channel"] == "sms"
    assert api.message(read_in_time)["fallback"] is None


def test_marketing_and_tenants_without_fallback_get_no_sms(api, stack):
    api.approved_template()
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    message_id = send(api, stack)  # fallback not enabled
    assert api.message(message_id)["status"] == "failed" and sms_sent() == []
    enable(api)
    marketing = {**load_event("api/create_template.json"), "name": "weekend_sale", "category": "MARKETING"}
    marketing["components"] = [{**c, "text": "Weekend sale! " + c["text"]} if c["type"] == "BODY" else c for c in marketing["components"]]
    api.approved_template(marketing)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    send(api, stack, template={"name": "weekend_sale", "language": "en_US"})
    assert sms_sent() == []


class RefusingSns:
    def publish(self, **_):
        raise ClientError({"Error": {"Code": "OptedOut", "Message": "the number opted out of SMS"}}, "Publish")


class SilentSns:
    def publish(self, **_):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "try later"}}, "Publish")


@pytest.mark.parametrize(("client", "status"), [(RefusingSns(), "failed"), (SilentSns(), "unknown")])
def test_an_sms_refusal_or_lost_answer_is_recorded_and_never_retried(api, stack, client, status):
    # GIVEN SNS refusing, or answering with an error after which it may still have sent
    api.approved_template()
    enable(api)
    stack.deps._sms = Sms(client=client)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    message_id = send(api, stack)
    # THEN the history says so, and a redelivered webhook does not try again
    view = api.message(message_id)
    assert view["fallback"]["status"] == status and view["history"][-1] == {**view["history"][-1], "channel": "sms", "status": status}
    stack.deps._sms = Sms()
    for record in stack.sandbox.webhook_log:
        post_webhook(stack, record["payload"])
    stack.drain()
    assert sms_sent() == []


def test_settings_validate_the_fallback(api):
    for bad, field in (({"enabled": "yes"}, "sms_fallback.enabled"), ({"unread_minutes": {"otp": 0}}, "sms_fallback.unread_minutes.otp"),
                       ({"sender_id": "not valid!"}, "sms_fallback.sender_id")):
        status, body, _ = api.call("PUT", "/v1/settings", {"sms_fallback": bad})
        assert status == 422 and body["errors"][0]["field"] == field, body


def test_racing_triggers_send_one_sms(api, stack):
    # GIVEN an unread message whose deadline two overlapping ticks (or a tick and a late 131026) both act on
    import threading

    from wa_notify.services import fallback

    api.approved_template()
    enable(api, unread_minutes={"order_shipped": 1})
    stack.sandbox.configure({"auto_status": False})
    message_id = send(api, stack)
    tenant_id = stack.dev_tenant["tenant_id"]
    results = []
    # WHEN eight of them fire at once
    threads = [threading.Thread(target=lambda: results.append(fallback.send(stack.deps, tenant_id, message_id, fallback.REASON_UNREAD)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN the conditional claim lets exactly one through
    assert sorted(results, key=str) == [None] * 7 + ["sent"]
    assert len(sms_sent()) == 1


def test_the_local_stack_shows_what_sms_went(api, stack):
    api.approved_template()
    enable(api)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "sync"}]})
    send(api, stack)
    status, _, raw = stack.request("GET", f"/_local/sms?to={TO.replace('+', '%2B')}")
    import json

    assert status == 200 and [m["to"] for m in json.loads(raw)["messages"]] == [TO]


def test_an_unread_deadline_for_a_template_that_does_not_exist_or_cannot_fall_back_is_refused(api, stack):
    # GIVEN a utility template, and a marketing one
    api.approved_template()
    marketing = {"name": "spring_sale", "language": "en_US", "category": "MARKETING",
                 "components": [{"type": "BODY", "text": "Our spring sale starts today: 20% off everything."}]}
    assert api.post("/v1/templates", marketing)[0] == 201
    # WHEN unread deadlines name a misspelt template and the marketing one
    status, problem, _ = api.call("PUT", "/v1/settings", {"sms_fallback": {"enabled": True, "unread_minutes": {
        "order_shiped": 5, "spring_sale": 5, "order_shipped": 5}}})
    # THEN 422 naming each (a misspelt name was stored and never fired), and nothing is stored
    assert status == 422, problem
    assert sorted(e["field"] for e in problem["errors"]) == ["sms_fallback.unread_minutes.order_shiped", "sms_fallback.unread_minutes.spring_sale"]
    assert not (api.get("/v1/settings")[1].get("sms_fallback") or {}).get("unread_minutes")
