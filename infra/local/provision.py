"""Read template.yaml and create its tables and queues in moto; derive env, routes and event sources.

The template is the single source of truth: the local stack never declares a table, queue,
route or schedule of its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.local.streams import StreamSource

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags into their long form."""


def _tag(tag: str):  # noqa: ANN202
    name = "Fn::GetAtt" if tag == "GetAtt" else ("Ref" if tag == "Ref" else f"Fn::{tag}")

    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _t in ("Ref", "GetAtt", "Sub", "If", "Equals", "Join", "Select", "Split", "FindInMap", "ImportValue", "Not", "And", "Or", "Base64", "GetAZs"):
    _CfnLoader.add_constructor(f"!{_t}", _tag(_t))


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Provisioned:
    prefix: str
    region: str
    account: str
    refs: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)  # (logical id, attribute) -> value
    conditions: dict[str, bool] = field(default_factory=dict)  # the template's Conditions, at the parameters' defaults

    def resolve(self, value: Any) -> Any:
        """Resolve the intrinsics the local stack needs (Ref, GetAtt, Sub, If); None if it cannot
        (or if an If chose AWS::NoValue)."""
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return None if arg == "AWS::NoValue" else self.refs.get(arg)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self.resolve(when_true if self.conditions[condition] else when_false)
            if key == "Fn::GetAtt":
                return self.attrs.get((arg[0], arg[1]))
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]

                def sub(m: re.Match[str]) -> str:
                    ref = m.group(1)
                    if "." in ref:
                        return str(self.attrs.get(tuple(ref.split(".", 1)), m.group(0)))  # type: ignore[arg-type]
                    return str(self.refs.get(ref, m.group(0)))

                return re.sub(r"\$\{([^}]+)\}", sub, text)
            return None
        return value


