"""A cheap deploy rehearsal: SAM-translate the template and create the stack in moto's CloudFormation."""

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from infra.local.provision import load_template

pytestmark = pytest.mark.infra


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
    from samtranslator.translator.transform import transform

    template = load_template()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://wa-notify-artifacts/code.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://wa-notify-artifacts/layer.zip"
    return transform(template, {}, NoManagedPolicies())


def test_template_translates_and_deploys_into_moto_cloudformation():
    # GIVEN the SAM template translated to CloudFormation, with artifacts in S3
    cfn = translated()
    types = {r["Type"] for r in cfn["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping", "AWS::ApiGatewayV2::Api", "AWS::Scheduler::Schedule",
            "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Lambda::LayerVersion"} <= types
    mappings = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="wa-notify-artifacts")
        s3.put_object(Bucket="wa-notify-artifacts", Key="code.zip", Body=zipped("app.py", "def lambda_handler(e, c):\n    return e\n"))
        s3.put_object(Bucket="wa-notify-artifacts", Key="layer.zip", Body=zipped("python/wa_notify/__init__.py", ""))
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        # WHEN the stack is created
        cloudformation.create_stack(StackName="wa-notify-rehearsal", TemplateBody=json.dumps(cfn),
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        # THEN it and every resource reach CREATE_COMPLETE
        stack = cloudformation.describe_stacks(StackName="wa-notify-rehearsal")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        resources = cloudformation.list_stack_resources(StackName="wa-notify-rehearsal")["StackResourceSummaries"]
        incomplete = [(r["LogicalResourceId"], r["ResourceStatus"]) for r in resources if r["ResourceStatus"] != "CREATE_COMPLETE"]
        assert not incomplete
        assert len(resources) == len(cfn["Resources"])
        # AND the resources moto really emulates exist in their services, as declared
        assert len(boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]) == 1
        assert len(boto3.client("sqs", region_name="us-east-1").list_queues()["QueueUrls"]) == 10
        lam = boto3.client("lambda", region_name="us-east-1")
        functions = lam.list_functions()["Functions"]
        assert len(functions) == 6 and {f["Runtime"] for f in functions} == {"python3.13"}
        esms = lam.list_event_source_mappings()["EventSourceMappings"]
        assert len(esms) == 5 and all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in esms)
        assert len(boto3.client("logs", region_name="us-east-1").describe_log_groups()["logGroups"]) == 6


def test_what_moto_cloudformation_only_pretends_to_create_is_known():
    """moto marks these CREATE_COMPLETE without creating them (it warns); `sam validate --lint`
    and cfn-lint are what check them. If moto learns one, this test says so."""
    import warnings

    cfn = translated()
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
                         "AWS::ApiGatewayV2::Stage", "AWS::Scheduler::Schedule"}
