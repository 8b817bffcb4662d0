"""Intake without a transaction (issue 14): the idempotency record, the quota count and the message
are three conditional writes, in that order. Whatever AWS call of `POST /v1/messages` fails, and
whether it failed before DynamoDB applied it or after (the answer lost), the same request retried
makes exactly one message, queued at most once by intake (a message written but not queued is the
dispatcher's, from the due index), and the quota counts at most one message more than was written.
"""

import json

from botocore.exceptions import ClientError
from wa_notify.adapters.storage import keys
from wa_notify.services import messages as message_service

QUOTA_DAY_SK_PREFIX = "20"  # a quota counter's sort key is its UTC day


def injected(op):
    return ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, op)


def label(op, params):
    """What a call touches: `PutItem:IDEM`, `UpdateItem:QUOTA`, `PutItem:MSG`, `GetItem:...`, `SendMessage`."""
    key = params.get("Key") or params.get("Item")
    if not key:
        return op
    sk = key["sk"]["S"]
    return f"{op}:{'QUOTA' if sk.startswith(QUOTA_DAY_SK_PREFIX) else sk}"


class Fault:
    """Fails the n-th AWS call (0-based) as AWS fails, a 500: `before` DynamoDB or SQS applied it,
    or `after` (it was applied, the answer was lost)."""

    def __init__(self, n, when):
        self.n, self.when, self.seen, self.last, self.failed = n, when, 0, None, None

    def before(self, params, model, **_):
        index, self.seen = self.seen, self.seen + 1
        self.last = (index, label(model.name, params))
        if self.when == "before" and index == self.n:
            self.failed = self.last[1]
            raise injected(model.name)

    def after(self, model, **_):
        if self.when == "after" and self.last and self.last[0] == self.n and self.failed is None:
            self.failed = self.last[1]
            raise injected(model.name)


class FailWhere:
    """Fails, before it is applied, every call whose label is `target`."""

    def __init__(self, target):
        self.target = target

    def before(self, params, model, **_):
        if label(model.name, params) == self.target:
            raise injected(model.name)

    def after(self, **_):
        pass


def clients(stack):
    return [stack.deps.store.table.client, stack.deps.queues.client]


def with_fault(stack, fault, call):
    for client in clients(stack):
        client.meta.events.register("before-parameter-build.*.*", fault.before, unique_id="intake-fault-before")
        client.meta.events.register("after-call.*.*", fault.after, unique_id="intake-fault-after")
    try:
        return call()
    finally:
        for client in clients(stack):
            client.meta.events.unregister("before-parameter-build.*.*", unique_id="intake-fault-before")
            client.meta.events.unregister("after-call.*.*", unique_id="intake-fault-after")


class Enqueued:
    """The message ids intake puts on the send queues."""

    def __init__(self, stack):
        self.ids = []
        stack.deps.queues.client.meta.events.register("before-parameter-build.sqs.SendMessage", self.one, unique_id="enqueued-one")
        stack.deps.queues.client.meta.events.register("before-parameter-build.sqs.SendMessageBatch", self.many, unique_id="enqueued-many")

    def one(self, params, **_):
        self.ids.append(json.loads(params["MessageBody"]).get("message_id"))

    def many(self, params, **_):
        self.ids += [json.loads(e["MessageBody"]).get("message_id") for e in params["Entries"]]


def message_rows(stack, to=None):
    """Every message row (of one number), straight from the table: {id: row}."""
    table = stack.deps.store.table
    rows, start = [], None
    while True:
        page = table.client.scan(TableName=table.name, **({"ExclusiveStartKey": start} if start else {}))
        rows += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    return {r["id"]["S"]: r for r in rows if r["sk"]["S"] == "MSG" and (to is None or r["to"]["S"] == to)}


def quota_used(stack):
    return stack.deps.store.quota.used(stack.dev_tenant["tenant_id"], message_service.quota_day(stack.deps.now())[0])


def record_of(stack, key):
    return stack.deps.store.messages.get_idempotency(stack.dev_tenant["tenant_id"], key)


