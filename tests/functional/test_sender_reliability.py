import json
import sys
import threading
import time
from datetime import timedelta

import pytest
from wa_notify.adapters.storage import keys
from wa_notify.domain.ratelimit import Rate
from wa_notify.services import sending

from infra.local.stack import unserialized_moto
from tests.functional.conftest import load_event
from tests.functional.test_messages_api import queue_depth


def provider_calls(stack):
    return len(stack.sandbox.messages)


def queued_message(api, stack, message_body):
    api.approved_template()
    status, body, _ = api.post("/v1/messages", message_body)
    assert status == 202
    return body["id"]


def outbox_message(api, stack, message_body):
    """A queued message whose job SQS refused at intake: written with its due time, no job queued."""
    api.approved_template()
    client = stack.deps.queues.client

    def refuse(**_):
        raise RuntimeError("SQS is unavailable")

    client.meta.events.register("before-call.sqs.SendMessage", refuse, unique_id="refuse-send")
    try:
        status, body, _ = api.post("/v1/messages", message_body)
    finally:
        client.meta.events.unregister("before-call.sqs.SendMessage", unique_id="refuse-send")
    assert status == 202
    row = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], body["id"])
    assert row["status"] == "queued" and "due_at" in row and "due_shard" in row
    return body["id"]


def job_for(stack, message_id):
    msg = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], message_id)
    return {"tenant_id": msg["tenant_id"], "message_id": msg["id"], "phone_number_id": msg["phone_number_id"], "to": msg["to"], "lane": msg["priority"]}


def test_sqs_redelivery_never_sends_twice(api, stack, message_body):
    # GIVEN a queued message whose SQS job is delivered three times
    message_id = queued_message(api, stack, message_body)
    job = job_for(stack, message_id)
    url = stack.provisioned.refs["SendQueueHigh"]
    for _ in range(2):
        stack.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(job))
    # WHEN all three are processed
    stack.drain()
    # THEN WhatsApp got exactly one request
    assert provider_calls(stack) == 1
    assert api.message(message_id)["status"] == "read"


def outcome_of(deps, job):
    """What process() returned, or the name of the state it raised (a record failure SQS redelivers)."""
    try:
        return sending.process(deps, job)
    except sending.MessageNotWrittenYet as exc:
        return type(exc).__name__


