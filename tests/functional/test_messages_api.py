import json
from datetime import UTC, datetime, timedelta

from wa_notify.adapters.storage import keys
from wa_notify.models import MessageView


def queue_depth(stack, logical):
    attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.provisioned.refs[logical], AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesDelayed"])


def test_send_reaches_read_with_history_pricing_and_our_id_echoed(api, stack, message_body):
    # GIVEN an approved template
    api.approved_template()
    # WHEN a platform sends a message
    status, body, _ = api.post("/v1/messages", message_body)
    # THEN it is queued, delivered to the sandbox phone in Meta's format, and reaches read
    assert status == 202 and body["status"] == "queued" and body["id"].startswith("msg_")
    stack.drain()
    received = stack.sandbox.received("+886912345678")
    assert len(received) == 1
    assert received[0]["request"]["biz_opaque_callback_data"] == body["id"]
    assert received[0]["text"] == "Hi Ana, your order of NT$1,580.00 is on its way and should arrive September 7, 2024."
    message = api.message(body["id"])
    assert message["status"] == "read"
    assert [h["status"] for h in message["history"]] == ["queued", "accepted", "sent", "delivered", "read"]
    assert message["provider_message_id"] == received[0]["id"]
    assert message["pricing"]["category"] == "utility"
    assert message["to"] == "+886912345678" and message["metadata"] == {"order": "A-1001"}


def test_the_message_view_keeps_every_key_its_value_null_or_not(api, stack, message_body):
    # GIVEN a queued template message (no text, no flow, no campaign, no reply yet)
    api.approved_template()
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    # WHEN it is read as raw JSON (GET /v1/messages/{id} returns the MessageView model)
    status, _, raw = stack.request("GET", f"/v1/messages/{message_id}", headers={"authorization": f"Bearer {api.key}"})
    text = raw.decode() if isinstance(raw, bytes) else raw
    body = json.loads(text)
    # THEN every key of the documented view is there in order, the empty ones as null, not left out
    assert status == 200 and list(body) == list(MessageView.model_fields)
    assert '"text":null' in text.replace(" ", "") and '"flow":null' in text.replace(" ", "")
    assert body["text"] is None and body["campaign"] is None and body["fallback"] is None and body["attempts"] == 0


def test_idempotency_key_same_body_same_message_different_body_409(api, stack, message_body):
    api.approved_template()
    first = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "order-1"})
    again = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "order-1"})
    assert first[0] == again[0] == 202 and first[1]["id"] == again[1]["id"]
    changed = {**message_body, "priority": "bulk"}
    status, body, _ = api.post("/v1/messages", changed, headers={"Idempotency-Key": "order-1"})
    assert status == 409 and "different body" in body["detail"]
    stack.drain()
    assert len(stack.sandbox.received()) == 1  # never a second send
    again = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "order-1"})
    assert again[1] == {"id": first[1]["id"], "status": "read"}


def test_the_same_number_written_another_way_replays_the_same_message(api, stack, message_body):
    # GIVEN a message accepted under a key, its number in E.164
    api.approved_template()
    first = api.post("/v1/messages", {**message_body, "to": "+886912345678"}, headers={"Idempotency-Key": "order-9"})
    # WHEN the platform retries it with the number spaced out as the customer typed it
    again = api.post("/v1/messages", {**message_body, "to": "+886 912 345 678"}, headers={"Idempotency-Key": "order-9"})
    # THEN it is the same request: the same message, not a 409 "different body"
    assert first[0] == 202, first[1].get("errors")
    assert again[0] == 202, again
    assert again[1]["id"] == first[1]["id"]


def test_a_record_stored_before_the_number_was_normalized_still_replays(api, stack, message_body):
    # GIVEN a message accepted under a key whose record holds the hash of the raw request, as
    # records written before `to` was hashed as E.164 do (within their 24 h, across a deploy)
    from wa_notify.adapters.storage import keys
    from wa_notify.models import MessageRequest
    from wa_notify.services.messages import legacy_request_hash

    api.approved_template()
    spaced = {**message_body, "to": "+886 912 345 678"}
    first = api.post("/v1/messages", spaced, headers={"Idempotency-Key": "order-legacy"})
    key = keys.idempotency(stack.dev_tenant["tenant_id"], "order-legacy")
    stack.deps.store.table.update(key.pk, key.sk, "SET body_hash = :h",
                                  values={":h": legacy_request_hash(MessageRequest.model_validate(spaced))})
    # WHEN the same request is replayed
    again = api.post("/v1/messages", spaced, headers={"Idempotency-Key": "order-legacy"})
    # THEN it answers the same message, not a 409
    assert again[0] == 202 and again[1]["id"] == first[1]["id"], again