def evaluate_conditions(template: dict[str, Any], refs: dict[str, str]) -> dict[str, bool]:
    """The template's Conditions (Equals, Not, And, Or, Condition) with these parameter values:
    the local stack runs what a deploy with the defaults runs (no KMS key, the stack's table)."""
    source = template.get("Conditions") or {}

    def value(node: Any) -> Any:
        return refs.get(node["Ref"]) if isinstance(node, dict) and "Ref" in node else node

    def holds(node: Any) -> bool:
        (key, arg), = node.items()
        if key == "Condition":
            return holds(source[arg])
        if key == "Fn::Equals":
            return str(value(arg[0])) == str(value(arg[1]))
        if key == "Fn::Not":
            return not holds(arg[0])
        if key == "Fn::And":
            return all(holds(a) for a in arg)
        if key == "Fn::Or":
            return any(holds(a) for a in arg)
        raise ValueError(f"condition function {key} is not supported locally")

    return {name: holds(node) for name, node in source.items()}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def provision(template: dict[str, Any], dynamodb: Any, sqs: Any, *, prefix: str = "wa-notify-local",
              region: str = "us-east-1", account: str = "123456789012") -> Provisioned:
    out = Provisioned(prefix, region, account)
    for name, param in (template.get("Parameters") or {}).items():
        out.refs[name] = str(param.get("Default", ""))
    out.refs["AWS::Region"] = region
    out.refs["AWS::AccountId"] = account
    out.conditions = evaluate_conditions(template, out.refs)

    for logical, res in resources_of(template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        table_name = f"{prefix}-{logical}"
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        created = dynamodb.create_table(**kwargs)["TableDescription"]
        if stream:
            out.attrs[(logical, "StreamArn")] = created["LatestStreamArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        out.refs[logical] = table_name
        out.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{table_name}"

    queues = resources_of(template, "AWS::SQS::Queue")
    for logical, res in queues.items():  # create all first: redrive policies point at each other
        props = res.get("Properties") or {}
        queue_name = f"{prefix}-{logical}"
        attributes = {k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds") if k in props}
        url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
        out.refs[logical] = url
        out.attrs[(logical, "QueueName")] = queue_name
        out.attrs[(logical, "Arn")] = f"arn:aws:sqs:{region}:{account}:{queue_name}"
    for logical, res in queues.items():
        redrive = (res.get("Properties") or {}).get("RedrivePolicy")
        if redrive:
            policy = {"deadLetterTargetArn": out.resolve(redrive["deadLetterTargetArn"]), "maxReceiveCount": int(redrive["maxReceiveCount"])}
            sqs.set_queue_attributes(QueueUrl=out.refs[logical], Attributes={"RedrivePolicy": json.dumps(policy)})
    return out


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    module: str  # functions.<folder>.app
    handler: str  # lambda_handler
    timeout: int
    environment: dict[str, str]
    http_routes: list[tuple[str, str]]  # (METHOD, /path/{param})
    sqs_sources: list[tuple[str, int]]  # (queue logical id, batch size)
    scheduled: bool
    stream_sources: list[StreamSource] = field(default_factory=list)  # DynamoDB stream mappings


def _retries(value: Any) -> int:
    """MaximumRetryAttempts; -1 (the default) is Lambda's "until the record expires"."""
    return int(value) if int(value) >= 0 else 1_000_000


def function_url_paths(template: dict[str, Any]) -> dict[str, str]:
    """Function logical id -> the path its URL is given out with, from the outputs
    (`!Sub "${WebhookFunctionUrl.FunctionUrl}webhooks/whatsapp"` -> /webhooks/whatsapp)."""
    paths = {}
    for output in (template.get("Outputs") or {}).values():
        value = output.get("Value")
        text = value.get("Fn::Sub") if isinstance(value, dict) else None
        match = re.fullmatch(r"\$\{(\w+)Url\.FunctionUrl\}(\S*)", text) if isinstance(text, str) else None
        if match:
            paths[match.group(1)] = "/" + match.group(2)
    return paths


def functions(template: dict[str, Any], provisioned: Provisioned) -> list[FunctionSpec]:
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env = ((globals_fn.get("Environment") or {}).get("Variables")) or {}
    specs = []
    url_paths = function_url_paths(template)
    for logical, res in resources_of(template, "AWS::Serverless::Function").items():
        props = res["Properties"]
        env_raw = {**global_env, **(((props.get("Environment") or {}).get("Variables")) or {})}
        env = {k: str(v) for k, v in ((k, provisioned.resolve(v)) for k, v in env_raw.items()) if v is not None}
        module_file, handler = props["Handler"].rsplit(".", 1)
        folder = props["CodeUri"].strip("/").replace("/", ".")
        routes, sources, streams, scheduled = [], [], [], False
        if props.get("FunctionUrlConfig"):
            # A function URL sends every method and path to the function: it answers 404 and 405 itself.
            routes.append(("ANY", url_paths.get(logical, "/")))
        for event in (props.get("Events") or {}).values():
            eprops = event.get("Properties") or {}
            if event["Type"] == "HttpApi":
                routes.append((eprops["Method"].upper(), eprops["Path"]))
            elif event["Type"] == "DynamoDB":
                on_failure = ((eprops.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                failure_queue = on_failure["Fn::GetAtt"][0] if isinstance(on_failure, dict) and "Fn::GetAtt" in on_failure else None
                streams.append(StreamSource(
                    stream_arn=str(provisioned.resolve(eprops["Stream"])),
                    batch_size=int(eprops.get("BatchSize", 100)),
                    filters=[f["Pattern"] for f in ((eprops.get("FilterCriteria") or {}).get("Filters") or [])],
                    max_retries=_retries(eprops.get("MaximumRetryAttempts", -1)),
                    bisect=bool(eprops.get("BisectBatchOnFunctionError", False)),
                    on_failure_queue_url=provisioned.refs.get(failure_queue) if failure_queue else None,
                ))
            elif event["Type"] == "SQS":
                queue = eprops["Queue"]["Fn::GetAtt"][0]
                sources.append((queue, int(eprops.get("BatchSize", 10))))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                scheduled = True
        specs.append(FunctionSpec(logical, f"{folder}.{module_file}", handler, int(props.get("Timeout", globals_fn.get("Timeout", 3))),
                                  env, routes, sources, scheduled, streams))
    return specs
