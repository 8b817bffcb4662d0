"""A cheap deploy rehearsal: SAM-translate the template and create the stack in moto's CloudFormation."""

import copy
import io
import json
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.local.provision import load_template

pytestmark = pytest.mark.infra
ROOT = Path(__file__).parents[2]


class NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs; the template uses none by name."""

    def load(self):
        return {}


def zipped(name: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def translated():
    """The template as CloudFormation receives it from `sam deploy` (SAM's own translator)."""
    from samtranslator.translator.transform import transform

    template = load_template()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://wa-notify-artifacts/code.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://wa-notify-artifacts/layer.zip"
    return transform(template, {}, NoManagedPolicies())


def for_moto(cfn: dict, *, stream_mapping: bool = True) -> dict:
    """What moto's CloudFormation can take. It skips AWS::Lambda::Url (warns, reports it created)
    and crashes on an output that reads `<Fn>Url.FunctionUrl` (AttributeError inside create_stack),
    so that output (WebhookUrl) is left out here; the translated template keeps it and
    test_the_webhook_url_is_public_through_the_url_only checks it there.
    Without `stream_mapping` the table's stream mapping is left out too: once one exists, moto
    invokes the function (through Docker) on every table write and then empties the stream, so a
    test that writes to the deployed table (or reads its stream) must not create it."""
    cfn = copy.deepcopy(cfn)
    cfn["Outputs"] = {k: v for k, v in cfn.get("Outputs", {}).items() if "Url.FunctionUrl" not in json.dumps(v)}
    if not stream_mapping:
        cfn["Resources"] = {k: v for k, v in cfn["Resources"].items() if not (
            v["Type"] == "AWS::Lambda::EventSourceMapping" and "StreamArn" in json.dumps(v["Properties"]["EventSourceArn"]))}
    return cfn


STACK = "wa-notify-rehearsal"


def deploy(cfn) -> dict[str, str]:
    """Create the stack in moto's CloudFormation (inside mock_aws) with artifacts in S3; its outputs."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="wa-notify-artifacts")
    s3.put_object(Bucket="wa-notify-artifacts", Key="code.zip", Body=zipped("app.py", "def lambda_handler(e, c):\n    return e\n"))
    s3.put_object(Bucket="wa-notify-artifacts", Key="layer.zip", Body=zipped("python/wa_notify/__init__.py", ""))
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(cfn), Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_template_translates_and_deploys_into_moto_cloudformation():
    # GIVEN the SAM template translated to CloudFormation, with artifacts in S3
    cfn = translated()
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::ApiGatewayV2::Api", "AWS::Scheduler::Schedule",
            "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Lambda::LayerVersion", "AWS::SNS::Topic", "AWS::CloudWatch::Dashboard",
            "AWS::Lambda::Url", "AWS::Lambda::Permission"} <= types
    mappings = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    # (the dispatcher, invoked asynchronously by its schedule, parks what fails in its DLQ, and may send
    # there; moto's CloudFormation drops DeadLetterConfig, so this is checked as CloudFormation gets it)
    dispatcher = cfn["Resources"]["DispatcherFunction"]["Properties"]
    assert dispatcher["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["DispatcherDLQ", "Arn"]}}
    assert "DispatcherDLQ" in json.dumps(cfn["Resources"]["DispatcherFunctionRole"]["Properties"]["Policies"])
    cfn = for_moto(cfn)
    with mock_aws():  # its own mock: nothing here writes to the table, so the stream mapping moto creates triggers nothing
        # WHEN the stack is created
        deploy(cfn)
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        # THEN it and every resource reach CREATE_COMPLETE
        resources = cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        incomplete = [(r["LogicalResourceId"], r["ResourceStatus"]) for r in resources if r["ResourceStatus"] != "CREATE_COMPLETE"]
        assert not incomplete
        assert len(resources) == len(cfn["Resources"])
        # AND the resources moto really emulates exist in their services, as declared
        assert len(boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]) == 1
        table = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=boto3.client(
            "dynamodb", region_name="us-east-1").list_tables()["TableNames"][0])["Table"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        # 3 lanes and their DLQs, the callback retry queue and its DLQ, the stream's failure queue, the dispatcher's DLQ
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_urls = sqs.list_queues()["QueueUrls"]
        assert len(queue_urls) == 10
        # AND without KmsKeyArn every queue is encrypted with SQS-managed keys, none with KMS (no KMS cost)
        for url in queue_urls:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert attributes.get("SqsManagedSseEnabled") == "true" and "KmsMasterKeyId" not in attributes, url
        lam = boto3.client("lambda", region_name="us-east-1")
        functions = lam.list_functions()["Functions"]
        assert len(functions) == 5 and {f["Runtime"] for f in functions} == {"python3.13"}
        esms = lam.list_event_source_mappings()["EventSourceMappings"]
        assert len(esms) == 5 and all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in esms)
        stream = [m for m in esms if m["EventSourceArn"] == table["LatestStreamArn"]]
        assert len(stream) == 1 and len(stream[0]["FilterCriteria"]["Filters"]) == 5
        assert "StreamFailureQueue" in stream[0]["DestinationConfig"]["OnFailure"]["Destination"]
        groups = boto3.client("logs", region_name="us-east-1").describe_log_groups()["logGroups"]
        assert len(groups) == 6 and all(g["retentionInDays"] == 30 for g in groups)  # 5 functions and the API's access log
        assert not [g for g in groups if g.get("kmsKeyId")]  # no KmsKeyArn: CloudWatch Logs' own encryption
        assert len(boto3.client("sns", region_name="us-east-1").list_topics()["Topics"]) == 1
        assert not boto3.client("sns", region_name="us-east-1").list_subscriptions()["Subscriptions"]  # no AlarmEmail, no subscription


def http_event(method: str, path: str, key: str, body=None) -> dict:
    event = json.loads((ROOT / "events/api/http_request.json").read_text())
    event.update({"routeKey": f"{method} {path}", "rawPath": path, "body": json.dumps(body) if body is not None else None,
                  "headers": {"content-type": "application/json", "authorization": f"Bearer {key}"}})
    event["requestContext"]["http"].update({"method": method, "path": path})
    return event


def test_the_stacks_outputs_drive_a_smoke_test(monkeypatch):
    """What the README's deploy section does after `sam deploy`, against the stack's own outputs:
    the admin CLI finds the table and the secret prefix from the stack name alone, and the real
    API handler, configured as the template configures it, serves the new tenant."""
    from wa_notify import admin
    from wa_notify.config import get_settings
    from wa_notify.services import deps as deps_module
    from wa_notify.services import tenants

    from functions.api import app as api_app
    from infra.local.stack import LambdaContext

    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        # (no stream mapping: this test writes to the table, and moto would invoke the function on each write)
        outputs = deploy(for_moto(translated(), stream_mapping=False))
        # GIVEN the stack's outputs
        # (MetaSecretArn too in AWS: moto only pretends to create the secret, so it drops that output;
        # WebhookUrl too: moto cannot create function URLs, see for_moto)
        assert {"ApiUrl", "TableName", "TenantSecretPrefix", "AlarmTopicArn", "DashboardUrl",
                "PlatformDashboardUrl"} <= set(outputs)
        assert outputs["TenantSecretPrefix"] == "wa-notify/dev/tenants/"
        # WHEN an operator onboards a platform with the stack name only
        monkeypatch.setattr("sys.stdin", io.StringIO("EAAG-smoke\n"))
        printed = io.StringIO()
        assert admin.main(["--stack", STACK, "tenants", "create", "--name", "Smoke clinic", "--phone-number-id", "100200300",
                           "--waba-id", "400500600", "--access-token-stdin"], out=printed) == 0
        tenant = json.loads(printed.getvalue())
        # THEN the tenant is in the deployed table and its token in the secret under the stack's prefix
        secret = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=outputs["TenantSecretPrefix"] + tenant["tenant_id"])
        assert json.loads(secret["SecretString"])["access_token"] == "EAAG-smoke"
        # AND the API function, configured from the stack, serves it
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                    boto3.client("cloudformation", region_name="us-east-1").list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
        env = {"TABLE_NAME": outputs["TableName"], "TENANT_SECRET_PREFIX": outputs["TenantSecretPrefix"],
               "SEND_QUEUE_HIGH_URL": physical["SendQueueHigh"], "SEND_QUEUE_NORMAL_URL": physical["SendQueueNormal"],
               "SEND_QUEUE_BULK_URL": physical["SendQueueBulk"], "CALLBACK_RETRY_QUEUE_URL": physical["CallbackRetryQueue"],
               "CALLBACK_DLQ_URL": physical["CallbackDLQ"],
               "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        tenants.clear_key_cache()
        deps_module.set_deps(deps_module.Deps(get_settings()))
        try:
            def call(method, path, body=None):
                response = api_app.lambda_handler(http_event(method, path, tenant["api_key"], body), LambdaContext("ApiFunction", 10))
                return response["statusCode"], json.loads(response["body"])

            assert call("GET", "/v1/settings")[0] == 200
            assert call("PUT", "/v1/contacts/+886912345678", {"name": "Ana", "locale": "zh_TW"})[0] == 200
            assert call("GET", "/v1/contacts/+886912345678")[1]["name"] == "Ana"
            status, problem = call("POST", "/v1/messages", {"to": "+886912345678", "template": {"name": "nope", "language": "en_US"}})
            assert status == 422 and problem["errors"][0]["field"].startswith("template")
            assert admin.main(["--stack", STACK, "tenants", "list"], out=(listed := io.StringIO())) == 0
            assert [t["name"] for t in json.loads(listed.getvalue())] == ["Smoke clinic"]
        finally:
            deps_module.set_deps(None)
            get_settings.cache_clear()
            tenants.clear_key_cache()


def test_what_moto_cloudformation_only_pretends_to_create_is_known():
    """moto marks these CREATE_COMPLETE without creating them (it warns); `sam validate --lint`
    and cfn-lint are what check them. If moto learns one, this test says so."""
    import warnings

    cfn = for_moto(translated())
    with mock_aws(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="wa-notify-artifacts")
        s3.put_object(Bucket="wa-notify-artifacts", Key="code.zip", Body=zipped("app.py", ""))
        s3.put_object(Bucket="wa-notify-artifacts", Key="layer.zip", Body=zipped("python/x.py", ""))
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="s", TemplateBody=json.dumps(cfn), Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    pretended = {str(w.message).split("parse ")[1].split(" but")[0] for w in caught if "not supported by moto" in str(w.message)}
    assert pretended == {"AWS::SecretsManager::Secret", "AWS::CloudWatch::Alarm", "AWS::ApiGatewayV2::Api",
                         "AWS::ApiGatewayV2::Stage", "AWS::Scheduler::Schedule", "AWS::Lambda::Url"}


def test_the_webhook_url_is_public_through_the_url_only():
    """What SAM makes of `FunctionUrlConfig: {AuthType: NONE}` (the template as CloudFormation gets it):
    the URL, InvokeFunctionUrl for anyone on a NONE-auth URL, and InvokeFunction for anyone only when
    the call came through the URL. An unconditional public InvokeFunction would open the Invoke API."""
    # GIVEN the translated template
    resources = translated()["Resources"]
    # WHEN its function URLs and resource policies are read
    urls = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Lambda::Url"}
    public = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*"}
    # THEN the webhook, and only it, has a URL, with no authentication (the function checks Meta's signature)
    assert urls == {"WebhookFunctionUrl": {"TargetFunctionArn": {"Ref": "WebhookFunction"}, "AuthType": "NONE"}}
    # AND every public grant is for the webhook and tied to its URL
    assert public and all(p["FunctionName"] == {"Ref": "WebhookFunction"} for p in public.values())
    assert {p["Action"] for p in public.values()} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    for name, grant in public.items():
        if grant["Action"] == "lambda:InvokeFunction":
            assert grant.get("InvokedViaFunctionUrl") is True, name
        else:
            assert grant.get("FunctionUrlAuthType") == "NONE", name
    # AND the webhook keeps its concurrency cap and gets no API Gateway permission
    webhook = resources["WebhookFunction"]["Properties"]
    assert webhook["ReservedConcurrentExecutions"] >= 1
    assert not [n for n, r in resources.items() if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] != "*"
                and r["Properties"]["FunctionName"] == {"Ref": "WebhookFunction"}]
    assert translated()["Outputs"]["WebhookUrl"]["Value"] == {"Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}webhooks/whatsapp"}


def test_the_stream_mapping_reaches_cloudformation_with_its_failure_path():
    # GIVEN the translated template
    resources = translated()["Resources"]
    # WHEN the callback function's stream mapping and role are read
    mapping = resources["CallbackFunctionChanges"]["Properties"]
    role = resources["CallbackFunctionRole"]["Properties"]
    # THEN the mapping carries the filters, bisect, item failures and finite retries
    # (the stack's table's stream, or a restored table's during a recovery: docs/runbook.md)
    assert mapping["EventSourceArn"] == {"Fn::If": ["UsesRestoredTable", {"Ref": "RestoredTableStreamArn"}, {"Fn::GetAtt": ["Table", "StreamArn"]}]}
    assert len(mapping["FilterCriteria"]["Filters"]) == 5
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] >= 0 and mapping["MaximumRecordAgeInSeconds"] > 0
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["StreamFailureQueue", "Arn"]}}}
    # AND the role may read the stream (SAM's managed policy) and send to the failure queue (SAM's inline policy)
    assert any("AWSLambdaDynamoDBExecutionRole" in str(arn) for arn in role["ManagedPolicyArns"])
    sqs_policy = next(p for p in role["Policies"] if p["PolicyName"] == "CallbackFunctionChangesSQSPolicy")
    assert "sqs:SendMessage" in json.dumps(sqs_policy) and "StreamFailureQueue" in json.dumps(sqs_policy)