def test_idempotency_keys_are_per_tenant(api, stack, message_body):
    api.approved_template()
    other = stack.create_tenant("other")
    from tests.functional.conftest import Api
    other_api = Api(stack, other["api_key"])
    other_api.approved_template()
    a = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "k"})[1]["id"]
    b = other_api.post("/v1/messages", message_body, headers={"Idempotency-Key": "k"})[1]["id"]
    assert a != b


def test_bad_params_get_422_and_nothing_is_written_or_queued(api, stack, message_body):
    api.approved_template()
    bad = {**message_body, "params": {**message_body["params"], "first_name": "two\nlines"}, "to": "12"}
    status, body, _ = api.post("/v1/messages", bad)
    assert status == 422
    assert {e["field"] for e in body["errors"]} >= {"to"}
    bad = {**message_body, "params": {**message_body["params"], "first_name": "two\nlines"}}
    status, body, _ = api.post("/v1/messages", bad, headers={"Idempotency-Key": "x"})
    assert status == 422 and body["errors"][0]["field"] == "params.first_name"
    assert queue_depth(stack, "SendQueueHigh") == 0
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    assert not [i for i in items if i["sk"]["S"] in ("MSG", "IDEM")]


def test_schema_errors_name_the_field(api):
    status, body, _ = api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "x", "language": "en"}, "priority": "urgent", "tenant_id": "t"})
    assert status == 422
    fields = {e["field"] for e in body["errors"]}
    assert {"priority", "tenant_id"} <= fields


def test_unknown_or_unapproved_template(api, stack, message_body):
    status, body, _ = api.post("/v1/messages", message_body)
    assert status == 422 and body["errors"][0]["field"] == "template.name"
    stack.sandbox.configure({"template_decision": "PENDING"})
    from tests.functional.conftest import load_event
    api.post("/v1/templates", load_event("api/create_template.json"))
    stack.drain()
    status, body, _ = api.post("/v1/messages", message_body)
    assert status == 409 and "PENDING" in body["detail"]


def test_other_tenants_message_is_404(api, stack, message_body):
    api.approved_template()
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    other = stack.create_tenant("other")
    assert api.get(f"/v1/messages/{message_id}", key=other["api_key"])[0] == 404
    assert api.delete(f"/v1/messages/{message_id}", key=other["api_key"])[0] == 404
    assert api.get("/v1/messages/msg_doesnotexist")[0] == 404


def test_scheduled_message_waits_for_the_clock_and_can_be_cancelled(api, stack, message_body):
    api.approved_template()
    send_at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    scheduled = api.post("/v1/messages", {**message_body, "send_at": send_at.isoformat()})[1]
    cancel_me = api.post("/v1/messages", {**message_body, "send_at": send_at.isoformat(), "priority": "bulk"})[1]
    assert scheduled["status"] == cancel_me["status"] == "scheduled"
    # nothing moves before its time
    stack.request("POST", "/_local/clock", body={"at": (send_at - timedelta(minutes=1)).isoformat()})
    stack.drain()
    assert stack.sandbox.received() == []
    status, body, _ = api.delete(f"/v1/messages/{cancel_me['id']}")
    assert status == 200 and body["status"] == "cancelled"
    # the clock reaches send_at: the scheduled one is sent, the cancelled one never
    status, body, _ = stack.request("POST", "/_local/clock", body={"at": send_at.isoformat()})
    assert status == 200
    stack.drain()
    assert len(stack.sandbox.received()) == 1
    assert api.message(scheduled["id"])["status"] == "read"
    assert api.message(cancel_me["id"])["status"] == "cancelled"
    status, body, _ = api.delete(f"/v1/messages/{scheduled['id']}")
    assert status == 409


def test_naive_send_at_is_rejected(api, message_body):
    api.approved_template()
    status, body, _ = api.post("/v1/messages", {**message_body, "send_at": "2030-01-01T10:00:00"})
    assert status == 422 and body["errors"][0]["field"] == "send_at"


