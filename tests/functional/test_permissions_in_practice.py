"""Least privilege that still works: every AWS call each function makes, on a day of real traffic
through the real handlers, is one its policy in template.yaml allows (action and resource).

`sam validate` and the infra tests check that the policies are narrow; only running the code
shows they are wide enough. A call outside its function's policy works under moto and fails
with AccessDenied in AWS (a campaign that never plans, a Cancel tap answered 503 for 7 days).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from infra.local import stack as stack_module
from infra.local.provision import load_template, resources_of
from tests.functional.test_callbacks import with_callbacks
from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, booking, tomorrow_at

TEMPLATE = load_template()
TRANSACTION_PARTS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _resource_name(value) -> str:
    """A policy resource as `Table`, `Table/index/DueIndex`, `SendQueueHigh`, `*`, or the text."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{(\w+)\.Arn\}", r"\1", text)
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    return str(value)


def granted() -> dict[str, set[tuple[str, str]]]:
    """Function -> {(action, resource)} its policies allow (`*` resource: any)."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for name, fn in resources_of(TEMPLATE, "AWS::Serverless::Function").items():
        for policy in fn["Properties"].get("Policies", []):
            if "SQSSendMessagePolicy" in policy:
                out[name].add(("sqs:SendMessage", _resource_name(policy["SQSSendMessagePolicy"]["QueueName"])))
            elif "AWSSecretsManagerGetSecretValuePolicy" in policy:
                out[name].add(("secretsmanager:GetSecretValue", "MetaSecret"))
            for statement in policy.get("Statement", []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = statement.get("Resource", "*")
                resources = resources if isinstance(resources, list) else [resources]
                if "NotResource" in statement:
                    resources = ["*"]  # sns:Publish to a phone number: every resource but topics
                for action in actions:
                    for resource in resources:
                        out[name].add((action, _resource_name(resource)))
    return out


@pytest.fixture
def calls(stack, monkeypatch):
    """(function, action, resource) of every AWS request made while a function runs."""
    current: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    queue_of = {url: logical for logical, url in stack.provisioned.refs.items() if str(url).startswith("http")}
    table_of = {stack.provisioned.refs["Table"]: "Table"}

    def record(model, params, **_):
        if not current:
            return  # the test's own setup and reads
        service, op = model.service_model.endpoint_prefix, model.name
        function = current[-1]
        if service == "dynamodb":
            if op == "TransactWriteItems":
                for item in params["TransactItems"]:
                    (part, body), = item.items()
                    seen.add((function, f"dynamodb:{TRANSACTION_PARTS[part]}", table_of.get(body["TableName"], body["TableName"])))
                return
            names = list(params.get("RequestItems", {})) or [params.get("TableName")]
            for table in names:
                resource = table_of.get(table, table)
                if params.get("IndexName"):
                    resource += f"/index/{params['IndexName']}"
                seen.add((function, f"dynamodb:{op}", resource))
        elif service == "sqs":
            action = "sqs:SendMessage" if op in ("SendMessage", "SendMessageBatch") else f"sqs:{op}"
            seen.add((function, action, queue_of.get(params.get("QueueUrl"), params.get("QueueUrl"))))
        elif service == "sns":
            seen.add((function, f"sns:{op}", "*"))
        else:
            seen.add((function, f"{service}:{op}", "*"))

    deps = stack.deps
    for client in (deps.store.table.client, deps.queues.client, deps.sms.client):
        client.meta.events.register("before-parameter-build.*.*", record)
    real_invoke = stack_module.LocalFunction.invoke

    def invoke(self, event):
        current.append(self.spec.logical_id)
        try:
            return real_invoke(self, event)
        finally:
            current.pop()

    monkeypatch.setattr(stack_module.LocalFunction, "invoke", invoke)
    for poller in stack.stream_pollers:  # it holds the bound method it was started with
        monkeypatch.setattr(poller, "invoke", lambda event, fn=stack.functions["CallbackFunction"]: invoke(fn, event))
    return seen


def allowed(action: str, resource: str, grants: set[tuple[str, str]]) -> bool:
    return any(a == action and (r in ("*", resource) or (r.endswith("/*") and resource.startswith(r[:-1]))) for a, r in grants)


def test_every_call_each_function_makes_is_one_its_policy_allows(api, stack, calls, message_body):
    # GIVEN a platform with a callback URL, templates, a clinic flow and contacts
    with_callbacks(api, stack)
    assert api.call("PUT", "/v1/settings", {"track_clicks": True})[0] == 200  # click tokens at intake, plans and campaign pages
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    api.approved_template()
    assert api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] in (200, 201)
    assert api.call("PUT", "/v1/settings", {"sms_fallback": {"enabled": True, "unread_minutes": {"order_shipped": 5}}})[0] == 200
    for i in range(3):
        assert api.call("PUT", f"/v1/contacts/+88691200070{i}", {"name": f"c{i}", "tags": ["vip"]})[0] == 200
    # WHEN a day of traffic runs: messages read, one undeliverable (SMS), a booking and its reminders,
    # a Cancel tap, a campaign planned and sent, the minute tick (reminders, the unread deadline), a
    # platform whose URL fails (the retry queue), a reschedule and a cancel by key
    api.post("/v1/messages", message_body)
    stack.sandbox.configure({"faults": [{"code": 131026, "mode": "async"}]})
    api.post("/v1/messages", {**message_body, "to": "+886912000799"})
    stack.drain()
    planned = api.post("/v1/events", booking(tomorrow_at(10)))[1]["messages"]
    stack.drain()
    confirmation = api.message(planned[0]["id"])
    tap = {"from": "+886912345678", "button": {"payload": "Cancel", "text": "Cancel"}, "context_message_id": confirmation["provider_message_id"]}
    assert stack.request("POST", "/_local/sandbox/inbound", body=tap)[0] == 202
    stack.request("POST", "/_local/sandbox/inbound", body={"from": "+886912000700", "text": "STOP"})
    campaign = {"template": "order_shipped", "language": "en_US", "segment": {"tag": "vip"},
                "params": message_body["params"], "button_params": message_body.get("button_params", {})}
    assert api.post("/v1/campaigns", campaign)[0] == 202, "campaign"
    assert api.post("/v1/campaigns", {**campaign, "segment": {"contacts": ["+886912000701", "+886912000702"]}})[0] == 202
    stack.callback_status = 503
    stack.drain()
    from datetime import UTC, datetime, timedelta

    stack.fire_scheduled(datetime.now(UTC) + timedelta(minutes=10))
    stack.drain()
    api.post("/v1/events", booking(tomorrow_at(11)))
    api.post("/v1/events", {**booking(tomorrow_at(11)), "type": "appointment.cancelled"})
    stack.fire_scheduled(datetime.now(UTC) + timedelta(days=1, hours=9))
    stack.drain()
    tracked = next(c["parameters"][0]["text"] for m in stack.sandbox.received() for c in m["request"].get("template", {}).get("components", [])
                   if c.get("sub_type") == "url")
    assert stack.request("GET", f"/r/{tracked}")[0] == 302  # a customer follows a tracked link
    stack.drain()
    # AND the platform reads back: messages by time and by recipient, a contact's timeline (issue 16)
    assert api.get("/v1/messages?status=read")[0] == api.get("/v1/messages?to=%2B886912345678")[0] == 200
    assert api.get("/v1/messages?status=failed")[0] == 200
    assert api.get("/v1/contacts/+886912345678/timeline")[0] == 200
    # AND a campaign waiting for its window is read (its progress) and cancelled (the high lane's
    # job): CampaignIndex gives the messages' keys, BatchGetItem their statuses (issue 14)
    window = {"start": (datetime.now(UTC) + timedelta(days=1)).isoformat(), "end": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    later = api.post("/v1/campaigns", {**campaign, "send_window": window})[1]["id"]
    stack.drain()
    assert api.get(f"/v1/campaigns/{later}")[1]["progress"]["queued"] >= 1
    assert api.delete(f"/v1/campaigns/{later}")[0] == 200
    stack.drain()
    # THEN each call is allowed by its function's policy
    grants = granted()
    refused = sorted((fn, action, resource) for fn, action, resource in calls if not allowed(action, resource, grants[fn]))
    assert refused == [], json.dumps(refused, indent=1)
    # AND the day did reach every function and the paths that matter (a test that saw nothing proves nothing)
    functions = {fn for fn, _, _ in calls}
    assert functions >= {"ApiFunction", "WebhookFunction", "SenderFunction", "CallbackFunction", "DispatcherFunction"}, functions
    assert ("CallbackFunction", "sns:Publish", "*") in calls
    assert any(fn == "SenderFunction" and action == "dynamodb:PutItem" for fn, action, _ in calls)  # a campaign page
    assert {("ApiFunction", "dynamodb:Query", "Table/index/TimeIndex"), ("ApiFunction", "dynamodb:Query", "Table/index/ContactIndex"),
            ("ApiFunction", "dynamodb:Query", "Table/index/FailedIndex")} <= set(calls)
    assert {("ApiFunction", "dynamodb:Query", "Table/index/CampaignIndex"), ("ApiFunction", "dynamodb:BatchGetItem", "Table"),
            ("SenderFunction", "dynamodb:Query", "Table/index/CampaignIndex"), ("SenderFunction", "dynamodb:BatchGetItem", "Table"),
            ("DispatcherFunction", "dynamodb:BatchGetItem", "Table")} <= set(calls)