def test_an_intake_failing_at_any_aws_call_is_completed_by_its_retry_once(api, stack, message_body):
    # GIVEN an approved template, a count of what intake queues, and a daily limit under 20,000,
    # where each message is counted by its own write (reservations: the tests below)
    stack.deps.settings = stack.deps.settings.model_copy(update={"default_daily_quota": 10_000})
    api.approved_template()
    enqueued = Enqueued(stack)
    extra_counts = 0
    tried = {"before": set(), "after": set()}
    for when in ("before", "after"):
        n = 0
        while True:
            to = f"+1415555{n:02d}{len(when):02d}"
            request = {**message_body, "to": to}
            headers = {"Idempotency-Key": f"{when}-{n}"}
            # WHEN the request's n-th AWS call fails (before it was applied, or after)
            fault = Fault(n, when)
            status, body, _ = with_fault(stack, fault, lambda request=request, headers=headers: api.post("/v1/messages", request, headers=headers))
            assert status in (202, 503), (fault.failed, body)
            # AND the platform retries the same request, as a 503 tells it to
            again_status, again, _ = api.post("/v1/messages", request, headers=headers)
            # THEN the retry is accepted, naming the one message of that request
            assert again_status == 202, (fault.failed, again)
            rows = message_rows(stack, to)
            assert list(rows) == [again["id"]], (fault.failed, rows)
            if status == 202:
                assert body["id"] == again["id"], fault.failed
            # AND it was queued at most once by intake (twice when the first attempt queued its job and
            # stopped before writing the row: the retry queues its own, the lease lets one send);
            # not queued, it waits in the due index for the dispatcher
            queued = enqueued.ids.count(again["id"])
            assert queued <= (2 if (when, fault.failed) == ("before", "PutItem:MSG") else 1), fault.failed
            if queued == 0:
                assert "due_shard" in rows[again["id"]] and "due_at" in rows[again["id"]], fault.failed
            # AND the quota counted the message once, or twice when the write stopped between the count and the message
            if (when, fault.failed) in {("before", "PutItem:MSG"), ("after", "UpdateItem:QUOTA")}:
                extra_counts += 1
            assert quota_used(stack) == len(message_rows(stack)) + extra_counts, fault.failed
            if fault.failed is None:  # the path has fewer calls than n: every one was failed once
                break
            tried[when].add(fault.failed)
            n += 1
    # every write of the path was failed, each way
    for when in tried:
        assert {"PutItem:IDEM", "UpdateItem:QUOTA", "PutItem:MSG", "SendMessage"} <= tried[when], tried
    assert extra_counts == 2


def test_a_record_whose_message_is_missing_answers_another_body_409_and_the_same_body_with_its_message(api, stack, message_body):
    # GIVEN a request with a key that stopped after its idempotency record (its message never written)
    api.approved_template()
    status, _, _ = with_fault(stack, FailWhere("PutItem:MSG"), lambda: api.post("/v1/messages", message_body, headers={"Idempotency-Key": "half"}))
    assert status == 503
    promised = record_of(stack, "half")["message_id"]
    assert message_rows(stack) == {}
    # WHEN the key comes back with another body
    status, problem, _ = api.post("/v1/messages", {**message_body, "priority": "bulk"}, headers={"Idempotency-Key": "half"})
    # THEN 409, and still nothing written
    assert status == 409 and "different body" in problem["detail"], problem
    assert message_rows(stack) == {}
    # AND with the same body, the message the record promised is written, under that id
    status, body, _ = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "half"})
    assert status == 202 and body["id"] == promised
    assert list(message_rows(stack)) == [promised]
    stack.drain()
    received = stack.sandbox.received("+886912345678")
    assert len(received) == 1 and received[0]["request"]["biz_opaque_callback_data"] == promised


def test_over_quota_with_a_key_leaves_no_record_so_the_same_request_goes_once_there_is_room(api, stack, message_body):
    # GIVEN a tenant whose daily quota of 1 is used
    stack.deps.settings = stack.deps.settings.model_copy(update={"default_daily_quota": 1})
    api.approved_template()
    assert api.post("/v1/messages", {**message_body, "to": "+14155550001"})[0] == 202
    # WHEN a request with a key is over the quota
    status, _, _ = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "later"})
    # THEN 429, and neither its record nor a message is left
    assert status == 429
    assert record_of(stack, "later") is None and len(message_rows(stack)) == 1 and quota_used(stack) == 1
    # WHEN it is tried again and the record's removal fails this time
    status, _, _ = with_fault(stack, FailWhere("DeleteItem:IDEM"), lambda: api.post("/v1/messages", message_body, headers={"Idempotency-Key": "later"}))
    assert status == 503 and record_of(stack, "later") is not None
    # THEN the next try is still 429 (not stuck on the record, not a second message) and removes it
    assert api.post("/v1/messages", message_body, headers={"Idempotency-Key": "later"})[0] == 429
    assert record_of(stack, "later") is None and len(message_rows(stack)) == 1 and quota_used(stack) == 1
    # AND once there is room, the same request is accepted, once
    stack.deps.settings = stack.deps.settings.model_copy(update={"default_daily_quota": 2})
    first = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "later"})
    again = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "later"})
    assert first[0] == again[0] == 202 and first[1]["id"] == again[1]["id"]
    assert len(message_rows(stack)) == 2 and quota_used(stack) == 2


