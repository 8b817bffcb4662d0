"""Each function invoked directly with its sample event from events/ (as `sam local invoke -e` would)."""

import json
import threading
from datetime import UTC, datetime, timedelta

from tests.functional.conftest import load_event


def test_status_function_applies_a_change_and_ignores_unknown_fields(api, stack, message_body):
    # GIVEN an accepted message and the status function's sample SQS event pointed at it
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    event = load_event("status/sqs_webhook_change.json")
    change = json.loads(event["Records"][0]["body"])
    change["value"]["metadata"]["phone_number_id"] = stack.dev_tenant["phone_number_id"]
    change["value"]["statuses"][0].update(id=wamid, biz_opaque_callback_data=message_id)
    event["Records"][0]["body"] = json.dumps(change)
    # WHEN the function runs
    result = stack.functions["StatusFunction"].invoke(event)
    # THEN both records succeed and the message is delivered
    assert result == {"batchItemFailures": []}
    assert api.message(message_id)["status"] == "delivered"


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
    payload = MessageRequest.model_validate(message_body).model_dump(exclude_none=True)
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        message_service.create(stack.deps, stack.dev_tenant["tenant_id"], payload, "race-direct")[0]["id"])) for _ in range(6)]
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
