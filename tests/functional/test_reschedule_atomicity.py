"""A reschedule leaves the old plan or the new one, never neither (issue 12, part 1).

The old plan's cancels and the new plan's writes are one DynamoDB transaction, so a failure at
any AWS call of the path (a DynamoDB error, a throttle, SQS down) changes nothing or everything.
"""

import json
from datetime import timedelta

from botocore.exceptions import ClientError
from wa_notify.adapters.storage import keys

from tests.functional.test_flows_and_events import booking, clinic, tomorrow_at  # noqa: F401 - clinic is a fixture

PENDING = ("scheduled", "queued")


class FailAtCall:
    """A botocore hook that fails the n-th AWS call (0-based) it sees, as AWS fails: a 500."""

    def __init__(self, n: int):
        self.n, self.seen, self.failed_op = n, 0, None

    def __call__(self, model, **_):
        index, self.seen = self.seen, self.seen + 1
        if index == self.n:
            self.failed_op = model.name
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, model.name)


def clients(stack):
    return [stack.deps.store.table.client, stack.deps.queues.client]


def with_fault(stack, fault, call):
    for client in clients(stack):
        client.meta.events.register("before-call.*.*", fault, unique_id="fail-at-call")
    try:
        return call()
    finally:
        for client in clients(stack):
            client.meta.events.unregister("before-call.*.*", unique_id="fail-at-call")


def messages_of(stack, key):
    """Every message row of this key, straight from the table: {id: status}."""
    table = stack.deps.store.table
    rows, start = [], None
    while True:
        kwargs = {"TableName": table.name, **({"ExclusiveStartKey": start} if start else {})}
        page = table.client.scan(**kwargs)
        rows += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    out = {}
    for row in rows:
        if row["sk"]["S"] == "MSG" and row.get("flow", {}).get("M", {}).get("key", {}).get("S") == key:
            out[row["id"]["S"]] = row["status"]["S"]
    return out


def test_a_reschedule_failing_at_any_aws_call_keeps_the_old_plan_or_the_new_one(clinic, stack):  # noqa: F811
    visit = tomorrow_at(10)
    n = 0
    while True:
        key = f"booking-{n}"
        # GIVEN a booked visit with its reminders pending
        status, booked, _ = clinic.post("/v1/events", booking(visit, key=key))
        assert status == 202, booked
        old_pending = {i for i, s in messages_of(stack, key).items() if s in PENDING}
        assert len(old_pending) == 4
        # WHEN the reschedule's n-th AWS call fails
        fault = FailAtCall(n)
        moved = booking(visit + timedelta(days=1, hours=4), key=key, event_type="appointment.moved")
        status, body, _ = with_fault(stack, fault, lambda moved=moved: clinic.post("/v1/events", moved))
        # THEN the key holds exactly the old plan or exactly the new one
        after = messages_of(stack, key)
        still_pending = {i for i, s in after.items() if s in PENDING and i in old_pending}
        new = {i: s for i, s in after.items() if i not in old_pending}
        if status == 202:
            assert still_pending == set() and len(new) == 4, (fault.failed_op, after)
        else:
            assert status == 503 and body["status"] == 503, (fault.failed_op, body)
            assert still_pending == old_pending and new == {}, (fault.failed_op, after)
            # AND the same call again completes the reschedule
            status, body, _ = clinic.post("/v1/events", moved)
            assert status == 202, body
            assert sorted(body["cancelled"]) == sorted(old_pending)
        after = messages_of(stack, key)
        assert {i for i, s in after.items() if s in PENDING} == {m["id"] for m in body["messages"]}
        if fault.failed_op is None:  # the path has fewer calls than n: every one was failed once
            break
        n += 1
    assert n >= 4  # plans, pending reads, the transaction, the enqueue: all were tried


