"""Send-lane and callback-queue records are parsed by Powertools' batch processor into one
discriminated union (wa_notify.jobs): the kind is read from the JSON, wherever the key sits
and however it is spaced; a body that is no job is a failed record and the handler never runs."""

import json

import pytest
from wa_notify.batch import process_sqs_batch
from wa_notify.jobs import CallbackRecord, CampaignJob, LaneRecord, SendJob

MSG_ID = "msg_" + "a" * 26
CMP_ID = "cmp_" + "b" * 26
SEND = {"tenant_id": "t1", "message_id": MSG_ID, "phone_number_id": "pn1", "to": "+886912345678", "lane": "high"}


def sqs_event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": "rh", "body": body, "attributes": {}, "messageAttributes": {},
                         "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def run(model, *bodies: str):
    seen = []
    result = process_sqs_batch(sqs_event(*bodies), lambda record: seen.append(record.body), None, model)
    return seen, [f["itemIdentifier"] for f in result["batchItemFailures"]]


def test_a_campaign_job_is_understood_whatever_its_key_order_and_spacing():
    # GIVEN the same campaign job written with `kind` last, with spaces after separators, and compact
    bodies = [
        json.dumps({"tenant_id": "t1", "campaign_id": CMP_ID, "kind": "campaign_cancel"}, indent=2),
        json.dumps({"kind": "campaign_plan", "tenant_id": "t1", "campaign_id": CMP_ID}, separators=(", ", " : ")),
        json.dumps({"kind": "campaign_plan", "tenant_id": "t1", "campaign_id": CMP_ID}, separators=(",", ":")),
    ]
    # WHEN the batch is processed
    seen, failed = run(LaneRecord, *bodies)
    # THEN each is a campaign job of its kind, none failed
    assert failed == []
    assert [type(job) for job in seen] == [CampaignJob] * 3
    assert [job.kind for job in seen] == ["campaign_cancel", "campaign_plan", "campaign_plan"]


def test_a_send_job_without_a_kind_is_a_send_job_as_queued_before_kinds_existed():
    seen, failed = run(LaneRecord, json.dumps(SEND), json.dumps({"kind": "send", **SEND}, indent=1))
    assert failed == [] and [type(job) for job in seen] == [SendJob, SendJob]
    assert seen[0].model_dump(exclude={"kind"}) == {**SEND, "due_by": None, "created_ms": None}


@pytest.mark.parametrize("body", [
    json.dumps({"kind": "campaign_explode", "tenant_id": "t1", "campaign_id": CMP_ID}),  # an unknown kind
    json.dumps({"kind": ["campaign_plan"], "tenant_id": "t1", "campaign_id": CMP_ID}),  # a kind that is no text
    json.dumps({"kind": "send", "tenant_id": "t1", "campaign_id": CMP_ID}),  # a kind whose fields are missing
    json.dumps({**SEND, "kind": "campaign_plan"}),  # a campaign kind on a send job's fields
    json.dumps({"message_id": 42}),
    "not json",
    "[]",
])
def test_a_body_that_is_no_lane_job_is_a_failed_record_and_the_handler_never_runs(body):
    # GIVEN a good job around a poison record
    good = json.dumps(SEND)
    # WHEN the batch is processed
    seen, failed = run(LaneRecord, good, body, good)
    # THEN only the poison record is reported failed (SQS redelivers it, then moves it to the DLQ)
    assert failed == ["m1"]
    assert len(seen) == 2


def test_callback_jobs_are_parsed_and_a_poison_one_fails():
    job = {"tenant_id": "t1", "attempt": 2, "last_error": "HTTP 500",
           "event": {"id": "evt_1", "type": "message.status", "created_at": "2026-11-24T09:00:00Z", "data": {"status": "read"}}}
    seen, failed = run(CallbackRecord, json.dumps(job), '{"message_id": 42}', json.dumps({**job, "event": "x"}))
    assert failed == ["m1", "m2"]
    # the job reaches the service as it was queued, the retry's last error included
    assert seen[0].model_dump(exclude_unset=True) == job


def test_the_sender_function_gives_a_campaign_job_to_campaigns_whatever_its_key_order(monkeypatch):
    # GIVEN the sender function with the campaign service and the send path replaced by fakes
    from wa_notify.services import analytics, campaigns, sending

    from functions.sender import app
    from infra.local.stack import LambdaContext

    ran: list[tuple[str, dict]] = []
    monkeypatch.setattr(campaigns, "run_job", lambda deps, job: ran.append(("campaign", job)) or "planned")
    monkeypatch.setattr(sending, "process", lambda deps, job: ran.append(("send", job)) or "sent")
    monkeypatch.setattr(app, "get_deps", lambda: None)
    monkeypatch.setattr(analytics, "flush", lambda deps: None)
    # WHEN a campaign job whose `kind` is not the first key, a send job and an unknown kind arrive
    reordered = json.dumps({"tenant_id": "t1", "campaign_id": CMP_ID, "kind": "campaign_plan"})
    unknown = json.dumps({"kind": "campaign_explode", "tenant_id": "t1", "campaign_id": CMP_ID})
    result = app.lambda_handler(sqs_event(reordered, json.dumps(SEND), unknown), LambdaContext("sender", 30))
    # THEN the campaign job is planned (it used to be read as a send job and fail), the send job is
    # sent as it was queued, and the unknown kind is the one failed record (records go side by
    # side on the sender's threads: in any order)
    expected = [("campaign", {"kind": "campaign_plan", "tenant_id": "t1", "campaign_id": CMP_ID}), ("send", {**SEND, "due_by": None, "created_ms": None})]
    assert sorted(ran, key=lambda r: r[0]) == expected
    assert result["batchItemFailures"] == [{"itemIdentifier": "m2"}]


def test_side_by_side_batches_reuse_their_threads_and_each_record_runs_setup_and_reports_alone():
    # GIVEN three batches of five jobs, each with one that fails, handled on up to 4 threads
    import threading

    threads_seen: set[threading.Thread] = set()  # the objects: an ident can be reused once a thread ends
    setups: list[threading.Thread] = []
    started_before = threading.active_count()

    def handle(record):
        threads_seen.add(threading.current_thread())
        if record.body.message_id.endswith("bad"):
            raise RuntimeError("this record fails on its own")

    failures = []
    for batch in range(3):
        bodies = [json.dumps({**SEND, "message_id": MSG_ID[:-3] + ("bad" if i == 2 else "abcdefgh"[batch] + "abcdefgh"[i] + "c")}) for i in range(5)]
        # WHEN the batch is processed side by side
        result = process_sqs_batch(sqs_event(*bodies), handle, None, LaneRecord, threads=4,
                                   thread_setup=lambda: setups.append(threading.current_thread()))
        failures.append([f["itemIdentifier"] for f in result["batchItemFailures"]])
    # THEN each batch reported only its failed record, every record ran the setup on its thread
    assert failures == [["m2"], ["m2"], ["m2"]]
    assert len(setups) == 15 and set(setups) == threads_seen
    # AND the batches shared one pool: at most 4 threads ever ran records, and no thread was left per batch
    assert len(threads_seen) <= 4
    assert threading.active_count() - started_before <= 4
