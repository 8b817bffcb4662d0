"""The custom metrics template.yaml watches (alarms and the operations dashboard) are the ones the
functions emit: each outcome is driven through the real handlers and read back from their EMF
lines, with the namespace and dimensions CloudWatch matches on. A metric renamed on either side,
a dimension added to it or the namespace changed leaves an alarm on a metric nothing writes."""

import json
import re

from infra.local.provision import load_template, resources_of
from tests.functional.conftest import load_event

T = load_template()


def _alarmed():
    for alarm in resources_of(T, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [props] if "MetricName" in props else [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for m in stats:
            yield m["Namespace"], m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m.get("Dimensions", [])))


def _on_dashboard():
    body = T["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    previous: list = []
    for widget in json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            row = [r for r in row if not isinstance(r, dict)]
            if not row or row[0] == "...":
                continue
            row = [previous[i] if value == "." and i < len(previous) else value for i, value in enumerate(row)]  # "." repeats the row above
            previous = row
            yield row[0], row[1], tuple(sorted(zip(row[2::2], row[3::2], strict=True)))


def watched() -> set[tuple[str, str, tuple]]:
    return {m for m in (*_alarmed(), *_on_dashboard()) if not m[0].startswith("AWS/")}


def emitted(lines: list[str]) -> set[tuple[str, str, tuple]]:
    """(namespace, metric, dimensions with their values) as CloudWatch files each EMF metric."""
    found = set()
    for record in (json.loads(line) for line in lines if line.startswith('{"_aws"')):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((name, record[name]) for name in dimension_set))
                found |= {(directive["Namespace"], m["Name"], dims) for m in directive["Metrics"]}
    return found


def _throttled(*args, **kwargs):
    from botocore.exceptions import ClientError

    raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")


def test_every_watched_custom_metric_is_emitted_as_watched(api, stack, monkeypatch, capsys):
    # GIVEN metrics switched on as in Lambda, with the template's namespace and service name
    env = T["Globals"]["Function"]["Environment"]["Variables"]
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    watching = watched()
    assert {ns for ns, _, _ in watching} == {env["POWERTOOLS_METRICS_NAMESPACE"]}
    assert {"MessagesFailed", "MessagesSent", "WhatsAppThrottled"} <= {name for _, name, _ in watching}
    api.approved_template()
    message = load_event("api/create_message.json")
    capsys.readouterr()
    # WHEN a message is sent and read, one is refused by WhatsApp, one is throttled by WhatsApp,
    # and one waits for the number's own pace
    api.post("/v1/messages", {**message, "to": "+886912000401"})
    stack.drain()
    stack.sandbox.configure({"faults": [{"code": 132001, "mode": "sync"}]})
    api.post("/v1/messages", {**message, "to": "+886912000402"})
    stack.drain()
    stack.sandbox.configure({"faults": [{"code": 130429, "mode": "sync"}]})
    api.post("/v1/messages", {**message, "to": "+886912000403"})
    stack.drain(max_rounds=1)
    stack.sandbox.configure({"faults": [{"code": 368, "mode": "sync", "http_status": 403}]})  # Meta blocks the number
    api.post("/v1/messages", {**message, "to": "+886912000404"})
    stack.drain(max_rounds=1)
    from wa_notify.adapters.storage import keys

    lifted = keys.bucket(keys.number_scope(stack.dev_tenant["phone_number_id"]))  # the block lifts: the pace below is ours
    stack.deps.store.table.client.delete_item(TableName=stack.deps.store.table.name, Key={"pk": {"S": lifted.pk}, "sk": {"S": lifted.sk}})
    assert api.call("PUT", "/v1/settings", {"throughput_per_second": 1})[0] == 200
    stack.deps.settings = stack.deps.settings.model_copy(update={"max_inline_wait_ms": 0})
    for i in range(3):
        api.post("/v1/messages", {**message, "to": f"+88691200050{i}"})
    stack.drain(max_rounds=1)
    # AND a status webhook that our storage fails to apply (answered 503, for Meta to retry)
    real = stack.deps.store.messages.apply_status
    stack.deps.store.messages.apply_status = _throttled
    try:
        from tests.functional.test_webhooks_and_statuses import post_webhook, status_event

        assert post_webhook(stack, status_event(stack, "msg_aaaaaaaaaaaaaaaaaaaaaaaaaa", "wamid.x", [{"status": "read", "timestamp": "1"}]))[0] == 503
    finally:
        stack.deps.store.messages.apply_status = real
    # THEN every metric an alarm or the dashboard watches was written, under the namespace and
    # with exactly the dimensions (names and values) it is watched with
    out = emitted(capsys.readouterr().out.splitlines())
    assert watching - out == set()