def test_concurrent_duplicates_make_one_provider_call(api, stack, message_body):
    # GIVEN a queued message and eight copies of its job handled at once
    message_id = queued_message(api, stack, message_body)
    job = job_for(stack, message_id)
    results = []
    threads = [threading.Thread(target=lambda: results.append(outcome_of(stack.deps, job))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN one sent it; each other copy found it sent or being sent, and was dropped
    assert results.count("accepted") == 1 and results.count("skipped") == 7, results
    assert provider_calls(stack) == 1


def test_throughput_limit_130429_is_retried_with_backoff(api, stack, message_body):
    stack.sandbox.configure({"faults": [{"code": 130429, "mode": "sync", "count": 1}]})
    message_id = queued_message(api, stack, message_body)
    stack.drain()
    message = api.message(message_id)
    assert message["status"] == "queued" and message["last_error"]["code"] == 130429 and message["attempts"] == 1
    time.sleep(1.4)  # the backoff is an SQS delay of 1-2 s on the first retry
    stack.drain()
    message = api.message(message_id)
    assert message["status"] == "read" and message["attempts"] == 2


def test_pair_limit_131056_from_whatsapp_is_retried(api, stack, message_body):
    # GIVEN WhatsApp answering the pair limit (HTTP 429, one of its disputed statuses)
    stack.sandbox.configure({"faults": [{"code": 131056, "mode": "sync", "http_status": 429}]})
    # WHEN the message is sent
    message_id = queued_message(api, stack, message_body)
    stack.drain()
    # THEN it waits in the queue for another try, without spending an attempt
    message = api.message(message_id)
    assert message["status"] == "queued" and message["last_error"]["code"] == 131056 and message["attempts"] == 0


def test_a_burst_of_60_to_one_person_all_go_once_through_the_pair_limit(api, stack, message_body):
    # GIVEN WhatsApp's pair limit (a burst of 45, then one per 6 s of the sandbox's clock, which
    # the test drives), our first wait after a 131056 shortened from 6 s to 1 s so the real SQS
    # delays stay short, and one attempt per message: a 131056 that spent it would fail the message
    stack.sandbox.configure({"auto_status": False, "pair_interval_seconds": 6.0, "pair_burst": 45})
    sandbox_now = [time.monotonic()]
    stack.sandbox.clock = lambda: sandbox_now[0]
    stack.deps.settings = stack.deps.settings.model_copy(update={"pair_retry_seconds": 1, "max_send_attempts": 1})
    api.approved_template()
    to = "+14155550199"
    tenant = stack.dev_tenant["tenant_id"]
    ids = []
    for i in range(60):
        status, body, _ = api.post("/v1/messages", {**message_body, "to": to, "priority": "bulk", "metadata": {"order": f"A-{i}"}})
        assert status == 202, body
        ids.append(body["id"])

    def rows():
        return [stack.deps.store.messages.get(tenant, i) for i in ids]

    # WHEN the 60 reminders to that one person go at once (the sandbox's clock standing still)
    stack.drain()
    # THEN the 15 over the burst are refused with 131056 and wait in the queue, no attempt spent
    first = rows()
    assert sorted(r["status"] for r in first) == ["accepted"] * 45 + ["queued"] * 15
    assert [r["last_error"]["code"] for r in first if r["status"] == "queued"] == [131056] * 15
    # WHEN the pair window refills (30 s of the sandbox's clock, five messages, per quarter
    # second) and the refused ones come back after their SQS delays
    deadline = time.monotonic() + 90
    while len(stack.sandbox.received(to)) < 60 and time.monotonic() < deadline:
        time.sleep(0.25)
        sandbox_now[0] += 30.0
        stack.drain()
    stack.drain()  # one more round: anything still to come would show
    # THEN every message was accepted on its one counted attempt, and WhatsApp got exactly 60
    # requests for them: each message exactly once, none failed
    final = rows()
    assert {r["status"] for r in final} == {"accepted"}
    assert {int(r["attempts"]) for r in final} == {1}
    received = stack.sandbox.received(to)
    assert len(received) == 60 and {r["wamid"] for r in final} == {m["id"] for m in received}


def test_5xx_is_retried_and_other_4xx_fail_at_once(api, stack, message_body):
    stack.sandbox.configure({"faults": [{"mode": "http_500"}]})
    retried = queued_message(api, stack, message_body)
    stack.drain()
    assert api.message(retried)["stage"] == "queued"
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "sync"}]})
    failed_id = api.post("/v1/messages", {**message_body, "to": "+14155550123"})[1]["id"]
    stack.drain()
    failed = api.message(failed_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == 131026 and failed["error"]["title"] == "Message undeliverable"
    assert failed["attempts"] == 1


def test_attempts_are_bounded(api, stack, message_body):
    stack.deps.settings = stack.deps.settings.model_copy(update={"max_send_attempts": 1})
    stack.sandbox.configure({"faults": [{"code": 131000, "mode": "sync"}]})
    message_id = queued_message(api, stack, message_body)
    stack.drain()
    assert api.message(message_id)["status"] == "failed"


def test_answer_lost_after_acceptance_is_unknown_then_settled_by_the_webhook(api, stack, message_body):
    # GIVEN WhatsApp accepts the send but the answer is lost on the way back
    stack.sandbox.configure({"faults": [{"mode": "timeout_after"}]})
    message_id = queued_message(api, stack, message_body)
    # WHEN the sender runs (the status webhooks still come, carrying our id)
    stack.drain()
    # THEN it was not re-sent, and the webhook settled it
    assert provider_calls(stack) == 1
    message = api.message(message_id)
    assert message["status"] == "read" and message["provider_message_id"]


def test_answer_lost_and_no_webhook_gives_up_without_resending(api, stack, message_body):
    stack.sandbox.configure({"faults": [{"mode": "timeout_after"}], "auto_status": False})
    message_id = queued_message(api, stack, message_body)
    stack.drain()
    message = api.message(message_id)
    assert message["stage"] == "unknown" and message["status"] == "queued"
    later = stack.deps.now() + timedelta(seconds=stack.deps.settings.unknown_reconcile_seconds + 60)
    stack.request("POST", "/_local/clock", body={"at": later.isoformat()})
    stack.drain()
    message = api.message(message_id)
    assert message["status"] == "failed" and message["error"]["code"] == "outcome_unknown"
    assert provider_calls(stack) == 1


def test_a_sender_that_dies_holding_the_lease_never_causes_a_resend(api, stack, message_body):
    # GIVEN a message in the due index (its job went through the outbox) whose sender died holding the lease
    message_id = outbox_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    now = stack.deps.now()
    from wa_notify.services.deps import epoch_ms, iso
    assert stack.deps.store.leases.take(tenant, message_id, "dead-sender", epoch_ms(now) + 60_000, iso(now))
    stack.drain()
    assert provider_calls(stack) == 0
    # WHEN the tick passes its due time (a lease leaves it alone) and the lease's end
    later = now + timedelta(seconds=stack.deps.settings.stale_queue_seconds + 60)
    stack.request("POST", "/_local/clock", body={"at": later.isoformat()})
    # THEN it is unknown, never sent again
    assert api.message(message_id)["stage"] == "unknown"
    stack.drain()
    assert provider_calls(stack) == 0


def dead_sender_on_a_job_first_message(api, stack, message_body):
    """A message whose job intake queued first (in no due index), leased by a sender that then
    died: (message id, its job, when the lease was taken)."""
    message_id = queued_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    row = stack.deps.store.messages.get(tenant, message_id)
    assert "due_at" not in row and "due_shard" not in row
    now = stack.deps.now()
    from wa_notify.services.deps import epoch_ms, iso
    lease_ms = stack.deps.settings.send_lease_seconds * 1000
    assert stack.deps.store.leases.take(tenant, message_id, "dead-sender", epoch_ms(now) + lease_ms, iso(now))
    return message_id, job_for(stack, message_id), now


def test_a_job_first_message_whose_sender_died_is_expired_by_its_redelivered_job(api, stack, message_body):
    # GIVEN a job-first message whose sender died holding the lease (SQS still holds its job)
    message_id, job, now = dead_sender_on_a_job_first_message(api, stack, message_body)
    # WHEN the job comes back after the lease ended (the visibility timeout is longer than a lease)
    lease_s = stack.deps.settings.send_lease_seconds
    real_clock, stack.deps.clock = stack.deps.clock, lambda: now + timedelta(seconds=lease_s + 1)
    try:
        outcome = outcome_of(stack.deps, job)
    finally:
        stack.deps.clock = real_clock
    # THEN the message is unknown (it may have reached WhatsApp), in the due index to be settled, never re-sent
    assert outcome == "lease_expired"
    row = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], message_id)
    assert row["status"] == "unknown" and "due_at" in row and "due_shard" in row
    stack.drain()
    assert provider_calls(stack) == 0