def test_a_reschedule_with_bad_data_is_refused_and_the_old_plan_stays(clinic, stack):  # noqa: F811
    # GIVEN a booked visit
    visit = tomorrow_at(10)
    clinic.post("/v1/events", booking(visit))
    old = messages_of(stack, "booking-1")
    # WHEN it is moved with data that cannot be stored (a lone surrogate), twice, as a client retries
    moved = booking(visit + timedelta(days=1), event_type="appointment.moved")
    raw = json.dumps(moved).replace('"3B"', '"3B\\ud800"')
    answers = [clinic.post("/v1/events", raw)[:2] for _ in range(2)]
    # THEN both answers are the same 422 naming the field, and the plan is untouched
    for status, body in answers:
        assert status == 422 and "data.room" in {e["field"] for e in body["errors"]}, body
    assert messages_of(stack, "booking-1") == old


def test_a_message_sent_between_the_read_and_the_write_is_not_reported_cancelled(clinic, stack):  # noqa: F811
    # GIVEN a booked visit whose reminder the sender takes just after the reschedule read the plan
    visit = tomorrow_at(10)
    clinic.post("/v1/events", booking(visit))
    pending = sorted(i for i, s in messages_of(stack, "booking-1").items() if s == "scheduled")
    store = stack.deps.store
    real_pending_of = store.messages.pending_of
    taken = []

    def pending_then_sender_takes_one(tenant_id, ids):
        found = real_pending_of(tenant_id, ids)
        if not taken:  # the sender leases the first reminder right after this read
            taken.append(pending[0])
            store.table.update(*keys.message(tenant_id, pending[0]), "SET #s = :sending",
                               names={"#s": "status"}, values={":sending": "sending"})
        return found

    store.messages.pending_of = pending_then_sender_takes_one
    try:
        # WHEN the visit is moved
        status, body, _ = clinic.post("/v1/events", booking(visit + timedelta(days=1), event_type="appointment.moved"))
    finally:
        store.messages.pending_of = real_pending_of
    # THEN the write saw the change, read again, and reports only what it really cancelled
    assert status == 202, body
    assert pending[0] not in body["cancelled"] and set(pending[1:]) <= set(body["cancelled"])
    assert messages_of(stack, "booking-1")[pending[0]] == "sending"


def test_a_campaign_whose_planning_job_cannot_be_queued_leaves_nothing_behind(api, stack):
    from tests.functional.test_campaigns_and_quota import add_contacts, campaign_body

    # GIVEN an approved template and a tagged contact
    api.approved_template()
    add_contacts(api, ["+14155550001"])
    # WHEN SQS refuses the campaign's planning job
    fault = FailAtCall(0)
    stack.deps.queues.client.meta.events.register("before-call.sqs.SendMessage", fault, unique_id="fail-sqs")
    try:
        status, body, _ = api.post("/v1/campaigns", campaign_body())
    finally:
        stack.deps.queues.client.meta.events.unregister("before-call.sqs.SendMessage", unique_id="fail-sqs")
    # THEN the platform is told to retry, and no campaign is left stuck in "planning"
    assert status == 503 and fault.failed_op == "SendMessage", body
    rows = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    assert not [r for r in rows if r["sk"]["S"] == "CAMPAIGN"]
    # AND the retry works
    assert api.post("/v1/campaigns", campaign_body())[0] == 202


def test_a_second_booking_under_the_same_key_is_409_and_sends_nothing_twice(clinic, stack):  # noqa: F811
    # GIVEN a booked visit with its reminders pending
    visit = tomorrow_at(10)
    assert clinic.post("/v1/events", booking(visit))[0] == 202
    before = messages_of(stack, "booking-1")
    # WHEN another booking arrives under the same key, with a different room or another phone
    for changed in ({**booking(visit), "data": {**booking(visit)["data"], "room": "9Z"}}, booking(visit, to="+886912000000")):
        status, body, _ = clinic.post("/v1/events", changed)
        # THEN it is refused, naming what to do, and nothing is planned twice
        assert status == 409 and "reschedule_on" in body["detail"], body
    assert messages_of(stack, "booking-1") == before
    # AND once the visit is cancelled, the key can be booked again
    assert clinic.post("/v1/events", booking(visit, event_type="appointment.cancelled"))[0] == 202
    assert clinic.post("/v1/events", {**booking(visit), "data": {**booking(visit)["data"], "room": "9Z"}})[0] == 202


