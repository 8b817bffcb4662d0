"""Issue 14's shape: the webhook applies before its 200, and what a change owes follows the stream.

Nothing is lost: a webhook that fails half-way answers 5xx and Meta's redelivery completes it,
once; a stream batch that fails resumes at the failed record, in order; a platform whose URL
fails never holds up another platform's callbacks.
"""

import json

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_replies import CUSTOMER, booked  # noqa: F401 - the fixture

THROTTLED = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")


class FailOnce:
    """Wraps one store method: its first call raises DynamoDB's throttling error, later calls pass."""

    def __init__(self, target, name):
        self.target, self.name, self.real, self.calls = target, name, getattr(target, name), 0
        setattr(target, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            raise THROTTLED
        return self.real(*args, **kwargs)

    def restore(self):
        setattr(self.target, self.name, self.real)


@pytest.mark.parametrize("failing", ["record_reply", "mark_inbound_handled"])
def test_a_cancel_tap_whose_webhook_fails_half_way_is_completed_once_by_metas_redelivery(api, stack, booked, failing):  # noqa: F811
    planned, confirmation = booked
    # GIVEN DynamoDB throttles once while the "Cancel" tap is applied: before the cancel, or after it
    # but before the message is marked handled
    store = stack.deps.store.messages if failing == "record_reply" else stack.deps.store.contacts
    fault = FailOnce(store, failing)
    try:
        # WHEN the customer taps Cancel (the sandbox retries a non-200 as Meta does)
        body = {"from": CUSTOMER, "button": {"payload": "Cancel", "text": "Cancel"}, "context_message_id": confirmation["provider_message_id"]}
        assert stack.request("POST", "/_local/sandbox/inbound", body=body)[0] == 202
        stack.drain()
    finally:
        fault.restore()
    # THEN the first delivery was answered 503 and the redelivery 200
    taps = [w for w in stack.sandbox.webhook_log if "messages" in json.dumps(w["payload"]) and "button" in json.dumps(w["payload"])]
    assert [w["status"] for w in taps] == [503, 200]
    # AND the reminders are cancelled, and the platform heard of the tap and the cancel exactly once, listing them all
    assert [api.message(m["id"])["status"] for m in planned[1:]] == ["cancelled"] * 3
    assert len(received(stack, "message.received")) == 1
    (cancelled,) = received(stack, "flow.cancelled_by_customer")
    assert sorted(cancelled["data"]["cancelled"]) == sorted(m["id"] for m in planned[1:])


def test_a_status_webhook_that_fails_is_answered_5xx_and_applied_by_the_redelivery(api, stack, message_body):
    # GIVEN a platform with callbacks, and DynamoDB throttling the first status write
    with_callbacks(api, stack)
    api.approved_template()
    fault = FailOnce(stack.deps.store.messages, "apply_status")
    try:
        # WHEN a message is sent and WhatsApp reports its statuses
        message_id = api.post("/v1/messages", message_body)[1]["id"]
        stack.drain()
    finally:
        fault.restore()
    # THEN the failed webhook was delivered again and the message still ends read, each status reported once, in order
    statuses = [w["status"] for w in stack.sandbox.webhook_log if "statuses" in json.dumps(w["payload"])]
    assert statuses[:2] == [503, 200] and statuses[2:] == [200] * (len(statuses) - 2)
    assert api.message(message_id)["status"] == "read"
    assert [c["data"]["status"] for c in received(stack, "message.status")] == ["sent", "delivered", "read"]


def test_a_stream_batch_that_fails_resumes_at_the_failed_record_and_keeps_the_order(api, stack, message_body):
    # GIVEN a platform with callbacks, and the retry queue refusing once (our own outage on the stream path)
    with_callbacks(api, stack)
    api.approved_template()
    stack.callback_status = 503  # the first post fails, so the stream path needs the retry queue
    real_send_to, calls = stack.deps.queues.send_to, []

    def send_to(url, body, **kw):
        if "event" not in body:  # a send lane's job
            return real_send_to(url, body, **kw)
        calls.append(body["event"]["data"].get("status"))
        if len(calls) == 1:
            raise THROTTLED
        return real_send_to(url, body, **kw)

    stack.deps.queues.send_to = send_to
    try:
        # WHEN a message goes sent, delivered, read and the stream is drained
        message_id = api.post("/v1/messages", message_body)[1]["id"]
        stack.drain()
    finally:
        stack.deps.queues.send_to = real_send_to
    # THEN the stream came back to `sent` (its failed record) before anything later, and every status reached the retry queue
    assert calls[:2] == ["sent", "sent"]
    assert sorted(set(calls)) == ["delivered", "read", "sent"]
    assert api.message(message_id)["status"] == "read"


def test_a_hanging_platform_does_not_hold_up_another_platforms_callbacks(api, stack, message_body):
    import time

    # GIVEN two tenants with callback URLs, the first one's URL hanging for 6 s before it fails
    with_callbacks(api, stack)
    other = stack.create_tenant("other")
    from tests.functional.conftest import Api

    other_api = Api(stack, other["api_key"])
    assert other_api.call("PUT", "/v1/settings", {"callback_url": "https://other.example.com/hooks"})[0] == 200
    for client in (api, other_api):
        client.approved_template()
    real = stack.receive_callback

    def sink(url, headers, body):
        if "platform.example.com" in url:
            time.sleep(6)
            return 503
        return real(url, headers, body)

    stack.receive_callback = sink
    try:
        # WHEN both send a message, and their statuses reach the stream in the same batches
        stack.sandbox.configure({"auto_status": False})
        mine = api.post("/v1/messages", message_body)[1]["id"]
        theirs = other_api.post("/v1/messages", message_body)[1]["id"]
        stack.drain()
        for client, message_id in ((api, mine), (other_api, theirs)):
            wamid = client.message(message_id)["provider_message_id"]
            from tests.functional.test_webhooks_and_statuses import post_webhook, status_event

            event = status_event(stack, message_id, wamid, [{"status": s, "timestamp": str(i)} for i, s in enumerate(("sent", "delivered", "read"), 1)])
            event["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = (
                stack.dev_tenant if client is api else other)["phone_number_id"]
            assert post_webhook(stack, event)[0] == 200
        started = time.monotonic()
        stack.drain()
        took = time.monotonic() - started
    finally:
        stack.receive_callback = real
    # THEN the other platform got its statuses in order, and the stream waited no longer than one
    # batch's budget for the hanging URL (its callbacks wait in the retry queue instead)
    delivered = [json.loads(c["body"])["data"] for c in stack.callback_inbox if "other.example.com" in c["url"]]
    assert [(d["message_id"], d["status"]) for d in delivered] == [(theirs, "sent"), (theirs, "delivered"), (theirs, "read")]
    assert took < 5, took
    attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.provisioned.refs["CallbackRetryQueue"], AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesDelayed"]) >= 1


def test_a_transaction_that_moto_rolls_back_does_not_blind_the_stream_reader(api, stack, message_body):
    # GIVEN a platform with callbacks, and a write moto rolls back (a transaction whose condition
    # fails: the same Idempotency-Key with another body), which puts back a copy of the table
    with_callbacks(api, stack)
    api.approved_template()
    assert api.post("/v1/messages", message_body, headers={"Idempotency-Key": "k1"})[0] == 202
    assert api.post("/v1/messages", {**message_body, "priority": "bulk"}, headers={"Idempotency-Key": "k1"})[0] == 409
    # WHEN a customer writes afterwards
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": "still there?"})[0] == 202
    stack.drain()
    # THEN the stream reader saw the change and the platform got it
    assert [c["data"]["text"] for c in received(stack, "message.received")] == ["still there?"]
