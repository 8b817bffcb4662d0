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


def stream_events():
    for fname, fn in FUNCTIONS.items():
        for ename, event in (fn["Properties"].get("Events") or {}).items():
            if event["Type"] == "DynamoDB":
                yield fname, ename, event["Properties"]


def failure_destinations():
    """The queues stream mappings park a batch's metadata in once their retries are spent."""
    return {props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0] for _, _, props in stream_events()}


def test_every_consumed_queue_has_a_dlq_with_at_least_five_receives():
    consumed = {props["Queue"]["Fn::GetAtt"][0] for _, _, _, props in sqs_events()}
    assert consumed == {"SendQueueHigh", "SendQueueNormal", "SendQueueBulk", "CallbackRetryQueue"}
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
    assert len(events) == 4
    for fname, _, ename, props in events:
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], (fname, ename)
        assert 2 <= props["ScalingConfig"]["MaximumConcurrency"] <= 1000


def test_alert_lane_gets_more_pollers_than_bulk():
    lanes = {e: p["ScalingConfig"]["MaximumConcurrency"] for f, _, e, p in sqs_events() if f == "SenderFunction"}
    assert lanes["HighLane"] > lanes["NormalLane"] > lanes["BulkLane"]


def test_every_dlq_and_stream_failure_queue_has_an_alarm_on_any_message():
    dlqs = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0] for q in QUEUES.values() if "RedrivePolicy" in q.get("Properties", {})}
    parked = dlqs | failure_destinations()
    assert parked == {"SendQueueHighDLQ", "SendQueueNormalDLQ", "SendQueueBulkDLQ", "CallbackDLQ", "StreamFailureQueue"}
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: a["Properties"] for a in resources_of(T, "AWS::CloudWatch::Alarm").values()
               if a["Properties"].get("Namespace") == "AWS/SQS"}
    assert parked <= set(alarmed)
    for name in parked:
        alarm = alarmed[name]
        assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold"), name
        props = QUEUES[name]["Properties"]
        assert props["MessageRetentionPeriod"] == 14 * 86400 and "RedrivePolicy" not in props, name  # 14 days to look, no further hop