def test_two_bookings_racing_under_one_key_plan_once(clinic, stack):  # noqa: F811
    # GIVEN a first booking planned, and a second one whose first read of the key's plans is
    # stale: it saw the key as it was before the first booking was written
    visit = tomorrow_at(10)
    assert clinic.post("/v1/events", booking(visit))[0] == 202
    store = stack.deps.store.flows
    real = store.plans_for_key
    reads = []

    def stale_first_read(tenant_id, key):
        reads.append(key)
        return [] if len(reads) == 1 else real(tenant_id, key)

    store.plans_for_key = stale_first_read
    try:
        # WHEN the second booking writes from that stale view
        status, body, _ = clinic.post("/v1/events", {**booking(visit), "data": {**booking(visit)["data"], "room": "9Z"}})
    finally:
        store.plans_for_key = real
    # THEN its write fails on the changed plan record, it reads again and refuses: one plan only
    assert status == 409 and len(reads) == 2, body
    assert len([s for s in messages_of(stack, "booking-1").values() if s in PENDING]) == 4


def test_a_move_to_an_absurd_date_is_422_and_the_plan_stays(clinic, stack):  # noqa: F811
    # GIVEN a booked visit
    visit = tomorrow_at(10)
    clinic.post("/v1/events", booking(visit))
    old = messages_of(stack, "booking-1")
    for absurd in ("9998-12-31T23:59", "1900-01-01T00:00"):
        # WHEN it is moved to a date no reminder could be planned from
        moved = booking(visit, event_type="appointment.moved")
        moved["data"]["visit_at"]["datetime"] = absurd
        status, body, _ = clinic.post("/v1/events", moved)
        # THEN the move is refused once, naming the field, and nothing was cancelled or sent
        assert status == 422 and [e["field"] for e in body["errors"]] == ["data.visit_at"], body
        assert messages_of(stack, "booking-1") == old


def test_a_deleted_flows_reminders_are_still_cancelled_by_its_cancel_event(clinic, stack):  # noqa: F811
    from tests.functional.test_flows_and_events import CLINIC_FLOW

    # GIVEN a booked visit, and then its flow deleted
    clinic.post("/v1/events", booking(tomorrow_at(10)))
    pending = {i for i, s in messages_of(stack, "booking-1").items() if s in PENDING}
    assert clinic.delete("/v1/flows/clinic_visit")[0] == 204
    # THEN the flow is gone from reads and triggers nothing more
    assert clinic.get("/v1/flows/clinic_visit")[0] == 404
    assert clinic.get("/v1/flows")[1]["items"] == []
    assert clinic.post("/v1/events", booking(tomorrow_at(10), key="booking-2"))[1]["messages"] == []
    # WHEN the visit is cancelled
    status, body, _ = clinic.post("/v1/events", booking(tomorrow_at(10), event_type="appointment.cancelled"))
    # THEN the reminders the deleted flow planned are cancelled, not stranded
    assert status == 202 and set(body["cancelled"]) == pending, body
    assert not [s for s in messages_of(stack, "booking-1").values() if s in PENDING]
    # AND the name can be used again
    assert clinic.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] == 201
    assert clinic.delete("/v1/flows/clinic_visit")[0] == 204
    assert clinic.delete("/v1/flows/clinic_visit")[0] == 404


