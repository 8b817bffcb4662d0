"""Callbacks to the platform: signed, every forward status and reply, retried with backoff, never backwards."""

import json

from wa_notify.domain import signatures
from wa_notify.services import callbacks

from tests.functional.test_webhooks_and_statuses import post_webhook, status_event


def with_callbacks(api, stack):
    callbacks._settings_cache.clear()
    settings = api.call("PUT", "/v1/settings", {"callback_url": "https://platform.example.com/hooks/wa"})[1]
    return settings["callback_secret"]


def received(stack, kind=None):
    out = []
    for c in stack.callback_inbox:
        if c["status"] == 200:
            body = json.loads(c["body"])
            if kind is None or body["type"] == kind:
                out.append(body)
    return out


def test_status_changes_and_replies_reach_the_platform_signed(api, stack, message_body):
    # GIVEN a tenant with a callback URL
    secret = with_callbacks(api, stack)
    api.approved_template()
    # WHEN a message goes to read and the customer replies
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    stack.request("POST", "/_local/sandbox/inbound", body={"from": "+886912345678", "text": "Thanks!"})
    stack.drain()
    # THEN the platform got sent, delivered, read and the reply, each signed with its secret
    statuses = [c["data"]["status"] for c in received(stack, "message.status") if c["data"]["message_id"] == message_id]
    assert statuses == ["sent", "delivered", "read"]
    replies = received(stack, "message.received")
    assert replies[0]["data"]["text"] == "Thanks!" and replies[0]["data"]["from"] == "+886912345678"
    for call in stack.callback_inbox:
        assert signatures.verify(secret, call["body"].encode(), call["headers"]["x-signature-256"])
        assert call["url"] == "https://platform.example.com/hooks/wa"


def test_no_callback_url_no_callbacks(api, stack, message_body):
    callbacks._settings_cache.clear()
    api.approved_template()
    api.post("/v1/messages", message_body)
    stack.drain()
    assert stack.callback_inbox == []


def test_a_late_or_duplicate_status_is_not_reported(api, stack, message_body):
    with_callbacks(api, stack)
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "read", "timestamp": "3"}]))
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "delivered", "timestamp": "2"}, {"status": "read", "timestamp": "3"}]))
    stack.drain()
    assert [c["data"]["status"] for c in received(stack, "message.status")] == ["read"]


def test_a_failing_platform_is_retried_with_backoff_then_parked(api, stack, message_body):
    import time

    # GIVEN a platform answering 503, and two attempts per callback
    with_callbacks(api, stack)
    stack.deps.settings = stack.deps.settings.model_copy(update={"callback_max_attempts": 2})
    api.approved_template()
    stack.callback_status = 503
    # WHEN a message goes to sent, delivered and read
    api.post("/v1/messages", message_body)
    stack.drain()
    # THEN the first post fails and opens the breaker: the next two queue for retry without knocking
    attempts = len(stack.callback_inbox)
    assert attempts == 1 and stack.callback_inbox[0]["headers"]["x-wanotify-attempt"] == "1"
    time.sleep(1.3)  # the first retry waits 1 s (an SQS delay)
    stack.drain()
    # AND only the newest status is retried (the platform would only be told older news), and parked
    retried = stack.callback_inbox[attempts:]
    assert [(json.loads(c["body"])["data"]["status"], c["headers"]["x-wanotify-attempt"]) for c in retried] == [("read", "2")]
    dlq = stack.sqs.receive_message(QueueUrl=stack.provisioned.refs["CallbackDLQ"], MaxNumberOfMessages=10)["Messages"]
    assert len(dlq) == 1 and json.loads(dlq[0]["Body"])["last_error"] == "HTTP 503"


def test_a_retried_older_status_is_never_delivered_after_a_newer_one(api, stack, message_body):
    import time

    # GIVEN the platform fails once, while `sent` is being delivered
    with_callbacks(api, stack)
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    stack.callback_status = 500
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "sent", "timestamp": "1"}]))
    stack.drain()
    # WHEN `read` is delivered before the retry of `sent`
    stack.callback_status = 200
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "read", "timestamp": "3"}]))
    stack.drain()
    time.sleep(1.3)
    stack.drain()
    # THEN the platform never sees `sent` after `read`
    assert [c["data"]["status"] for c in received(stack, "message.status")] == ["read"]


