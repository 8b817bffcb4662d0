"""template.yaml's security posture (issue 17): what checkov checks, what we follow, and why we skip
the rest. `make lint` runs checkov itself; these tests hold the rules it cannot express: sizes,
the async failure path, and that the optional KMS key and restored table change nothing by default."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.local.provision import evaluate_conditions, load_template, resources_of

ROOT = Path(__file__).parents[2]
T = load_template()
RES = T["Resources"]
FUNCTIONS = resources_of(T, "AWS::Serverless::Function")
CHECKOV = ROOT / ".venv-checkov/bin/checkov"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
NO_VALUE = {"Ref": "AWS::NoValue"}
# Lambda's default concurrency quota per account and Region, and the share it keeps unreserved.
ACCOUNT_CONCURRENCY, UNRESERVED_MINIMUM = 1000, 100
# Event sources that invoke a function asynchronously: only these ever reach a Lambda DLQ.
ASYNC_EVENTS = {"Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "SNS", "S3", "SES", "IoTRule", "CloudWatchLogs"}
pytestmark = pytest.mark.infra


def deployed_with(**parameters: str) -> dict:
    """The template's resources as CloudFormation resolves its conditions for these parameters
    (the rest at their defaults): every Fn::If chosen, AWS::NoValue dropped."""
    values = {name: str(p.get("Default", "")) for name, p in T["Parameters"].items()} | parameters
    conditions = evaluate_conditions(T, values)

    def chosen(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return chosen(when_true if conditions[name] else when_false)
            return {k: c for k, v in node.items() if (c := chosen(v)) != NO_VALUE}
        if isinstance(node, list):
            return [c for v in node if (c := chosen(v)) != NO_VALUE]
        return node

    return {name: chosen(r) for name, r in RES.items() if "Condition" not in r or conditions[r["Condition"]]}


def skips(resource: dict) -> list[dict]:
    return ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    if not CHECKOV.exists():
        if os.environ.get("REQUIRE_CHECKOV"):  # .ci/run: make test has run make lint, which creates the venv
            pytest.fail("no .venv-checkov although REQUIRE_CHECKOV is set: make lint creates it")
        pytest.skip("no .venv-checkov: `make checkov` creates it (make lint, make infra and make test do)")
    result = subprocess.run([str(CHECKOV), "--skip-download", "--framework", "cloudformation", "-f", "template.yaml", "-o", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_is_pinned_with_hashes_in_a_lock_of_its_own():
    # GIVEN requirements-checkov.in and the lock make lock compiles from it
    wanted = (ROOT / "requirements-checkov.in").read_text()
    lock = (ROOT / "requirements-checkov.lock").read_text()
    pinned = [line.split()[0] for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    # THEN the lock pins checkov at the version asked for, and every package with its hashes
    (version,) = [line for line in wanted.splitlines() if line.startswith("checkov==")]
    assert version in pinned and all("==" in p for p in pinned)
    assert lock.count("--hash=sha256:") >= len(pinned)
    # AND the project's own lock stays free of it (its boto3/botocore pins are not ours)
    assert "checkov" not in (ROOT / "requirements-dev.lock").read_text()


def test_checkov_finds_no_failed_check_and_every_skip_names_its_reason(checkov_report):
    # GIVEN checkov's report on template.yaml (what make lint runs)
    summary = checkov_report["summary"]
    failed = [(r["check_id"], r["resource"]) for r in checkov_report["results"].get("failed_checks", [])]
    # THEN nothing failed and the template parsed
    assert summary["failed"] == 0 and failed == []
    assert summary["parsing_errors"] == 0 and summary["passed"] >= 50
    # AND every skip checkov honoured carries the reason written next to it
    skipped = checkov_report["results"].get("skipped_checks", [])
    assert len(skipped) == summary["skipped"] > 0
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment) >= 40 and comment != "No comment provided", (check["check_id"], check["resource"])


def test_every_skip_in_the_template_names_its_reason_and_only_decided_checks_are_skipped():
    # GIVEN every checkov skip in the template's resource Metadata
    all_skips = [(name, s) for name, r in RES.items() for s in skips(r)]
    # THEN each has an id and a reason of its own
    assert all_skips
    for name, skip in all_skips:
        assert skip["id"].startswith("CKV_") and len(str(skip.get("comment", "")).strip()) >= 40, (name, skip)
    # AND the only checks skipped are the ones decided in docs/decisions.md (no VPC; the environment
    # holds no secret; a DLQ for a function nothing invokes asynchronously; the alarm topic off aws/sns)
    assert {s["id"] for _, s in all_skips} == {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173", "CKV_AWS_26"}
    assert {name for name, _ in all_skips} <= {*FUNCTIONS, "AlarmTopic"}
    assert {name for name, s in all_skips if s["id"] == "CKV_AWS_26"} == {"AlarmTopic"}


def test_a_dlq_is_skipped_only_where_nothing_invokes_asynchronously_and_async_failures_are_parked_and_alarmed():
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in resources_of(T, "AWS::CloudWatch::Alarm").values()
               if a["Properties"].get("Namespace") == "AWS/SQS" and a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
               and a["Properties"]["Threshold"] == 0}
    asynchronous = set()
    for name, fn in FUNCTIONS.items():
        # GIVEN how each function is invoked
        kinds = {e["Type"] for e in (fn["Properties"].get("Events") or {}).values()}
        skipped_dlq = any(s["id"] == "CKV_AWS_116" for s in skips(fn))
        if kinds & ASYNC_EVENTS:
            asynchronous.add(name)
            # THEN an asynchronously invoked function has a DLQ, kept 14 days and alarmed on any message
            dlq = fn["Properties"]["DeadLetterQueue"]
            assert dlq["Type"] == "SQS" and not skipped_dlq, name
            queue = dlq["TargetArn"]["Fn::GetAtt"][0]
            assert queue in alarmed, name
            assert RES[queue]["Properties"]["MessageRetentionPeriod"] == 14 * 86400, name
        else:
            # AND the others (HTTP API, function URL, event source mappings) skip the check with its reason
            assert skipped_dlq and "DeadLetterQueue" not in fn["Properties"], name
    assert asynchronous == {"DispatcherFunction"}  # EventBridge Scheduler's every-minute tick


def test_reserved_concurrency_is_sized_per_function_and_leaves_the_account_room():
    # GIVEN each function's reserved concurrency
    reserved = {name: fn["Properties"].get("ReservedConcurrentExecutions") for name, fn in FUNCTIONS.items()}
    # THEN every function has one
    assert all(isinstance(v, int) and v >= 1 for v in reserved.values()), reserved
    # AND together they stay well under the default account quota, leaving the 100 Lambda keeps unreserved
    assert sum(reserved.values()) <= (ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM) // 3
    # AND a function fed by SQS pollers reserves at least what its pollers may run at once (else Lambda
    # throttles its own pollers), plus one per stream shard for the callback function
    for name, fn in FUNCTIONS.items():
        pollers = sum(e["Properties"]["ScalingConfig"]["MaximumConcurrency"] for e in (fn["Properties"].get("Events") or {}).values()
                      if e["Type"] == "SQS")
        streams = sum(1 for e in (fn["Properties"].get("Events") or {}).values() if e["Type"] == "DynamoDB")
        assert reserved[name] >= pollers + (10 if streams else 0), name
    # AND the dispatcher, one tick a minute, cannot pile up sweeps
    assert reserved["DispatcherFunction"] <= 2


def test_without_a_kms_key_encryption_at_rest_is_what_it_was():
    # GIVEN the stack deployed with its defaults (no KmsKeyArn)
    res = deployed_with()
    # THEN every queue has SQS-managed encryption and no KMS key (no KMS requests to pay for)
    queues = {n: r["Properties"] for n, r in res.items() if r["Type"] == "AWS::SQS::Queue"}
    assert len(queues) == 10
    assert all(p["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in p for p in queues.values()), queues
    # AND the table keeps DynamoDB's AWS-managed key, the secret Secrets Manager's, the logs CloudWatch's
    assert res["Table"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert "KmsKeyId" not in res["MetaSecret"]["Properties"]
    groups = [r["Properties"] for r in res.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) == 6 and not [g for g in groups if "KmsKeyId" in g]
    # AND no policy for a key exists, and the alarm topic is on no key (alarms cannot publish to one on aws/sns)
    assert "KmsKeyUsePolicy" not in res
    assert "KmsMasterKeyId" not in res["AlarmTopic"]["Properties"]


def test_with_a_kms_key_the_table_secret_queues_and_logs_use_it_and_every_function_may():
    # GIVEN the stack deployed with the customer's key
    res = deployed_with(KmsKeyArn=KEY)
    key = {"Ref": "KmsKeyArn"}
    # THEN every queue uses it (and not SQS-managed encryption: one or the other)
    queues = [r["Properties"] for r in res.values() if r["Type"] == "AWS::SQS::Queue"]
    assert all(p["KmsMasterKeyId"] == key and "SqsManagedSseEnabled" not in p for p in queues)
    # AND the table, the secret and every log group
    assert res["Table"]["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}
    assert res["MetaSecret"]["Properties"]["KmsKeyId"] == key
    assert all(r["Properties"]["KmsKeyId"] == key for r in res.values() if r["Type"] == "AWS::Logs::LogGroup")
    assert res["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == key
    # AND every function's role may use that key, and only that key
    policy = res["KmsKeyUsePolicy"]["Properties"]
    assert {role["Ref"] for role in policy["Roles"]} == {f"{name}Role" for name in FUNCTIONS}
    statements = policy["PolicyDocument"]["Statement"]
    assert [s["Resource"] for s in statements] == [key]
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(statements[0]["Action"])


def test_the_key_parameter_accepts_a_key_arn_or_nothing():
    import re

    pattern = re.compile(T["Parameters"]["KmsKeyArn"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(KEY)
    # an alias cannot be the Resource of an IAM statement nor a log group's key
    assert not pattern.fullmatch("alias/wa-notify") and not pattern.fullmatch("arn:aws:kms:eu-west-1:123456789012:alias/wa-notify")


def table_actions_granted(res: dict) -> set[str]:
    return {a for fn in FUNCTIONS for p in res[fn]["Properties"].get("Policies", []) if isinstance(p, dict)
            for s in p.get("Statement", []) for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            if a.startswith("dynamodb:")}


def test_by_default_the_functions_use_the_stacks_table():
    # GIVEN the stack deployed with its defaults
    res = deployed_with()
    env = T["Globals"]["Function"]["Environment"]["Variables"]
    # THEN the table's name, its stream and the output are the stack's table, and no extra grant exists
    assert env["TABLE_NAME"]["Fn::If"][2] == {"Ref": "Table"}
    assert res["CallbackFunction"]["Properties"]["Events"]["Changes"]["Properties"]["Stream"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert "RestoredTableAccessPolicy" not in res


def test_during_a_recovery_the_functions_use_the_restored_table_and_its_stream():
    # GIVEN the stack pointed at a restored table (docs/runbook.md)
    res = deployed_with(RestoredTableName="wa-notify-prod-restored", RestoredTableStreamArn="arn:aws:dynamodb:eu-west-1:1:table/x/stream/1")
    # THEN every function's TABLE_NAME names the restored table
    env = T["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Fn::If": ["UsesRestoredTable", {"Ref": "RestoredTableName"}, {"Ref": "Table"}]}
    # AND the stream mapping follows the restored table's stream
    assert res["CallbackFunction"]["Properties"]["Events"]["Changes"]["Properties"]["Stream"] == {"Ref": "RestoredTableStreamArn"}
    # AND every function may do on it what it may do on the stack's table, on it and its indexes
    policy = res["RestoredTableAccessPolicy"]["Properties"]
    assert {role["Ref"] for role in policy["Roles"]} == {f"{name}Role" for name in FUNCTIONS}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == table_actions_granted(res)
    assert [r["Fn::Sub"] for r in statement["Resource"]] == [
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${RestoredTableName}",
        "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${RestoredTableName}/index/*"]
    # AND the TableName output names it (python -m wa_notify.admin reads the output)
    assert T["Outputs"]["TableName"]["Value"] == {"Fn::If": ["UsesRestoredTable", {"Ref": "RestoredTableName"}, {"Ref": "Table"}]}


def rehearsed_deploy(**parameters: str) -> dict[str, str]:
    """The deploy rehearsal (tests/infra/test_deploy_rehearsal.py) with these parameters, inside
    mock_aws: the stack is created completely; its logical ids -> physical ids."""
    import boto3

    from tests.infra.test_deploy_rehearsal import STACK, for_moto, translated, zipped

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="wa-notify-artifacts")
    s3.put_object(Bucket="wa-notify-artifacts", Key="code.zip", Body=zipped("app.py", "def lambda_handler(e, c):\n    return e\n"))
    s3.put_object(Bucket="wa-notify-artifacts", Key="layer.zip", Body=zipped("python/wa_notify/__init__.py", ""))
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(for_moto(translated())),
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}


def attached_policies(physical: dict[str, str], function: str) -> list[str]:
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=physical[f"{function}Role"])["AttachedPolicies"]]


def test_the_stack_deploys_with_a_kms_key_and_then_encrypts_with_it():
    import boto3
    from moto import mock_aws

    with mock_aws():
        # GIVEN a customer key
        key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
        # WHEN the stack is created with KmsKeyArn
        physical = rehearsed_deploy(KmsKeyArn=key)
        # THEN it has the key's policy, and no restored table's
        assert "KmsKeyUsePolicy" in physical and "RestoredTableAccessPolicy" not in physical
        # AND every queue uses the key (moto reports SqsManagedSseEnabled "true" for any queue not given
        # it; that the template leaves it out with a key is test_with_a_kms_key_... above)
        sqs = boto3.client("sqs", region_name="us-east-1")
        urls = sqs.list_queues()["QueueUrls"]
        assert len(urls) == 10
        for url in urls:
            assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])["Attributes"].get("KmsMasterKeyId") == key, url
        # AND the five roles have the key's policy (moto's CloudFormation drops the table's SSESpecification
        # and a log group's KmsKeyId: test_with_a_kms_key_... above checks those in the template)
        assert all(physical["KmsKeyUsePolicy"] in attached_policies(physical, name) for name in FUNCTIONS)


def test_the_stack_deploys_pointed_at_a_restored_table():
    import boto3
    from moto import mock_aws

    with mock_aws():
        # GIVEN a restored table with its stream turned on (docs/runbook.md, step 2)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        restored = dynamodb.create_table(TableName="wa-notify-restored", BillingMode="PAY_PER_REQUEST",
                                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
                                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})["TableDescription"]
        # WHEN the stack is created pointed at it (step 3)
        physical = rehearsed_deploy(RestoredTableName="wa-notify-restored", RestoredTableStreamArn=restored["LatestStreamArn"])
        # THEN every function's TABLE_NAME names it, the callback function follows its stream, and every role may use it
        lam = boto3.client("lambda", region_name="us-east-1")
        for name in FUNCTIONS:
            assert lam.get_function_configuration(FunctionName=physical[name])["Environment"]["Variables"]["TABLE_NAME"] == "wa-notify-restored"
            assert physical["RestoredTableAccessPolicy"] in attached_policies(physical, name), name
        streams = [m["EventSourceArn"] for m in lam.list_event_source_mappings(FunctionName=physical["CallbackFunction"])["EventSourceMappings"]
                   if ":table/" in m["EventSourceArn"]]
        assert streams == [restored["LatestStreamArn"]]
        # AND the stack's own table is still created and kept (DeletionPolicy Retain), unused
        assert len(dynamodb.list_tables()["TableNames"]) == 2


def test_the_runbook_names_what_the_template_has():
    """docs/runbook.md's commands against the template: drift would break a recovery, the worst moment."""
    import re

    runbook = (ROOT / "docs/runbook.md").read_text()
    # GIVEN the resources, parameters and attributes its commands name
    named = set(re.findall(r"\$\(fn (\w+)\)", runbook))
    (deploy,) = re.findall(r"--parameter-overrides \\\n\s*\"([^\"]+)\"", runbook)
    overrides = {pair.split("=")[0] for pair in deploy.split()} - {"Stage"}
    restored_sizes = dict(re.findall(r"\$\(fn (\w+)\) --reserved-concurrent-executions (\d+)", runbook.split("## 5.")[1]))
    # THEN each is the template's
    assert named and named <= set(RES)
    assert overrides == {"RestoredTableName", "RestoredTableStreamArn"} <= set(T["Parameters"])
    # AND resuming gives back exactly the reserved concurrency the template sets for what step 1 paused
    paused = set(re.findall(r"\$\(fn (\w+)\) --reserved-concurrent-executions 0", runbook))
    assert set(restored_sizes) == paused
    assert {n: int(v) for n, v in restored_sizes.items()} == {n: FUNCTIONS[n]["Properties"]["ReservedConcurrentExecutions"] for n in paused}
    # AND the restored table gets what the template gives the stack's table: stream view, TTL attribute, recovery
    table = RES["Table"]["Properties"]
    assert f"StreamViewType={table['StreamSpecification']['StreamViewType']}" in runbook
    assert f"AttributeName={table['TimeToLiveSpecification']['AttributeName']}" in runbook
    assert "PointInTimeRecoveryEnabled=true" in runbook


def test_make_lint_runs_checkov_from_its_own_venv():
    # GIVEN the Makefile's lint and checkov targets
    makefile = (ROOT / "Makefile").read_text()
    lint = next(line for line in makefile.splitlines() if line.startswith("lint:"))
    recipe = makefile.split("\ncheckov:", 1)[1].split("\n\n", 1)[0]
    # THEN lint depends on checkov, which scans template.yaml with the venv's own checkov
    assert "checkov" in lint.split("##")[0].split(":", 1)[1].split()
    assert "$(CHECKOV_VENV)/bin/checkov" in recipe and "-f template.yaml" in recipe and "--framework cloudformation" in recipe
    # AND that venv comes from the checkov lock, with hashes, and git ignores it
    assert "pip install -q --require-hashes --no-deps -r requirements-checkov.lock" in makefile
    assert ".venv-checkov/" in (ROOT / ".gitignore").read_text().splitlines()