def test_a_job_finding_a_live_lease_hands_the_message_to_the_dispatcher(api, stack, message_body):
    # GIVEN a job-first message whose sender died holding the lease
    message_id, job, now = dead_sender_on_a_job_first_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    # WHEN a copy of its job comes while the lease is live
    outcome = outcome_of(stack.deps, job)
    # THEN the copy is dropped, and the message is now in the due index at the lease's end
    row = stack.deps.store.messages.get(tenant, message_id)
    assert outcome == "skipped" and row["status"] == "sending"
    assert int(row["due_at"]) == int(row["lease_until"]) and "due_shard" in row
    # AND WHEN the tick passes the lease's end, the dispatcher makes it unknown: never re-sent
    lease_s = stack.deps.settings.send_lease_seconds
    stack.request("POST", "/_local/clock", body={"at": (now + timedelta(seconds=lease_s + 60)).isoformat()})
    assert api.message(message_id)["stage"] == "unknown"
    stack.drain()
    assert provider_calls(stack) == 0


def test_a_job_that_comes_before_its_row_waits_for_it_and_one_without_a_row_is_dropped_later(api, stack, message_body):
    # GIVEN a job for a message whose row is not written (intake queues the job first)
    api.approved_template()
    tenant = stack.dev_tenant["tenant_id"]
    from wa_notify.services.deps import epoch_ms
    job = {"tenant_id": tenant, "message_id": "msg_" + "a" * 26, "phone_number_id": stack.dev_tenant["phone_number_id"],
           "to": message_body["to"], "lane": "high", "created_ms": epoch_ms(stack.deps.now())}
    slept = []
    real_sleeper, stack.deps.sleeper = stack.deps.sleeper, slept.append
    try:
        # WHEN it is handled a moment after its message was made
        outcome = outcome_of(stack.deps, job)
        # THEN the sender looked again after short waits, then failed the record for SQS to bring back
        assert outcome == "MessageNotWrittenYet" and slept == list(sending.NO_ROW_WAITS_S)
        # AND WHEN it comes back more than a minute after the message was made, still without a row
        later = stack.deps.now() + timedelta(milliseconds=sending.NO_ROW_AFTER_MS + 1)
        real_clock, stack.deps.clock = stack.deps.clock, lambda: later
        # THEN it is dropped (its request answered no 202): nothing sent, nothing written
        assert outcome_of(stack.deps, job) == "no_message"
    finally:
        stack.deps.sleeper = real_sleeper
        stack.deps.clock = real_clock
    assert provider_calls(stack) == 0 and stack.deps.store.messages.get(tenant, job["message_id"]) is None