def test_the_table_streams_both_images():
    # What a change owes (a status moved, an opt-out flipped) is the difference of the two images.
    assert RES["Table"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_stream_mapping_filters_reports_item_failures_bisects_and_gives_up_finitely():
    streams = list(stream_events())
    assert [(f, e) for f, e, _ in streams] == [("CallbackFunction", "Changes")]
    props = streams[0][2]
    # (the stack's table's stream, or a restored table's during a recovery: docs/runbook.md)
    assert props["Stream"]["Fn::If"][2] == {"Fn::GetAtt": ["Table", "StreamArn"]} and props["StartingPosition"] == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # resume at the first failed record, not the whole batch
    assert props["BisectBatchOnFunctionError"] is True
    # Finite (the defaults, -1, retry a poisoned record for the stream's whole 24 h and hold its shard)
    assert 0 <= props["MaximumRetryAttempts"] <= 100 and 60 <= props["MaximumRecordAgeInSeconds"] <= 86400
    assert props["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}}
    assert "RedrivePolicy" not in QUEUES["StreamFailureQueue"]["Properties"]  # OnFailure takes a standard queue: no FIFO
    assert props["ParallelizationFactor"] == 1 and props["BatchSize"] <= 1000
    patterns = [f["Pattern"] for f in props["FilterCriteria"]["Filters"]]
    assert patterns[:4] == [
        '{"dynamodb": {"Keys": {"sk": {"S": ["MSG"]}}, "NewImage": {"status": {"S": [{"anything-but": ["scheduled", "queued", "sending"]}]}}}}',
        '{"dynamodb": {"Keys": {"sk": {"S": ["MSG"]}}, "NewImage": {"clicked_at": {"S": [{"exists": true}]}}}}',  # click tracking
        '{"dynamodb": {"NewImage": {"handled_at": {"S": [{"exists": true}]}}}}',
        '{"dynamodb": {"NewImage": {"opt_source": {"S": [{"exists": true}]}}}}',
    ]  # then templates; erasure receipts carry handled_at  # tests/unit/test_stream_filters.py matches each against records
    # Lambda allows five filters per event source mapping by default (up to ten on request): a sixth fails the deploy.
    assert len(patterns) <= 5


def test_a_stream_batch_fits_the_callback_timeout():
    # A batch posts callbacks with a 5 s timeout each (a failing tenant's breaker sends the rest to the
    # retry queue), so the function needs room for several slow posts; the retry lane stays small.
    callback = FUNCTIONS["CallbackFunction"]["Properties"]
    assert callback["Timeout"] >= 60
    retries = callback["Events"]["Retries"]["Properties"]
    assert retries["Queue"] == {"Fn::GetAtt": ["CallbackRetryQueue", "Arn"]} and retries["ScalingConfig"]["MaximumConcurrency"] <= 10


def test_the_webhook_is_a_public_function_url_capped_by_reserved_concurrency():
    webhook = FUNCTIONS["WebhookFunction"]["Properties"]
    # Meta cannot SigV4-sign: AuthType NONE, and the function checks X-Hub-Signature-256 itself
    assert webhook["FunctionUrlConfig"]["AuthType"] == "NONE"
    # An unauthenticated URL must have a cost ceiling that cannot starve the other functions (429s are retried by Meta)
    assert 1 <= webhook["ReservedConcurrentExecutions"] <= 100
    assert webhook["Timeout"] <= 15  # Meta wants a quick 200
    # No API Gateway route any more: the function URL is the only way in
    assert not webhook.get("Events")
    assert T["Outputs"]["WebhookUrl"]["Value"] == {"Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}webhooks/whatsapp"}
    assert (ROOT / "functions/webhook/app.py").read_text().count("/webhooks/whatsapp") >= 1  # the only path the handler answers


def test_the_webhook_may_do_what_applying_statuses_and_inbound_messages_needs():
    statements = [st for p in FUNCTIONS["WebhookFunction"]["Properties"]["Policies"] if isinstance(p, dict) for st in p.get("Statement", [])]
    on_table = {a for st in statements if st.get("Resource") == {"Fn::GetAtt": ["Table", "Arn"]} for a in st["Action"]}
    # statuses (UpdateItem), inbound rows (PutItem), a "Cancel" tap: the plans Query, a BatchGetItem and Update transactions
    assert {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem"} <= on_table
    assert "dynamodb:DeleteItem" not in on_table and "dynamodb:Scan" not in on_table
    assert any(st.get("Resource") == {"Fn::Sub": "${Table.Arn}/index/WamidIndex"} and st["Action"] == ["dynamodb:Query"] for st in statements)


def test_the_events_queue_and_the_status_function_are_gone():
    text = (ROOT / "template.yaml").read_text()
    for name in ("EventsQueue", "StatusFunction", "StatusLogGroup", "EventsDLQ", "EVENTS_QUEUE_URL", "CALLBACK_QUEUE_URL", "CallbackQueue"):
        assert name not in text, name
    assert not (ROOT / "functions/status/app.py").exists()


def test_every_queue_variable_is_a_setting_the_code_reads():
    from wa_notify.config import Settings

    env = T["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CALLBACK_RETRY_QUEUE_URL"] == {"Ref": "CallbackRetryQueue"} and env["CALLBACK_DLQ_URL"] == {"Ref": "CallbackDLQ"}
    for name in env:
        if name.endswith("_URL"):
            assert name.lower() in Settings.model_fields, name
    queue_settings = {f for f in Settings.model_fields if f.endswith("_queue_url") or f.endswith("_dlq_url")}
    assert {name.lower() for name in env} >= queue_settings


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

    # Only the api, the webhook (inbound messages, auto-replies) and the sender (a campaign job plans
    # a page of messages) create items; the dispatcher and the stream consumer only update.
    assert "dynamodb:PutItem" not in actions("DispatcherFunction") | actions("CallbackFunction")
    assert "dynamodb:DeleteItem" not in actions("SenderFunction") | actions("DispatcherFunction") | actions("CallbackFunction")
    def sends(fname):
        return {p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in FUNCTIONS[fname]["Properties"]["Policies"]
                if isinstance(p, dict) and "SQSSendMessagePolicy" in p}

    # auto-replies on the high lane; a template's approval resumes its paused campaigns' planning on the bulk lane
    assert sends("WebhookFunction") == {"SendQueueHigh", "SendQueueBulk"}
    assert sends("CallbackFunction") == {"CallbackRetryQueue", "CallbackDLQ"}


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
    # layers/shared/Makefile builds it (issue 19: the pinned list with --no-deps, without the
    # runtime's boto3 stack), for the functions' runtime and architecture
    layer = RES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text().count("build-SharedLayer:") == 1
    assert layer["Properties"]["CompatibleRuntimes"] == [T["Globals"]["Function"]["Runtime"]] == ["python3.13"]
    assert layer["Metadata"]["BuildArchitecture"] == T["Globals"]["Function"]["Architectures"][0] == "arm64"
    assert (ROOT / layer["Properties"]["ContentUri"] / "wa_notify" / "__init__.py").exists()
    assert (ROOT / ".python-version").read_text().startswith("3.13")


def test_table_key_schema_indexes_ttl_and_protection():
    props = RES["Table"]["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"DueIndex", "WamidIndex", "CampaignIndex", "ContactIndex", "TimeIndex", "FailedIndex"}
    # Reading back's indexes are KEYS_ONLY: a status change (not a key) never writes them (issue 16)
    assert all(indexes[n]["Projection"] == {"ProjectionType": "KEYS_ONLY"} for n in ("ContactIndex", "TimeIndex", "FailedIndex"))
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] and props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    assert RES["Table"]["DeletionPolicy"] == "Retain"


def test_routes_are_the_contract_and_never_local():
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for fn in FUNCTIONS.values()
              for e in (fn["Properties"].get("Events") or {}).values() if e["Type"] == "HttpApi"}
    assert {("POST", "/v1/templates"), ("GET", "/v1/templates"), ("GET", "/v1/templates/{name}"), ("DELETE", "/v1/templates/{name}"),
            ("POST", "/v1/templates/{name}/preview"), ("POST", "/v1/messages"), ("GET", "/v1/messages/{id}"),
            ("DELETE", "/v1/messages/{id}"), ("GET", "/v1/health")} <= routes
    assert not any(path.startswith("/webhooks") for _, path in routes)  # Meta posts to the webhook's function URL
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
    # CloudWatch cannot publish to a topic on the AWS-managed key aws/sns (its policy cannot admit
    # cloudwatch.amazonaws.com): the customer's key when given (its policy admits CloudWatch), else none
    assert RES["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


def test_alarms_cover_dlqs_failure_rate_throttling_and_every_function():
    alarms = resources_of(T, "AWS::CloudWatch::Alarm").values()
    errors = {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["Properties"].get("MetricName") == "Errors"}
    assert errors == set(FUNCTIONS)
    rate = RES["FailureRateAlarm"]["Properties"]
    assert rate["Threshold"] == 0.1 and "100 * FILL(failed, 0)" in rate["Metrics"][2]["Expression"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m} == {"MessagesFailed", "MessagesSent"}
    assert RES["WhatsAppThrottlingAlarm"]["Properties"]["MetricName"] == "WhatsAppThrottled"
    assert RES["SenderThrottlesAlarm"]["Properties"]["Dimensions"][0]["Value"] == {"Ref": "SenderFunction"}


def test_alarms_watch_the_stream_lag_and_the_webhooks_that_failed_to_apply():
    alarms = resources_of(T, "AWS::CloudWatch::Alarm").values()
    lag = [a["Properties"] for a in alarms if a["Properties"].get("MetricName") == "IteratorAge"]
    assert len(lag) == 1 and lag[0]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "CallbackFunction"}}]
    assert lag[0]["Namespace"] == "AWS/Lambda" and lag[0]["Statistic"] == "Maximum" and 0 < lag[0]["Threshold"] <= 3_600_000
    failed = [a["Properties"] for a in alarms if a["Properties"].get("MetricName") == "WebhookFailed"]
    assert len(failed) == 1 and failed[0]["Namespace"] == T["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert failed[0]["Dimensions"] == [{"Name": "service", "Value": "wa-notify"}] and failed[0]["Statistic"] == "Sum"
    assert failed[0]["EvaluationPeriods"] == failed[0]["DatapointsToAlarm"] == 2 and failed[0]["Period"] == 300


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
    # The new paths: how far the stream consumer lags, and what the webhook's URL answered Meta
    metrics = {tuple(row[:4]) for w in json.loads(body)["widgets"] for row in w["properties"].get("metrics", []) if len(row) > 4}
    assert {("AWS/Lambda", "IteratorAge", "FunctionName", "${CallbackFunction}"),
            ("AWS/Lambda", "Url4xxCount", "FunctionName", "${WebhookFunction}"),
            ("AWS/Lambda", "Url5xxCount", "FunctionName", "${WebhookFunction}"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${CallbackRetryQueue.QueueName}"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${StreamFailureQueue.QueueName}")} <= metrics


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

    # The webhook reads a template again from Meta with the tenant's token (a template edited at Meta).
    for fname in ("ApiFunction", "SenderFunction", "WebhookFunction"):
        assert secret_resources(fname) == [{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:wa-notify/${Stage}/tenants/*"}]
    for fname in ("CallbackFunction", "DispatcherFunction"):
        assert secret_resources(fname) == [], fname
    assert T["Globals"]["Function"]["Environment"]["Variables"]["TENANT_SECRET_PREFIX"] == {"Fn::Sub": "wa-notify/${Stage}/tenants/"}


def test_sms_fallback_may_publish_sms_but_no_topic_and_only_where_it_runs():
    def publishers():
        return {fname for fname, fn in FUNCTIONS.items() for p in fn["Properties"].get("Policies", []) if isinstance(p, dict)
                for st in p.get("Statement", []) if "sns:Publish" in st["Action"]}

    # The stream sends an undeliverable message's SMS (CallbackFunction), the dispatcher an unread one's;
    # the sender only changes its message.
    assert publishers() == {"CallbackFunction", "DispatcherFunction"}