def test_intake_writes_no_transaction(api, stack, message_body):
    # GIVEN an approved template, and a record of every DynamoDB call
    api.approved_template()
    ops = []
    client = stack.deps.store.table.client
    client.meta.events.register("before-parameter-build.dynamodb.*", lambda params, model, **_: ops.append(label(model.name, params)),
                                unique_id="intake-ops")
    try:
        # WHEN a message is accepted with a key, and one without
        assert api.post("/v1/messages", message_body, headers={"Idempotency-Key": "cheap"})[0] == 202
        assert api.post("/v1/messages", {**message_body, "to": "+14155550002"})[0] == 202
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.*", unique_id="intake-ops")
    # THEN each is plain conditional writes (1 write unit each, a transaction costs 2 per item), the
    # second message spending a send the first one's quota write reserved (default limit 100,000)
    writes = [o for o in ops if not o.startswith(("GetItem", "Query", "BatchGetItem"))]
    assert writes == ["PutItem:IDEM", "UpdateItem:QUOTA", "PutItem:MSG", "PutItem:MSG"], ops
    assert keys.MESSAGE_SK == "MSG"
    # AND the template was read once for both (this container's 2 s copy)
    template_reads = [o for o in ops if o.startswith("GetItem:") and "#" in o]
    assert len(template_reads) == 1, ops  # sort key <name>#<language>


def quota_writes(stack, call):
    """How many quota UpdateItems `call` makes."""
    seen = []
    client = stack.deps.store.table.client
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem",
                                lambda params, model, **_: seen.append(label(model.name, params)), unique_id="quota-writes")
    try:
        call()
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", unique_id="quota-writes")
    return seen.count("UpdateItem:QUOTA")


def test_a_large_daily_limit_is_counted_ten_sends_a_write(api, stack, message_body):
    # GIVEN the default daily limit of 100,000 (reservations of 10)
    api.approved_template()
    # WHEN 25 messages are accepted
    def send():
        for n in range(25):
            assert api.post("/v1/messages", {**message_body, "to": f"+141555501{n:02d}"})[0] == 202
    writes = quota_writes(stack, send)
    # THEN three quota writes counted them (10 + 10 + 10), and 5 counted sends wait in this container
    assert writes == 3
    assert quota_used(stack) == 30 and len(message_rows(stack)) == 25
    tenant_id, day = stack.dev_tenant["tenant_id"], message_service.quota_day(stack.deps.now())[0]
    assert stack.deps.store.quota.reserved(tenant_id, day) == 5


def test_near_the_limit_reservations_give_way_to_exact_counts_and_the_limit_holds(api, stack, message_body):
    # GIVEN a daily limit of 100,000 of which 99,997 are used (another container's sends)
    api.approved_template()
    tenant_id, day = stack.dev_tenant["tenant_id"], message_service.quota_day(stack.deps.now())[0]
    assert stack.deps.store.quota.count(tenant_id, day, 99_997, 100_000)
    # WHEN four messages come
    statuses = [api.post("/v1/messages", {**message_body, "to": f"+141555502{n:02d}"})[0] for n in range(4)]
    # THEN a reservation of 10 no longer fits: three are counted one by one, the fourth is 429
    assert statuses == [202, 202, 202, 429]
    assert quota_used(stack) == 100_000 and len(message_rows(stack)) == 3
    assert stack.deps.store.quota.reserved(tenant_id, day) == 0


def test_a_reservation_is_for_its_day_only(stack):
    # GIVEN sends reserved yesterday
    quota = stack.deps.store.quota
    assert quota.take_one("ten_x", "2026-12-01", 100_000) and quota.reserved("ten_x", "2026-12-01") == 9
    # WHEN the first send of a new day is counted
    assert quota.take_one("ten_x", "2026-12-02", 100_000)
    # THEN it is counted against the new day, and yesterday's reservation is void
    assert quota.used("ten_x", "2026-12-02") == 10 and quota.reserved("ten_x", "2026-12-02") == 9
    assert quota.reserved("ten_x", "2026-12-01") == 0


def test_intake_sees_another_containers_template_change_within_its_recent_seconds(api, stack, message_body):
    # GIVEN intake has read the template (this container keeps its copy `recent_seconds`)
    api.approved_template()
    stack.deps.store.templates.recent_seconds = 0.2
    assert api.post("/v1/messages", message_body)[0] == 202
    # WHEN another container (its own repository on the same table) applies Meta's PAUSED
    from wa_notify.adapters.storage.templates import TemplateRepository

    other = TemplateRepository(stack.deps.store.table)
    assert other.apply_event(stack.dev_tenant["tenant_id"], "order_shipped", "en_US", at="2026-12-02T00:00:00Z", status="PAUSED")
    # THEN once the copy is older than that, intake refuses with 409 (within it, the sender's gate holds what slips through)
    import time

    time.sleep(0.25)
    status, problem, _ = api.post("/v1/messages", {**message_body, "to": "+14155550399"})
    assert status == 409 and "PAUSED" in problem["detail"], problem


def test_a_template_change_through_this_container_is_seen_at_once(api, stack, message_body):
    # GIVEN intake has read the template
    api.approved_template()
    assert api.post("/v1/messages", message_body)[0] == 202
    # WHEN this container applies Meta's PAUSED (the local stack: one process, one repository)
    assert stack.deps.store.templates.apply_event(stack.dev_tenant["tenant_id"], "order_shipped", "en_US",
                                                  at="2026-12-02T00:00:00Z", status="PAUSED")
    # THEN the next message is refused at once
    assert api.post("/v1/messages", {**message_body, "to": "+14155550398"})[0] == 409