def test_a_lease_leaves_the_due_index_entry_alone_and_a_live_one_is_skipped_until_it_ends(api, stack, message_body):
    # GIVEN a queued message (in DueIndex at its stale-queue deadline) whose sender takes the lease late
    message_id = outbox_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    from wa_notify.services.deps import epoch_ms, iso
    before = stack.deps.store.messages.get(tenant, message_id)
    late = stack.deps.now() + timedelta(seconds=stack.deps.settings.stale_queue_seconds - 5)
    lease_s = stack.deps.settings.send_lease_seconds
    # WHEN the lease is taken
    assert stack.deps.store.leases.take(tenant, message_id, "late-sender", epoch_ms(late) + lease_s * 1000, iso(late))
    row = stack.deps.store.messages.get(tenant, message_id)
    # THEN its index keys are unchanged (no index write: DueIndex is KEYS_ONLY and the key stays)
    assert (row["due_shard"], row["due_at"]) == (before["due_shard"], before["due_at"]) and row["status"] == "sending"
    stack.drain()
    # AND WHEN the tick passes the due time while the lease is live, the message is left to its sender
    stack.request("POST", "/_local/clock", body={"at": (late + timedelta(seconds=30)).isoformat()})
    assert stack.deps.store.messages.get(tenant, message_id)["status"] == "sending"
    # AND once the lease has ended, a later tick finds it (the row stayed in the index) and it is unknown, not re-sent
    stack.request("POST", "/_local/clock", body={"at": (late + timedelta(seconds=lease_s + 60)).isoformat()})
    assert api.message(message_id)["stage"] == "unknown"
    stack.drain()
    assert provider_calls(stack) == 0


def test_a_job_sqs_refused_at_intake_is_enqueued_by_the_dispatcher(api, stack, message_body):
    # GIVEN a message whose job SQS refused at intake: its row went to the due index (the outbox)
    message_id = outbox_message(api, stack, message_body)
    assert queue_depth(stack, "SendQueueHigh") == 0
    # WHEN the minute tick passes the stale window
    later = stack.deps.now() + timedelta(seconds=stack.deps.settings.stale_queue_seconds + 1)
    stack.request("POST", "/_local/clock", body={"at": later.isoformat()})
    stack.drain()
    # THEN it is sent, once
    assert api.message(message_id)["status"] == "read" and provider_calls(stack) == 1