def test_the_same_cancel_again_after_a_move_cancels_what_the_move_planned(clinic, stack):  # noqa: F811
    # GIVEN a booking, its cancel, then a move that planned the visit again
    visit = tomorrow_at(10)
    cancel = {"type": "appointment.cancelled", "key": "booking-1", "to": "+886912345678"}
    assert clinic.post("/v1/events", booking(visit))[0] == 202
    assert clinic.post("/v1/events", cancel)[0] == 202
    assert clinic.post("/v1/events", booking(visit + timedelta(days=1), event_type="appointment.moved"))[0] == 202
    moved = {m for m, s in messages_of(stack, "booking-1").items() if s in PENDING}
    assert moved
    # WHEN the patient cancels again, with the very same body as the first cancel
    status, body, _ = clinic.post("/v1/events", cancel)
    # THEN it is applied, not answered from the first cancel: nothing of the move is left to send
    assert status == 202 and set(body["cancelled"]) == moved, body
    assert not [s for s in messages_of(stack, "booking-1").values() if s in PENDING]
    # AND a retry of that second cancel is answered from it, changing nothing
    assert clinic.post("/v1/events", cancel)[1] == body


def test_booking_again_with_the_same_body_after_its_cancel_plans_again(clinic, stack):  # noqa: F811
    # GIVEN a booking and its cancel
    visit = tomorrow_at(10)
    first = clinic.post("/v1/events", booking(visit))[1]
    assert clinic.post("/v1/events", {"type": "appointment.cancelled", "key": "booking-1", "to": "+886912345678"})[0] == 202
    # WHEN the customer books the same slot again (the same body as the first booking)
    status, again, _ = clinic.post("/v1/events", booking(visit))
    # THEN new messages are planned (not the first booking's ids, cancelled, answered as if pending)
    assert status == 202, again
    assert {m["id"] for m in again["messages"]}.isdisjoint({m["id"] for m in first["messages"]})
    statuses = messages_of(stack, "booking-1")
    assert all(statuses[m["id"]] in PENDING for m in again["messages"] if m["status"] == "scheduled")
    # AND a retry right after is the same answer, planned once
    assert clinic.post("/v1/events", booking(visit))[1] == again


def test_an_idempotency_key_makes_a_late_retry_safe_whatever_came_between(clinic, stack):  # noqa: F811
    # GIVEN a booking posted with an Idempotency-Key, then its cancel
    visit = tomorrow_at(10)
    key = {"idempotency-key": "booking-1-placed"}
    status, first, _ = clinic.post("/v1/events", booking(visit), headers=key)
    assert status == 202
    assert clinic.post("/v1/events", {"type": "appointment.cancelled", "key": "booking-1", "to": "+886912345678"})[0] == 202
    # WHEN the platform's delayed retry of the booking arrives, with the same key
    status, retried, _ = clinic.post("/v1/events", booking(visit), headers=key)
    # THEN it is the first answer, and nothing is planned again (the booking stays cancelled)
    assert status == 202 and retried == first
    assert not [s for s in messages_of(stack, "booking-1").values() if s in PENDING]
    # AND the key with another body is a 409, planning nothing
    other = {**booking(visit), "data": {**booking(visit)["data"], "room": "9Z"}}
    status, problem, headers = clinic.post("/v1/events", other, headers=key)
    assert status == 409 and headers["content-type"].startswith("application/problem+json"), problem


def test_an_event_no_flow_runs_on_is_not_recorded_so_it_plans_once_its_flow_exists(api, stack):
    # GIVEN an event type no flow has yet
    api.approved_template()
    data = {"first_name": "Ana", "order_id": "A", "total": {"amount": 1, "currency": "USD"}, "eta": {"date": "2026-12-24"}, "tracking": "1Z"}
    event = {"type": "visit.booked", "key": "v-1", "to": "+886912345678", "data": data}
    assert api.post("/v1/events", event)[1]["messages"] == []
    # WHEN its flow is created and the same event is posted again
    flow = {"trigger": "visit.booked", "language": "en_US", "steps": [{"template": "order_shipped", "at": "now", "button_params": {"0": "tracking"}}]}
    assert api.call("PUT", "/v1/flows/visits", flow)[0] == 201
    status, body, _ = api.post("/v1/events", event)
    # THEN it plans (the first post recorded nothing to answer from)
    assert status == 202 and len(body["messages"]) == 1, body
