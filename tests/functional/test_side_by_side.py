"""Issue 14's Lambda waits: the sender sends a batch's records side by side, and the callback
function posts different messages' callbacks side by side. Each guarantee holds as before: one
message's callbacks arrive in order, a failed record is reported on its own, nothing is sent twice."""

import threading
import time

from botocore.exceptions import ClientError

from tests.functional.test_callbacks import received, with_callbacks


class InFlight:
    """Wraps a sink or a send: counts how many calls run at once."""

    def __init__(self, real, pause_s):
        self.real, self.pause_s, self.now, self.most = real, pause_s, 0, 0
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.pause_s)
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def sender_source(stack, priority):
    lane = stack.deps.queues.lane_urls[priority]
    return next(s for s in stack.queue_sources if s[0] == lane)


def test_each_messages_callbacks_stay_in_order_while_messages_are_posted_side_by_side(api, stack, message_body):
    # GIVEN a tenant with a callback URL that takes a moment to answer, and twelve messages sent
    with_callbacks(api, stack)
    api.approved_template()
    sink = InFlight(stack.receive_callback, 0.02)
    stack.receive_callback = sink
    try:
        ids = [api.post("/v1/messages", {**message_body, "to": f"+88691234{i:04d}"})[1]["id"] for i in range(12)]
        # WHEN the sender sends them and their sent, delivered and read statuses follow the stream
        stack.drain()
    finally:
        stack.receive_callback = sink.real
    # THEN every message's callbacks reached the platform in order: sent, delivered, read
    statuses = received(stack, "message.status")
    for message_id in ids:
        assert [c["data"]["status"] for c in statuses if c["data"]["message_id"] == message_id] == ["sent", "delivered", "read"]
    # AND different messages were posted side by side (more than one post in flight at once)
    assert sink.most > 1, sink.most


def test_a_batch_with_one_failing_send_reports_exactly_that_record(api, stack, message_body):
    # GIVEN five messages in the sender's lane, the lease write of one of them failing (our outage)
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    ids = [api.post("/v1/messages", {**message_body, "to": f"+88691235{i:04d}"})[1]["id"] for i in range(5)]
    leases = stack.deps.store.leases
    real_take = leases.take_or_current

    def take(tenant_id, message_id, *args, **kwargs):
        if message_id == ids[2]:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")
        return real_take(tenant_id, message_id, *args, **kwargs)

    url, arn, _, sender = sender_source(stack, message_body.get("priority", "normal"))
    answers = []
    real_invoke = sender.invoke

    def invoke(event):
        answer = real_invoke(event)
        answers.append((event, answer))
        return answer

    send = InFlight(stack.sandbox.handle, 0.05)
    leases.take_or_current, sender.invoke, stack.sandbox.handle = take, invoke, send
    try:
        # WHEN the sender takes the five as one batch
        stack.poll_once(url, arn, 10, sender)
    finally:
        leases.take_or_current, sender.invoke, stack.sandbox.handle = real_take, real_invoke, send.real
    # THEN exactly the failed record is reported, the other four were sent once each, side by side
    (event, answer), = answers
    by_message = {r["messageId"]: r for r in event["Records"]}
    failed = [by_message[f["itemIdentifier"]]["body"] for f in answer["batchItemFailures"]]
    assert len(event["Records"]) == 5 and len(failed) == 1 and ids[2] in failed[0]
    sent = [m["request"]["biz_opaque_callback_data"] for m in stack.sandbox.messages]
    assert sorted(sent) == sorted(ids[:2] + ids[3:])
    assert send.most > 1, send.most
    # AND the failed one is untouched, still queued for SQS to deliver again (its record not deleted)
    assert api.message(ids[2])["stage"] == "queued"
    attrs = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 1
