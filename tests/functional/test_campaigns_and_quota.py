"""Campaigns through the bulk lane, their progress and cancel; the tenant's daily quota (429)."""

from datetime import timedelta

from wa_notify.services import campaigns
from wa_notify.services.deps import iso

from tests.functional.test_messages_api import queue_depth

PARAMS = {"order_id": "A-1", "first_name": "Ana", "total": {"amount": 10, "currency": "USD"}, "eta": {"date": "2026-12-01"}}


def add_contacts(api, phones, tags=("vip",), opted_out=()):
    for phone in phones:
        body = {"tags": list(tags)}
        if phone in opted_out:
            body["opted_out"] = True
        status, data, _ = api.call("PUT", f"/v1/contacts/{phone}", body)
        assert status == 200, data


def campaign_body(**over):
    return {"template": "order_shipped", "language": "en_US", "segment": {"tag": "vip"}, "params": PARAMS,
            "button_params": {"0": "X1"}, **over}


def test_a_campaign_reaches_every_opted_in_contact_of_its_tag_once(api, stack):
    # GIVEN 5 contacts tagged vip (one opted out) and 2 without the tag
    api.approved_template()
    vip = [f"+1415555{i:04d}" for i in range(5)]
    add_contacts(api, vip, opted_out={vip[0]})
    add_contacts(api, ["+14155559998", "+14155559999"], tags=("other",))
    # WHEN a campaign goes to the vip tag and the lanes drain
    status, body, _ = api.post("/v1/campaigns", campaign_body())
    assert status == 202, body
    stack.drain()
    # THEN the 4 opted-in vips got exactly one message each, through the bulk lane
    received = sorted(m["request"]["to"] for m in stack.sandbox.messages)
    assert received == sorted(vip[1:])
    progress = api.get(f"/v1/campaigns/{body['id']}")[1]
    assert progress["progress"]["planned"] == 4 and progress["excluded_opted_out"] == 1
    assert progress["progress"]["read"] == 4 and progress["progress"]["failed"] == 0
    msg_id = campaigns.campaign_message_id(body["id"], vip[1])
    message = api.message(msg_id)
    assert message["priority"] == "bulk" and message["campaign"] == body["id"]


def test_planning_pages_and_a_redelivered_plan_job_plan_nothing_twice(api, stack, monkeypatch):
    # GIVEN pages of 3 and 8 listed contacts (one listed twice)
    monkeypatch.setattr(campaigns, "PAGE_SIZE", 3)
    api.approved_template()
    phones = [f"+1415555{i:04d}" for i in range(8)]
    body = campaign_body(segment={"contacts": [*phones, phones[0]]})
    status, created, _ = api.post("/v1/campaigns", body)
    assert status == 202
    tenant = stack.dev_tenant["tenant_id"]
    # WHEN the first plan job is delivered twice before the queues drain
    assert campaigns.plan_page(stack.deps, tenant, created["id"]) == "planned"
    campaign = stack.deps.store.campaigns.get(tenant, created["id"])
    assert campaigns.plan_page(stack.deps, tenant, created["id"]) in ("planned", "done")
    stack.drain()
    # THEN every phone got one message, none two
    received = [m["request"]["to"] for m in stack.sandbox.messages]
    assert sorted(received) == sorted(phones) and campaign["planned"] == 3
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]["planned"] == 8


def test_cancelling_a_campaign_stops_what_has_not_left(api, stack):
    # GIVEN a campaign planned for tomorrow
    api.approved_template()
    add_contacts(api, [f"+1415555{i:04d}" for i in range(4)])
    start = stack.deps.now() + timedelta(days=1)
    status, created, _ = api.post("/v1/campaigns", campaign_body(send_window={"start": iso(start)}))
    assert status == 202
    stack.drain()
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["status"] == "sending"  # its messages wait for send_window.start (the contract has no "scheduled")
    # WHEN it is cancelled and its minute comes
    status, cancelled, _ = api.delete(f"/v1/campaigns/{created['id']}")
    assert status == 200 and cancelled["status"] == "cancelled"
    stack.drain()
    stack.fire_scheduled(start + timedelta(minutes=1))
    stack.drain()
    # THEN nothing was sent and every message reads cancelled
    assert stack.sandbox.messages == []
    progress = api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]
    assert progress["cancelled"] == 4 and progress["sent"] == 0
    assert api.delete(f"/v1/campaigns/{created['id']}")[0] == 200  # cancelling twice is fine


def test_a_send_window_that_closes_cancels_what_is_left(api, stack):
    # GIVEN a campaign whose window closes in a minute, and a sender that only runs later
    api.approved_template()
    add_contacts(api, ["+14155550001"])
    now = stack.deps.now()
    status, created, _ = api.post("/v1/campaigns", campaign_body(send_window={"end": iso(now + timedelta(minutes=1))}))
    assert status == 202
    stack.drain(max_rounds=1)  # plans, leaves the send in the bulk lane
    stack.deps.clock = lambda: now + timedelta(minutes=2)
    # WHEN the send comes up after the window
    stack.drain()
    # THEN it is cancelled, not sent
    assert stack.sandbox.messages == []
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]["cancelled"] == 1


