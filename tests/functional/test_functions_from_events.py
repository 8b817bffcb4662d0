"""Each function invoked directly with its sample event from events/ (as `sam local invoke -e` would)."""

import json
import threading
from datetime import UTC, datetime, timedelta

from tests.functional.conftest import load_event


def accepted_message(api, stack, message_body):
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    return message_id, api.message(message_id)["provider_message_id"]


def test_webhook_function_applies_the_sample_function_url_event_before_answering(api, stack, message_body):
    from wa_notify.domain import signatures

    # GIVEN an accepted message and the webhook function's sample function-URL event pointed at it, signed
    message_id, wamid = accepted_message(api, stack, message_body)
    event = load_event("webhook/function_url_status.json")
    body = (event["body"].replace("<phone number id>", stack.dev_tenant["phone_number_id"])
            .replace("<wamid>", wamid).replace("<message id>", message_id))
    event["body"] = body
    event["headers"]["x-hub-signature-256"] = signatures.sign(stack.app_secret, body.encode())
    # WHEN the function runs
    response = stack.functions["WebhookFunction"].invoke(event)
    # THEN it answers 200 and the message is already delivered: nothing queued in between
    assert response["statusCode"] == 200
    assert api.message(message_id)["status"] == "delivered"
    # AND another path on the function's URL is 404, another method 405
    assert stack.functions["WebhookFunction"].invoke({**event, "rawPath": "/admin"})["statusCode"] == 404
    put = {**event, "requestContext": {**event["requestContext"], "http": {**event["requestContext"]["http"], "method": "PUT"}}}
    assert stack.functions["WebhookFunction"].invoke(put)["statusCode"] == 405


def test_callback_function_turns_the_sample_stream_record_into_a_signed_callback(api, stack, message_body):
    from wa_notify.domain import signatures

    # GIVEN a platform with a callback URL and the callback function's sample stream record (sent -> delivered)
    status, settings, _ = api.call("PUT", "/v1/settings", {"callback_url": "https://platform.example.com/hooks/wa"})
    assert status == 200, settings
    tenant = stack.dev_tenant["tenant_id"]
    raw = json.dumps(load_event("callback/stream_status_change.json")).replace("<tenant id>", tenant)
    event = json.loads(raw.replace("<message id>", "msg_sample").replace("<wamid>", "wamid.sample"))
    # WHEN the function runs
    result = stack.functions["CallbackFunction"].invoke(event)
    # THEN the record succeeds and the platform got one signed message.status callback for delivered
    assert result == {"batchItemFailures": []}
    (call,) = stack.callback_inbox
    payload = json.loads(call["body"])
    assert payload["type"] == "message.status" and payload["data"]["status"] == "delivered"
    assert payload["data"]["message_id"] == "msg_sample" and payload["data"]["pricing"]["billable"] is True
    assert signatures.verify(settings["callback_secret"], call["body"].encode(), call["headers"]["x-signature-256"])
    # AND the same record delivered again posts the same event id (platforms dedupe on it)
    stack.functions["CallbackFunction"].invoke(event)
    assert json.loads(stack.callback_inbox[1]["body"])["id"] == payload["id"]


def test_api_function_with_the_sample_http_event(api, stack):
    api.approved_template()
    event = load_event("api/http_request.json")
    event["headers"]["authorization"] = f"Bearer {stack.dev_tenant['api_key']}"
    response = stack.functions["ApiFunction"].invoke(event)
    assert response["statusCode"] == 202 and json.loads(response["body"])["status"] == "queued"


def test_dispatcher_function_with_the_sample_scheduled_event(api, stack, message_body):
    # GIVEN a message scheduled two hours ahead, and the sample EventBridge event
    api.approved_template()
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    message_id = api.post("/v1/messages", {**message_body, "send_at": at.isoformat()})[1]["id"]
    event = load_event("dispatcher/scheduled.json")

    def fire(when):
        event["time"] = when.isoformat().replace("+00:00", "Z")
        return stack.functions["DispatcherFunction"].invoke(event)

    # WHEN it fires the minute before the message is due, THEN nothing is released (the event's
    # time, not the wall clock, is "now")
    assert fire(at - timedelta(minutes=1)) == {}
    # WHEN it fires at the message's minute, THEN exactly that message is released and its job sends it
    assert fire(at) == {"promoted": 1}
    stack.drain()
    assert [m["to"] for m in stack.sandbox.received()] == ["886912345678"]
    assert api.message(message_id)["status"] in {"sent", "delivered", "read"}


def test_concurrent_requests_with_one_idempotency_key_make_one_message(api, stack, message_body):
    api.approved_template()
    ids, statuses = [], []

    def post():
        status, body, _ = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "race"})
        statuses.append(status)
        ids.append(body.get("id"))

    # the api function runs one invocation at a time locally, so race the use case directly too
    from wa_notify.models import MessageRequest
    from wa_notify.services import messages as message_service
    payload = MessageRequest.model_validate(message_body)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        message_service.create(stack.deps, stack.dev_tenant["tenant_id"], payload, "race-direct")[0].id)) for _ in range(6)]
    threads += [threading.Thread(target=post) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(set(ids)) == 1 and set(statuses) == {202}
    stack.drain()
    assert len(stack.sandbox.received()) == 2  # one per key


def test_sandbox_enforces_throughput_and_pair_limits(stack):
    sandbox = stack.sandbox
    sandbox.configure({"auto_status": False})  # sends only: the limits are about time
    pnid = stack.dev_tenant["phone_number_id"]
    sandbox.templates[(stack.dev_tenant["waba_id"], "hello", "en")] = {
        "name": "hello", "language": "en", "category": "UTILITY", "parameter_format": "POSITIONAL", "status": "APPROVED",
        "components": [{"type": "BODY", "text": "Hello there, friend."}]}
    headers = {"Authorization": f"Bearer {sandbox.access_token}"}

    def send(to):
        body = json.dumps({"messaging_product": "whatsapp", "to": to, "type": "template",
                           "template": {"name": "hello", "language": {"code": "en"}}}).encode()
        return sandbox.handle("POST", f"/v23.0/{pnid}/messages", headers, body)

    # 45 to one person pass, the 46th hits the pair limit
    codes = [send("+14155550100")[1].get("error", {}).get("code") for _ in range(46)]
    assert codes[:45] == [None] * 45 and codes[45] == 131056
    # 100 to different people at once: the number's 80/s throughput answers 130429
    codes = [send(f"+1415555{i:04d}")[1].get("error", {}).get("code") for i in range(100)]
    assert codes.count(130429) >= 10
    assert sandbox.handle("POST", f"/v23.0/{pnid}/messages", {"Authorization": "Bearer nope"}, b"{}")[1]["error"]["code"] == 190
