"""Outcome metrics cost one EMF line per tenant, template and outcome per invocation (issue 14's
log bill), and the statuses only a webhook tells are counted where the stream follows them."""

import json

from wa_notify.domain import changes
from wa_notify.observability import metrics, record_outcome


def emf_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_batch_of_outcomes_is_one_line_per_dimension_set(monkeypatch, capsys):
    # GIVEN metrics on, as in Lambda, and a handler that sends ten messages of one template, one refused
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    @metrics.log_metrics
    def handler(event, context):
        for i in range(10):
            record_outcome("ten_1", "order_shipped", "sent", latency_ms=100.0 + i)
        record_outcome("ten_1", "order_shipped", "failed", code=131026)

    capsys.readouterr()
    # WHEN it runs once
    handler({}, None)
    lines = emf_lines(capsys.readouterr().out)
    # THEN three lines: the fleet counts carrying the first outcome set, the refusal's, the latencies
    assert len(lines) == 3
    sent = [r for r in lines if r.get("outcome") == "sent"]
    assert len(sent) == 1 and sent[0]["Messages"] == [10.0] and sent[0]["MessagesSent"] == [1.0] * 10
    assert sent[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "tenant", "template", "outcome"]]
    failed = [r for r in lines if r.get("outcome") == "failed"]
    assert failed[0]["error_code"] == "131026" and failed[0]["Messages"] == [1.0]
    latency = [r for r in lines if "tenant" in r and "outcome" not in r]
    assert latency[0]["SendLatency"] == [100.0 + i for i in range(10)]
    # AND nothing is left for the next invocation
    handler({}, None)
    assert [r.get("Messages") for r in emf_lines(capsys.readouterr().out) if r.get("outcome") == "sent"] == [[10.0]]


def test_the_stream_counts_what_only_a_webhook_tells():
    template = {"name": "order_shipped", "language": "en_US"}

    def moved(before, now, **new):
        return changes.message_change("ten_1", {"status": before}, {"id": "msg_1", "status": now, "template": template,
                                                                     "events": {now: "2026-12-01T00:00:00Z", **new.pop("events", {})}, **new}).outcomes

    # GIVEN / WHEN forward moves a status webhook makes / THEN each outcome is counted once, here
    assert moved("accepted", "delivered") == [("order_shipped", "delivered", None)]
    assert moved("delivered", "read") == [("order_shipped", "read", None)]
    assert moved("accepted", "failed", wamid="wamid.1", error={"code": 131047}) == [("order_shipped", "failed", 131047)]
    # AND a sent after the sender's acceptance is not (the sender counted it), one before it is
    assert moved("accepted", "sent", events={"accepted": "t"}) == []
    assert moved("sending", "sent") == [("order_shipped", "sent", None)]
    # AND the sender's own acceptance and refusal are not counted twice (the sender counts them)
    assert moved("sending", "accepted") == []
    assert moved("sending", "failed", error={"code": 132001}) == []
    # AND a status that does not move the message forward counts nothing
    assert moved("read", "delivered") == []