def test_bad_campaigns_are_422_and_plan_nothing(api, stack):
    api.approved_template()
    cases = [
        campaign_body(segment={}),
        campaign_body(segment={"tag": "vip", "contacts": ["+14155550001"]}),
        campaign_body(segment={"contacts": ["not a phone"]}),
        campaign_body(params={}),
        campaign_body(template="nope"),
        campaign_body(send_window={"start": "2026-01-01T00:00:00"}),
    ]
    for body in cases:
        status, problem, headers = api.post("/v1/campaigns", body)
        assert status == 422, (body, problem)
        assert headers["content-type"].startswith("application/problem+json")
    assert queue_depth(stack, "SendQueueBulk") == 0
    assert api.get("/v1/campaigns/cmp_nope")[0] == 404


def test_over_the_daily_quota_is_429_with_retry_after_and_nothing_is_written(api, stack, message_body):
    # GIVEN a tenant whose daily quota is 2
    stack.deps.settings = stack.deps.settings.model_copy(update={"default_daily_quota": 2})
    api.approved_template()
    ids = [api.post("/v1/messages", {**message_body, "to": f"+1415555000{i}"})[1]["id"] for i in range(2)]
    assert all(ids)
    # WHEN a third message and a campaign are asked for
    status, problem, headers = api.post("/v1/messages", {**message_body, "to": "+14155550009"})
    # THEN 429 with Retry-After until midnight UTC, no message and no queue entry
    assert status == 429 and problem["status"] == 429
    assert 0 < int(headers["retry-after"]) <= 86_401
    assert queue_depth(stack, "SendQueueHigh") == 2
    add_contacts(api, ["+14155550007"])
    assert api.post("/v1/campaigns", campaign_body())[0] == 429
    settings = api.get("/v1/settings")[1]
    assert settings["daily_quota"] == 2 and settings["quota_used_today"] == 2


def test_a_campaign_uses_the_quota_to_the_last_message_then_pauses(api, stack, monkeypatch):
    # GIVEN a quota of 3 and a campaign to 5 contacts, planned in pages of 2
    monkeypatch.setattr(campaigns, "PAGE_SIZE", 2)
    stack.deps.settings = stack.deps.settings.model_copy(update={"default_daily_quota": 3})
    api.approved_template()
    add_contacts(api, [f"+1415555{i:04d}" for i in range(5)])
    status, created, _ = api.post("/v1/campaigns", campaign_body())
    assert status == 202
    # WHEN it plans
    stack.drain()
    # THEN exactly the quota went (the second page shrank to the 1 left), and the campaign says why it waits
    view = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert len(stack.sandbox.messages) == 3 and view["progress"]["planned"] == 3
    assert view["status"] == "paused_quota" and view["reason"]


def test_throughput_setting_paces_the_number(api, stack, message_body):
    # GIVEN a tenant that set its number to 2 messages per second
    status, _, _ = api.call("PUT", "/v1/settings", {"throughput_per_second": 2})
    assert status == 200
    assert api.call("PUT", "/v1/settings", {"throughput_per_second": 1001})[0] == 422
    api.approved_template()
    stack.deps.settings = stack.deps.settings.model_copy(update={"max_inline_wait_ms": 0})
    for i in range(4):
        api.post("/v1/messages", {**message_body, "to": f"+1415555000{i}"})
    # WHEN the sender runs once over its batch
    stack.drain(max_rounds=1)
    # THEN only the burst of 2 went out at once
    assert len(stack.sandbox.messages) == 2


def test_the_dispatcher_releases_a_minute_without_a_write_per_message_and_recovers_a_dead_run(api, stack, message_body):
    from datetime import UTC, datetime

    from wa_notify.services import dispatch

    # GIVEN 60 messages due in the same minute
    api.approved_template()
    at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    for i in range(60):
        api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}", "send_at": at.isoformat()})
    calls = []
    for client in (stack.deps.store.table.client, stack.deps.queues.client):
        client.meta.events.register("before-call.*.*", lambda event_name, **_: calls.append(event_name))
    # WHEN the minute's tick runs
    result = dispatch.run(stack.deps, at)
    # THEN all 60 are released with one claim and one query per shard, one batch read of the due
    # rows (DueIndex is KEYS_ONLY; 100 rows a read) and 6 batch sends
    assert result["promoted"] == 60
    assert len(calls) <= 2 * stack.deps.store.due_shards + 1 + 6 and len(calls) / 60 <= 0.3
    # AND a run that died after its claim (its jobs lost) is recovered by a later tick's sweep
    stack.sqs.purge_queue(QueueUrl=stack.deps.queues.lane_urls["high"])
    assert dispatch.run(stack.deps, at + timedelta(seconds=30)).get("promoted", 0) == 0
    later = dispatch.run(stack.deps, at + timedelta(minutes=3))
    assert later["recovered"] == 60
    stack.drain()
    assert len(stack.sandbox.received()) == 60


def test_the_sample_campaign_event_is_accepted_and_scheduled(api, stack):
    from tests.functional.conftest import load_event

    # GIVEN the sample campaign (its window moved to tomorrow: at most 30 days ahead) and one vip contact
    api.approved_template()
    add_contacts(api, ["+14155550001"])
    body = load_event("api/create_campaign.json")
    body["send_window"] = {"start": iso(stack.deps.now() + timedelta(days=1)), "end": iso(stack.deps.now() + timedelta(days=2))}
    # WHEN it is posted and planned
    status, created, _ = api.post("/v1/campaigns", body)
    stack.drain()
    # THEN its one message waits for the window
    assert status == 202, created
    view = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert view["status"] == "sending" and view["progress"]["planned"] == 1 and view["progress"]["queued"] == 1