def test_partial_batch_failure_reports_only_the_bad_record(api, stack, message_body):
    message_id = queued_message(api, stack, message_body)
    event = load_event("sender/sqs_batch.json")
    event["Records"][0]["body"] = json.dumps(job_for(stack, message_id))
    result = stack.functions["SenderFunction"].invoke(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": "22222222-2222-2222-2222-222222222222"}]}
    assert provider_calls(stack) == 1


def test_a_poison_job_reaches_the_dlq_after_five_receives(stack):
    url = stack.provisioned.refs["SendQueueBulk"]
    stack.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    stack.sqs.send_message(QueueUrl=url, MessageBody="not json")
    stack.drain(max_rounds=20)
    assert queue_depth(stack, "SendQueueBulk") == 0
    assert queue_depth(stack, "SendQueueBulkDLQ") == 1


def grants_under_contention(stack, scope, rate, now_us, acquirers=16, tries=10):
    """16 senders (threads, like Lambda containers) taking tokens from one bucket at one instant."""
    granted = []

    def acquirer():
        for _ in range(tries):
            granted.append(stack.deps.store.buckets.take_token(scope, rate, now_us) == 0)

    threads = [threading.Thread(target=acquirer) for _ in range(acquirers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return granted.count(True)


def test_token_bucket_never_over_grants_under_contention(stack):
    # GIVEN 16 senders hitting one 80/s bucket at the same instant, 160 attempts in all
    rate = Rate.per_second(80, 80)
    now_us = 1_000_000_000
    # WHEN they race
    granted = grants_under_contention(stack, keys.number_scope("contended"), rate, now_us)
    # THEN exactly the burst is granted, and one interval later exactly one more
    assert granted == 80
    assert stack.deps.store.buckets.take_token(keys.number_scope("contended"), rate, now_us) > 0
    assert stack.deps.store.buckets.take_token(keys.number_scope("contended"), rate, now_us + rate.interval_us) == 0


def test_the_contention_test_catches_an_unserialized_moto(stack):
    # GIVEN moto without the stack's lock (its check-then-write is not atomic across threads),
    # and a tiny thread switch interval so the interleaving shows on every run
    rate = Rate.per_second(80, 80)
    over = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with unserialized_moto():
            # WHEN the same 16 acquirers race (a few rounds, each on a fresh bucket)
            for round_ in range(3):
                over.append(grants_under_contention(stack, keys.number_scope(f"unserialized{round_}"), rate, 1_000_000_000) - 80)
    finally:
        sys.setswitchinterval(interval)
    # THEN the bucket over-grants, which the contention test above would fail on
    assert max(over) > 0, over


def test_sender_throttles_itself_before_whatsapp_does(api, stack, message_body):
    # GIVEN a number allowed 2 sends at once
    stack.deps.settings = stack.deps.settings.model_copy(update={"number_rate_per_second": 1, "number_burst": 2})
    api.approved_template()
    ids = [api.post("/v1/messages", {**message_body, "to": to})[1]["id"] for to in ("+14155550101", "+14155550102", "+14155550103")]
    # WHEN the sender runs
    stack.drain()
    # THEN two went out and the third waits in the queue (delayed), not failed (the batch's sends
    # go side by side, so whichever asked the bucket last is the one that waits)
    assert provider_calls(stack) == 2
    assert sorted(api.message(i)["stage"] for i in ids).count("queued") == 1
    assert queue_depth(stack, "SendQueueHigh") == 1


def test_a_slow_acceptance_after_the_lease_expired_still_counts(api, stack, message_body):
    # GIVEN a sender whose lease the dispatcher expired while it waited for WhatsApp
    stack.sandbox.configure({"auto_status": False})
    message_id = queued_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    from wa_notify.services.deps import epoch_ms, iso
    now = stack.deps.now()
    assert stack.deps.store.leases.take(tenant, message_id, "slow", epoch_ms(now), iso(now))
    assert stack.deps.store.leases.expire(tenant, message_id, "slow", epoch_ms(now) + 900_000, iso(now))
    # WHEN WhatsApp's 200 finally arrives
    stack.deps.store.leases.record_accepted(tenant, message_id, "wamid.slow", iso(now))
    # THEN the message is accepted (not left to be given up as unknown)
    message = api.message(message_id)
    assert message["status"] == "accepted" and message["provider_message_id"] == "wamid.slow"


def test_a_busy_bucket_costs_one_write_per_grant(stack):
    # GIVEN a bucket taken repeatedly within its burst (a steady stream at the limit)
    calls = []
    stack.deps.store.table.client.meta.events.register("before-call.dynamodb.UpdateItem", lambda **kw: calls.append(1))
    rate = Rate.per_second(80, 80)
    now_us = 5_000_000_000
    # WHEN 80 sends take a token at the same instant (the whole burst), then one more
    granted = [stack.deps.store.buckets.take_token(keys.number_scope("steady"), rate, now_us) == 0 for _ in range(80)]
    refused = stack.deps.store.buckets.take_token(keys.number_scope("steady"), rate, now_us)
    # THEN the first grant costs at most two writes, every other grant and the refusal one each
    assert all(granted) and refused > 0
    assert len(calls) <= 82


def test_a_refused_connection_is_retried_because_nothing_was_sent(api, stack, message_body):
    # GIVEN WhatsApp cannot be reached at all (the request never leaves)
    stack.sandbox.configure({"faults": [{"mode": "refuse"}]})
    message_id = queued_message(api, stack, message_body)
    # WHEN the sender runs, then again after the backoff
    stack.drain()
    message = api.message(message_id)
    assert message["stage"] == "queued" and "ConnectError" in message["last_error"]["title"]
    time.sleep(1.4)
    stack.drain()
    # THEN the retry delivers it, once
    assert api.message(message_id)["status"] == "read" and provider_calls(stack) == 1


def test_an_accepted_message_keeps_no_rendered_request(api, stack, message_body):
    # GIVEN a queued message, whose row carries the rendered Cloud API request for the sender
    message_id = queued_message(api, stack, message_body)
    tenant = stack.dev_tenant["tenant_id"]
    assert "request" in stack.deps.store.messages.get(tenant, message_id)
    # WHEN WhatsApp accepts it
    stack.drain()
    # THEN the request is gone from the row (nothing sends it again; every later write is cheaper)
    row = stack.deps.store.messages.get(tenant, message_id)
    assert row["wamid"] and "request" not in row
    assert provider_calls(stack) == 1


@pytest.mark.parametrize(("code", "pause_s"), [(368, 3600), (131048, 900)])
def test_a_number_meta_blocks_pauses_its_sends_and_nothing_fails(api, stack, message_body, code, pause_s):
    # GIVEN WhatsApp blocking the number (368 policy block, 131048 spam rate limit): it refuses
    # every send from it (here the three a batch may have in flight side by side)
    stack.sandbox.configure({"faults": [{"code": code, "mode": "sync", "http_status": 403 if code == 368 else 400, "count": 3}]})
    api.approved_template()
    ids = [api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}", "priority": "bulk"})[1]["id"] for i in range(3)]
    # WHEN the lane drains
    stack.drain()
    # THEN WhatsApp took nothing; no message failed or spent an attempt: all wait in their queue
    # for the block's end (those Meta refused with its error as their last error)
    rows = [stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], i) for i in ids]
    assert stack.sandbox.messages == []
    assert [r["status"] for r in rows] == ["queued"] * 3 and all(int(r.get("attempts", 0)) == 0 for r in rows)
    assert sorted(int((r.get("last_error") or {}).get("code") or 0) for r in rows)[-1] == code
    # AND the number's pace bucket grants nothing for the pause (every lane, alerts included)
    from wa_notify.services import sending

    now_us = int(stack.deps.now().timestamp() * 1_000_000)
    wait = stack.deps.store.buckets.take_number(stack.dev_tenant["phone_number_id"], None,
                                                sending.number_rate(stack.deps, stack.dev_tenant["tenant_id"])[0], now_us, n=1, lane="high")
    assert wait[0] == 0 and pause_s - 60 < wait[1] / 1_000_000 <= pause_s