def _first_failure_queued(api, stack, message_body, clock):
    """A read status whose post fails (the platform answers 503) at the fake clock's time: its
    retry job, as the retry queue hands it back after its 1 s delay."""
    import time

    with_callbacks(api, stack)
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    stack.deps.clock = lambda: clock[0]
    stack.callback_status = 503
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    wamid = api.message(message_id)["provider_message_id"]
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "read", "timestamp": "3"}]))
    stack.drain()
    time.sleep(1.0)  # the first retry waits 1 s (an SQS delay); a long poll covers a slow machine's lag
    got = stack.sqs.receive_message(QueueUrl=stack.provisioned.refs["CallbackRetryQueue"], MaxNumberOfMessages=10,
                                    WaitTimeSeconds=5).get("Messages", [])
    assert len(got) == 1 and len(stack.callback_inbox) == 1
    stack.sqs.delete_message(QueueUrl=stack.provisioned.refs["CallbackRetryQueue"], ReceiptHandle=got[0]["ReceiptHandle"])
    return json.loads(got[0]["Body"])


def _dlq(stack):
    return stack.sqs.receive_message(QueueUrl=stack.provisioned.refs["CallbackDLQ"], MaxNumberOfMessages=10).get("Messages", [])


def test_a_platform_down_for_hours_is_retried_past_the_old_eight_attempts(api, stack, message_body):
    from datetime import UTC, datetime, timedelta

    from wa_notify.services.deps import iso

    # GIVEN a status whose first post failed at T0: its retry job says when
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    clock = [t0]
    job = _first_failure_queued(api, stack, message_body, clock)
    assert job["attempt"] == 2 and job["first_failed_at"] == iso(t0)
    retry_url = stack.provisioned.refs["CallbackRetryQueue"]
    # WHEN it comes back on its 9th attempt three hours later (8 failed posts take ~35 min), still failing
    clock[0] = t0 + timedelta(hours=3)
    stack.sqs.send_message(QueueUrl=retry_url, MessageBody=json.dumps({**job, "attempt": 9}))
    stack.drain()
    # THEN it was posted and queued again for later, not parked
    assert [c["headers"]["x-wanotify-attempt"] for c in stack.callback_inbox] == ["1", "9"]
    delayed = stack.sqs.get_queue_attributes(QueueUrl=retry_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert delayed["ApproximateNumberOfMessagesDelayed"] == "1" and _dlq(stack) == []
    # AND once the platform is back, the next attempt reaches it
    stack.callback_status = 200
    clock[0] = t0 + timedelta(hours=4)
    stack.sqs.send_message(QueueUrl=retry_url, MessageBody=json.dumps({**job, "attempt": 10}))
    stack.drain()
    assert [c["data"]["status"] for c in received(stack, "message.status")] == ["read"]


def test_a_callback_failing_for_a_day_is_parked(api, stack, message_body):
    from datetime import UTC, datetime, timedelta

    from wa_notify.services.deps import iso

    # GIVEN a status whose first post failed at T0
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    clock = [t0]
    job = _first_failure_queued(api, stack, message_body, clock)
    # WHEN its second attempt fails 24 h later
    clock[0] = t0 + timedelta(hours=24)
    stack.sqs.send_message(QueueUrl=stack.provisioned.refs["CallbackRetryQueue"], MessageBody=json.dumps(job))
    stack.drain()
    # THEN it is parked in the DLQ, with when it first failed and how often it was tried
    dlq = _dlq(stack)
    assert len(dlq) == 1
    parked = json.loads(dlq[0]["Body"])
    assert (parked["first_failed_at"], parked["attempt"], parked["last_error"]) == (iso(t0), 2, "HTTP 503")