def test_free_form_text_outside_the_window_is_refused_with_409(api, stack):
    status, body, _ = api.post("/v1/messages", {"to": "+886912345678", "text": "hello"})
    assert status == 409 and "24 h customer-service window" in body["detail"] and "template" in body["detail"]
    assert queue_depth(stack, "SendQueueNormal") == 0


def test_free_form_text_inside_the_window_is_read(api, stack):
    stack.request("POST", "/_local/sandbox/inbound", body={"from": "+886912345678", "text": "hi"})
    stack.drain()
    message_id = api.post("/v1/messages", {"to": "+886912345678", "text": "hello back"})[1]["id"]
    stack.drain()
    assert api.message(message_id)["status"] == "read"


def test_priority_lanes(api, stack, message_body):
    api.approved_template()
    for lane in ("high", "normal", "bulk"):
        api.post("/v1/messages", {**message_body, "priority": lane})
    assert [queue_depth(stack, q) for q in ("SendQueueHigh", "SendQueueNormal", "SendQueueBulk")] == [1, 1, 1]


def test_an_expired_idempotency_key_can_be_used_again_before_ttl_deletes_it(api, stack, message_body):
    # GIVEN a key whose record expired but is still in the table (TTL deletes up to 48 h late)
    api.approved_template()
    first = api.post("/v1/messages", message_body, headers={"Idempotency-Key": "reused"})[1]["id"]
    table = stack.deps.store.table
    table.update(*keys.idempotency(stack.dev_tenant["tenant_id"], "reused"), "SET expires_at = :past", values={":past": 1})
    # WHEN the key is used again with another body
    status, body, _ = api.post("/v1/messages", {**message_body, "priority": "bulk"}, headers={"Idempotency-Key": "reused"})
    # THEN it is a new message, not a conflict and not "being processed" forever
    assert status == 202 and body["id"] != first


def test_a_reminder_goes_out_in_its_minute_not_earlier_and_never_twice(api, stack, message_body):
    # GIVEN a message for 10:07:50 (a minute boundary later than now)
    api.approved_template()
    base = (datetime.now(UTC) + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    send_at = base + timedelta(minutes=7, seconds=50)
    message_id = api.post("/v1/messages", {**message_body, "send_at": send_at.isoformat()})[1]["id"]
    # WHEN the 10:06 tick runs: nothing; THEN the 10:07 tick releases it, and a double fire sends once
    stack.request("POST", "/_local/clock", body={"at": (base + timedelta(minutes=6, seconds=59)).isoformat()})
    stack.drain()
    assert stack.sandbox.received() == [] and api.message(message_id)["status"] == "scheduled"
    for _ in range(2):
        stack.request("POST", "/_local/clock", body={"at": (base + timedelta(minutes=7)).isoformat()})
    stack.drain()
    assert len(stack.sandbox.received()) == 1 and api.message(message_id)["status"] == "read"


def test_overdue_scheduled_messages_are_caught_up_after_downtime(api, stack, message_body):
    api.approved_template()
    soon = datetime.now(UTC) + timedelta(minutes=5)
    ids = [api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}", "send_at": (soon + timedelta(minutes=i)).isoformat()})[1]["id"]
           for i in range(3)]
    # the scheduler was down for an hour: the first tick after it catches up on all of them
    stack.request("POST", "/_local/clock", body={"at": (soon + timedelta(hours=1)).isoformat()})
    stack.drain()
    assert [api.message(i)["status"] for i in ids] == ["read"] * 3


def test_send_at_in_the_current_minute_is_sent_now(api, stack, message_body):
    api.approved_template()
    now = datetime.now(UTC)
    status, body, _ = api.post("/v1/messages", {**message_body, "send_at": now.isoformat()})
    assert body["status"] == "queued"


def test_two_overlapping_dispatcher_runs_enqueue_each_message_once(api, stack, message_body):
    import threading

    from wa_notify.services import dispatch

    # GIVEN 12 messages due in the same minute, spread over the shards
    api.approved_template()
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    ids = [api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}", "send_at": at.isoformat()})[1]["id"] for i in range(12)]
    # WHEN two dispatcher runs overlap
    results = []
    runs = [threading.Thread(target=lambda: results.append(dispatch.run(stack.deps, at))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # THEN together they promoted each message once, and each is sent once
    assert sum(r.get("promoted", 0) for r in results) == 12
    stack.drain()
    assert len(stack.sandbox.received()) == 12 and {api.message(i)["status"] for i in ids} == {"read"}
