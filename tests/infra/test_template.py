"""template.yaml is the single source of truth: its configuration rules, each with a test."""

import re
import tomllib
from pathlib import Path

import pytest

from infra.local.provision import load_template, resources_of

ROOT = Path(__file__).parents[2]
T = load_template()
RES = T["Resources"]
FUNCTIONS = resources_of(T, "AWS::Serverless::Function")
QUEUES = resources_of(T, "AWS::SQS::Queue")
GLOBAL_TIMEOUT = T["Globals"]["Function"]["Timeout"]
pytestmark = pytest.mark.infra


def sqs_events():
    for fname, fn in FUNCTIONS.items():
        for ename, event in (fn["Properties"].get("Events") or {}).items():
            if event["Type"] == "SQS":
                yield fname, fn, ename, event["Properties"]


def test_every_consumed_queue_has_a_dlq_with_at_least_five_receives():
    consumed = {props["Queue"]["Fn::GetAtt"][0] for _, _, _, props in sqs_events()}
    assert consumed == {"SendQueueHigh", "SendQueueNormal", "SendQueueBulk", "EventsQueue", "CallbackQueue"}
    for name in consumed:
        redrive = QUEUES[name]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] >= 5, name
        assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in QUEUES


def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout():
    for fname, fn, _, props in sqs_events():
        timeout = fn["Properties"].get("Timeout", GLOBAL_TIMEOUT)
        queue = QUEUES[props["Queue"]["Fn::GetAtt"][0]]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * timeout, (fname, props["Queue"])


def test_sqs_events_report_batch_item_failures_and_cap_concurrency():
    events = list(sqs_events())
    assert len(events) == 5
    for fname, _, ename, props in events:
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], (fname, ename)
        assert 2 <= props["ScalingConfig"]["MaximumConcurrency"] <= 1000


def test_alert_lane_gets_more_pollers_than_bulk():
    lanes = {e: p["ScalingConfig"]["MaximumConcurrency"] for f, _, e, p in sqs_events() if f == "SenderFunction"}
    assert lanes["HighLane"] > lanes["NormalLane"] > lanes["BulkLane"]


def test_every_dlq_has_an_alarm():
    dlqs = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for q in QUEUES.values() if "RedrivePolicy" in q.get("Properties", {})}
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in resources_of(T, "AWS::CloudWatch::Alarm").values()
               if a["Properties"].get("Namespace") == "AWS/SQS"}
    assert dlqs <= alarmed


