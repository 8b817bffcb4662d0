"""Analytics for platforms: per-template funnel and inbound activity, from counters kept as
messages move; and the EMF metrics per tenant, template and outcome."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.conftest import Api, load_event
from tests.functional.test_webhooks_and_statuses import post_webhook

TODAY = lambda: datetime.now(UTC).date().isoformat()  # noqa: E731 - the sandbox stamps statuses with the real clock


def send(api, stack, to, **overrides):
    body = {**load_event("api/create_message.json"), "to": to, **overrides}
    status, out, _ = api.post("/v1/messages", body)
    assert status == 202, out
    stack.drain()
    return api.message(out["id"])


@pytest.fixture
def traffic(api, stack):
    """Three sends of one template: two read (one replied to), one undeliverable (131026, async)."""
    api.approved_template()
    read_1 = send(api, stack, "+886912000001")
    read_2 = send(api, stack, "+886912000002")
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    failed = send(api, stack, "+886912000003")
    tap = {"from": "+886912000001", "button": {"payload": "Thanks", "text": "Thanks"}, "context_message_id": read_1["provider_message_id"]}
    assert stack.request("POST", "/_local/sandbox/inbound", body=tap)[0] == 202
    stack.request("POST", "/_local/sandbox/inbound", body={"from": "+886912000009", "text": "hello?"})
    stack.drain()
    return read_1, read_2, failed


def test_template_funnel_counts_each_message_once(api, stack, traffic):
    # GIVEN two messages read (one replied to) and one that failed as undeliverable
    read_1, read_2, failed = traffic
    assert (read_1["status"], read_2["status"], failed["status"]) == ("read", "read", "failed")
    # WHEN the platform asks for today's funnel
    status, report, _ = api.get(f"/v1/analytics/templates?from={TODAY()}&to={TODAY()}")
    # THEN the template has one row with each outcome counted once
    assert status == 200, report
    assert report["next"] is None and len(report["items"]) == 1
    row = report["items"][0]
    assert row["template"] == {"name": "order_shipped", "language": "en_US"}
    assert (row["sent"], row["delivered"], row["read"], row["failed"], row["replied"]) == (3, 2, 2, 1, 1)
    assert (row["delivery_rate"], row["read_rate"], row["failure_rate"]) == (0.6667, 0.6667, 0.3333)
    assert 0 <= row["median_time_to_read_seconds"] <= 60
    # AND a redelivered webhook (the same statuses again) changes nothing
    for record in stack.sandbox.webhook_log:
        post_webhook(stack, record["payload"])
    stack.drain()
    assert api.get(f"/v1/analytics/templates?from={TODAY()}&to={TODAY()}")[1]["items"][0] == row


def test_activity_is_inbound_by_weekday_and_hour(api, stack, traffic):
    # WHEN the platform asks for the inbound heatmap in UTC
    status, activity, _ = api.get("/v1/analytics/activity?timezone=UTC")
    # THEN both inbound messages sit in the current weekday x hour cell
    assert status == 200, activity
    now = datetime.now(UTC)
    assert activity["total"] == 2 and activity["weekdays"][0] == "Mon" and len(activity["counts"]) == 7
    assert activity["counts"][now.weekday()][now.hour] == 2 or activity["counts"][(now - timedelta(minutes=1)).weekday()][(now - timedelta(minutes=1)).hour] == 2
    # AND another time zone moves the cell by its offset
    shifted = api.get("/v1/analytics/activity?timezone=Asia/Kolkata")[1]
    local = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Kolkata"))
    assert shifted["total"] == 2 and shifted["counts"][local.weekday()][local.hour] in (0, 2)


def test_another_tenant_sees_none_of_it(api, stack, traffic):
    other = stack.create_tenant("other")
    other_api = Api(stack, other["api_key"])
    assert other_api.get("/v1/analytics/templates")[1]["items"] == []
    assert other_api.get("/v1/analytics/activity")[1]["total"] == 0


@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-11-02&to=2026-11-01", "from"),
    ("from=2020-01-01&to=2026-11-01", "from"),
])
def test_bad_ranges_are_422_naming_the_field(api, query, field):
    status, body, headers = api.get(f"/v1/analytics/templates?{query}")
    assert status == 422 and headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in body["errors"]] == [field]


def test_an_unknown_time_zone_is_422(api):
    for zone in ("Mars/Olympus", "../../etc/passwd"):
        status, body, _ = api.get(f"/v1/analytics/activity?timezone={zone}")
        assert status == 422 and body["errors"][0]["field"] == "timezone", body


def test_a_batch_of_sends_writes_one_counter_item(api, stack, monkeypatch):
    # GIVEN five messages of one template queued on the normal lane
    api.approved_template()
    writes = []
    original = stack.deps.store.analytics.add_counters
    monkeypatch.setattr(stack.deps.store.analytics, "add_counters", lambda *a, **k: (writes.append(a[1:3]), original(*a, **k))[1])
    stack.sandbox.configure({"auto_status": False})
    for i in range(5):
        assert api.post("/v1/messages", {**load_event("api/create_message.json"), "to": f"+88691200010{i}", "priority": "normal"})[0] == 202
    # WHEN the sender takes them in one batch
    stack.drain()
    # THEN the five `sent` counts went out in one write
    assert writes == [(TODAY(), ("order_shipped", "en_US"))]
    assert api.get("/v1/analytics/templates")[1]["items"][0]["sent"] == 5


def test_emf_metrics_per_tenant_template_and_outcome(api, stack, monkeypatch, capsys):
    # GIVEN metrics switched on as in Lambda
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    api.approved_template()
    capsys.readouterr()
    # WHEN a message is accepted, sent, delivered and read
    send(api, stack, "+886912000201")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    # THEN one EMF record per outcome after intake carries tenant, template and outcome as
    # dimensions; intake (one message an invocation) counts fleet-wide only: a second line a message
    per_outcome = {}
    for record in lines:
        metric_names = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
        if "Messages" in metric_names:
            assert ["service", "tenant", "template", "outcome"] == record["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][:4]
            per_outcome[record["outcome"]] = record
    assert set(per_outcome) == {"sent", "delivered", "read"}
    assert {r["tenant"] for r in per_outcome.values()} == {stack.dev_tenant["tenant_id"]}
    assert {r["template"] for r in per_outcome.values()} == {"order_shipped"}
    # AND the time to send is there too, and the fleet-wide counts the alarms use
    assert any("SendLatency" in r and r.get("template") == "order_shipped" for r in lines)
    fleet = {k for r in lines for k in r if k.startswith("Messages")}
    assert {"MessagesAccepted", "MessagesSent", "MessagesDelivered", "MessagesRead"} <= fleet


def test_a_failure_metric_carries_its_error_code(api, stack, monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    api.approved_template()
    stack.sandbox.configure({"faults": [{"code": 132001, "mode": "sync"}]})
    capsys.readouterr()
    send(api, stack, "+886912000301", template=copy.deepcopy(load_event("api/create_message.json")["template"]))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    failed = [r for r in records if r.get("outcome") == "failed"]
    assert len(failed) == 1 and failed[0]["error_code"] == "132001"
    assert any(r.get("MessagesFailed") in (1.0, [1.0]) for r in records)