def test_least_privilege_no_wildcards_or_full_access():
    text = (ROOT / "template.yaml").read_text()
    assert "FullAccess" not in text and "DynamoDBCrudPolicy" not in text
    for fname, fn in FUNCTIONS.items():
        for policy in fn["Properties"].get("Policies", []):
            for statement in (policy.get("Statement", []) if isinstance(policy, dict) else []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), fname
                if "NotResource" in statement:  # only for direct SMS: every topic is excluded
                    assert actions == ["sns:Publish"] and statement["NotResource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}, fname
                    continue
                assert statement["Resource"] != "*", fname


def test_write_and_send_permissions_are_least_privilege():
    def actions(fname):
        out = set()
        for policy in FUNCTIONS[fname]["Properties"].get("Policies", []):
            for statement in (policy.get("Statement", []) if isinstance(policy, dict) else []):
                out |= set(statement["Action"])
            if isinstance(policy, dict) and "SQSSendMessagePolicy" in policy:
                out.add("sqs:SendMessage")
        return out

    assert "dynamodb:PutItem" not in actions("SenderFunction") | actions("DispatcherFunction") | actions("CallbackFunction")
    status_sends = {p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in FUNCTIONS["StatusFunction"]["Properties"]["Policies"]
                    if isinstance(p, dict) and "SQSSendMessagePolicy" in p}
    assert status_sends == {"CallbackQueue", "SendQueueHigh"}  # callbacks, and auto-replies on the high lane only


def test_every_function_has_a_log_group_with_retention():
    groups = [g["Properties"] for g in resources_of(T, "AWS::Logs::LogGroup").values()]
    for fname in FUNCTIONS:
        assert any(fname in g["LogGroupName"]["Fn::Sub"] and g["RetentionInDays"] for g in groups), fname


def test_handlers_resolve_to_files_and_functions_are_thin():
    for fname, fn in FUNCTIONS.items():
        module, handler = fn["Properties"]["Handler"].rsplit(".", 1)
        path = ROOT / fn["Properties"]["CodeUri"] / f"{module}.py"
        assert path.exists(), fname
        source = path.read_text()
        assert f"def {handler}(" in source
        assert "import boto3" not in source and "import httpx" not in source, f"{fname}: boto3/httpx belong in adapters"


def test_layer_is_built_by_sam_for_the_runtime():
    layer = RES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == T["Globals"]["Function"]["Runtime"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "wa_notify" / "__init__.py").exists()
    assert (ROOT / ".python-version").read_text().startswith("3.13")


def test_table_key_schema_indexes_ttl_and_protection():
    props = RES["Table"]["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {"DueIndex", "WamidIndex", "CampaignIndex"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] and props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    assert RES["Table"]["DeletionPolicy"] == "Retain"


def test_routes_are_the_contract_and_never_local():
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for fn in FUNCTIONS.values()
              for e in (fn["Properties"].get("Events") or {}).values() if e["Type"] == "HttpApi"}
    assert {("POST", "/v1/templates"), ("GET", "/v1/templates"), ("GET", "/v1/templates/{name}"), ("DELETE", "/v1/templates/{name}"),
            ("POST", "/v1/templates/{name}/preview"), ("POST", "/v1/messages"), ("GET", "/v1/messages/{id}"),
            ("DELETE", "/v1/messages/{id}"), ("GET", "/webhooks/whatsapp"), ("POST", "/webhooks/whatsapp"), ("GET", "/v1/health")} <= routes
    assert not any("_local" in path or "_sandbox" in path for _, path in routes)


def test_http_api_is_throttled_and_the_dispatcher_runs_every_minute():
    settings = RES["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0
    schedule = RES["DispatcherFunction"]["Properties"]["Events"]["EveryMinute"]
    assert schedule["Type"] == "ScheduleV2" and schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"


def test_secrets_are_not_in_plain_environment_variables():
    env = T["Globals"]["Function"]["Environment"]["Variables"]
    assert "META_SECRET_ARN" in env
    assert not {"META_ACCESS_TOKEN", "META_APP_SECRET"} & set(env)


def test_samconfig_has_dev_and_prod():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert "Stage=dev" in config["default"]["deploy"]["parameters"]["parameter_overrides"]
    assert "Stage=prod" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


def test_samconfig_holds_no_account_ids_or_secrets():
    text = (ROOT / "samconfig.toml").read_text()
    assert not re.search(r"\b\d{12}\b", text), "an AWS account id"
    assert "arn:aws" not in text and "s3_bucket" not in text  # resolve_s3 makes the artifact bucket per account
    assert not re.search(r"(?i)(token|secret|password|key)\s*=", text)
    config = tomllib.loads(text)
    assert config["prod"]["deploy"]["parameters"]["stack_name"] != config["default"]["deploy"]["parameters"]["stack_name"]


def test_every_alarm_notifies_the_alarm_topic():
    alarms = resources_of(T, "AWS::CloudWatch::Alarm")
    assert alarms and all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    assert RES["AlarmTopic"]["Properties"]["KmsMasterKeyId"]


def test_alarms_cover_dlqs_failure_rate_throttling_and_every_function():
    alarms = resources_of(T, "AWS::CloudWatch::Alarm").values()
    errors = {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["Properties"].get("MetricName") == "Errors"}
    assert errors == set(FUNCTIONS)
    rate = RES["FailureRateAlarm"]["Properties"]
    assert rate["Threshold"] == 0.1 and "100 * FILL(failed, 0)" in rate["Metrics"][2]["Expression"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m} == {"MessagesFailed", "MessagesSent"}
    assert RES["WhatsAppThrottlingAlarm"]["Properties"]["MetricName"] == "WhatsAppThrottled"
    assert RES["SenderThrottlesAlarm"]["Properties"]["Dimensions"][0]["Value"] == {"Ref": "SenderFunction"}


def test_dashboard_is_valid_json_and_shows_every_queue_function_and_alarm():
    import json

    body = RES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    assert len(widgets) >= 10
    for name in [*QUEUES, *FUNCTIONS]:
        assert "${" + name in body, name
    for name in resources_of(T, "AWS::CloudWatch::Alarm"):
        assert ":alarm:${" + name + "}" in body, name  # Ref is the alarm's name; moto's CloudFormation has no GetAtt for alarms
    assert "MetricName=\\\"Messages\\\"" in body  # per tenant, template and outcome


def test_data_at_rest_is_encrypted_and_http_access_is_logged():
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in QUEUES.values())
    assert RES["Table"]["Properties"]["SSESpecification"]["SSEEnabled"]
    access = RES["HttpApi"]["Properties"]["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in access["Format"] and "querystring" not in access["Format"].lower()
    assert RES["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_tenant_secrets_are_readable_only_under_the_stage_prefix():
    def secret_resources(fname):
        return [st["Resource"] for p in FUNCTIONS[fname]["Properties"].get("Policies", []) if isinstance(p, dict)
                for st in p.get("Statement", []) if "secretsmanager:GetSecretValue" in st["Action"]]

    for fname in ("ApiFunction", "SenderFunction"):
        assert secret_resources(fname) == [{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:wa-notify/${Stage}/tenants/*"}]
    for fname in ("WebhookFunction", "StatusFunction", "CallbackFunction", "DispatcherFunction"):
        assert secret_resources(fname) == [], fname
    assert T["Globals"]["Function"]["Environment"]["Variables"]["TENANT_SECRET_PREFIX"] == {"Fn::Sub": "wa-notify/${Stage}/tenants/"}


def test_sms_fallback_may_publish_sms_but_no_topic_and_only_where_it_runs():
    def publishers():
        return {fname for fname, fn in FUNCTIONS.items() for p in fn["Properties"].get("Policies", []) if isinstance(p, dict)
                for st in p.get("Statement", []) if "sns:Publish" in st["Action"]}

    assert publishers() == {"SenderFunction", "StatusFunction", "DispatcherFunction"}
