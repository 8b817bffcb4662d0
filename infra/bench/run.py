"""`make bench`: the numbers customers judge us by, measured on the local stack (moto in
process, the sandbox WhatsApp). Prints a table and writes .bench/report.json.

How each figure is taken (also written into the report under `method`):
- lambda_memory_mb, architecture, tracing: read from template.yaml (Globals, then each
  function's own properties), never a constant here.
- path (requests_per_message, cost_per_million_usd, cost_per_million_usd_batch1): messages
  taken through the whole path on the local stack: API intake (POST /v1/messages), the sender
  from its lane, the sandbox's three status webhooks (sent, delivered, read) into the webhook
  function, and the table's stream into the callback function (callbacks to the platform).
  Every AWS request that reaches moto is counted where it is made (inside which function's
  invocation, or by Lambda's own pollers outside any), DynamoDB units from the item sizes moto
  holds (a write: one unit per started KB of the larger of before and after, two in a
  transaction; a read: per started 4 KB, half when eventually consistent). Run twice: at the
  template's batch sizes (sender 10, stream 100: every message queued before the lane is
  drained) and at one message per batch (each message drained alone, sender and stream batch 1).
  The sandbox's status webhooks are delivered once the sender's invocation has returned (Meta's
  usual order), not inside it.
- Lambda duration, per invocation: our handler's own time, measured in process as the CPU
  time of the handler's thread and of the pool threads it starts (the sender's sends, the
  callback posts) minus the CPU spent in moto and in the sandbox WhatsApp and the callback sink,
  scaled by the CPU share Lambda gives the deployed memory (1,769 MB = one vCPU), plus the
  outside waits of a real deployment, assumed per request (ASSUMED_MS: DynamoDB, SQS, SNS, the
  WhatsApp Cloud API, a platform's callback URL) and counted per thread that made them: the
  handler's own thread waits in turn, its pool threads side by side, so an invocation waits its
  own thread's sum plus the longest pool thread's sum (the callback posts' capped at the stream
  batch's 3 s budget). The WhatsApp and callback waits are slept for real inside the bench's
  invocations (a sleep costs no CPU), so the pool threads share the work as they would against
  real endpoints. Billed per ms at the template's memory and arm64 price.
- logs: the bytes our handlers print per message at the template's application log level
  (LoggingConfig's ApplicationLogLevel, which Lambda filters by and Powertools follows; else the
  LogLevel parameter): Powertools' JSON lines and EMF metric lines, captured from the handlers'
  streams; plus Lambda's own lines per invocation as the template's LoggingConfig has them
  (START/END/REPORT in text, platform.start/platform.report in JSON, none at SystemLogLevel
  WARN) and API Gateway's access-log line per API request, each event with CloudWatch's
  26 bytes of metadata, at the ingestion price.
- X-Ray: each function the template traces Active starts a sampled trace for 5% of its
  invocations beyond a reservoir of 1/s (Lambda's fixed sampling), priced per trace recorded
  at an assumed steady 80 messages/s; PassThrough functions record none (nothing upstream of
  them is sampled: Meta and the stream send no trace header).
- throttle: 1,000 bulk messages already queued; 3 sender workers (threads calling the real
  handler, like 3 Lambda containers) drain the lane against the sandbox, which enforces
  WhatsApp's 80/s per number and answers 130429 beyond it. achieved_mps is the sandbox's
  accepted sends per second after the first 2 s (the first second is the burst). The stack's
  moto runs with infra/local/moto_speed.py (moto's own per-request costs taken out, the same
  answers and stored items and streams: tests/functional/test_moto_speed.py); botocore's
  signing, serialization and parsing stay (Lambda does them too). Every container is a thread
  of this one process, so the process's CPU per send (process_cpu_ms_per_send, moto's share in
  moto_cpu_ms_per_send) caps the rate: local_stack_ceiling_per_s; the 1-minute load average of
  the machine during the run is reported with it (other work on the machine takes CPU too).
  throttle_simulated: infra/bench/simulate.py (the real pacer, a DynamoDB latency model).
- priority: high-lane messages posted through the real API one at a time, timed from accept
  to the sandbox receiving them: first idle, then with a 5,000-message bulk backlog sent to
  the bulk lane (all of it in the queue before the first alert is timed) while 2 bulk workers
  drain it. Assumed for high_p95_ms_loaded: the alert's path runs as its own containers do in
  AWS (the API function's, the high lane's), on a CPU of its own against a DynamoDB that serves
  everyone side by side. Locally every container is a thread of one process behind one moto
  lock, so while the alert's intake or its high-lane invocation runs, bulk's threads finish the
  moto request they are in and wait at their next one (infra/local/stack.py LaneFirstLock,
  urgent_runs_alone); the high lane's empty polls hold nobody. Still real: the lanes' separate
  queues, the number's bucket shared with bulk (the pacer's lane shares), the sender's lease
  and writes. Measured first, with the same backlog: high_p95_ms_loaded_one_interpreter, the
  alert's path sharing the interpreter with bulk's threads (its moto requests still go first at
  the lock). Each loaded phase says how fast bulk went out meanwhile and how often the
  number's bucket was busy (its TAT ahead of now) when an alert was posted.
- cold_import_ms: each handler module imported in a fresh interpreter, median of 5; the
  baseline is a bare `import boto3` measured the same way, interleaved with them.
- cold_start_ms: infra/bench/cold_start.py: a fresh process per function imports its handler and
  serves its sample event from events/, on the layer as built and the runtime's boto3 stack,
  against a bare `import boto3` the same way; medians (its own `method` says how).
- render_per_s: the real `render()` (wa_notify.domain.rendering: the template's header, body,
  footer and URL button filled and the WhatsApp request built, from the stored template of
  events/api/create_template.json with string parameters) against Jinja2's compiled render of
  the same four texts with the same values, best of 5 timed loops.
- dispatch: 10,000 scheduled messages due in one minute, one dispatcher tick on the local
  stack (moto DynamoDB and moto SQS lanes); seconds is the measured wall time of that tick.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.bench import quiet_local_env  # noqa: E402
from infra.bench.cold_start import bench_cold_start  # noqa: E402

quiet_local_env("WARNING")

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".bench"

# Public on-demand prices, us-east-1, checked 2026-11 (aws.amazon.com/<service>/pricing):
PRICES = {
    "api_gateway_http_per_request": 1.00 / 1e6,    # HTTP API, first 300 M requests/month
    "lambda_function_url_per_request": 0.0,         # a function URL costs only its invocation
    "lambda_per_request": 0.20 / 1e6,
    "lambda_per_gb_second_arm64": 0.0000133334,
    "lambda_per_gb_second_x86_64": 0.0000166667,
    "dynamodb_per_write_unit": 0.625 / 1e6,         # on-demand WRU (1 KB); a transactional item costs 2
    "dynamodb_per_read_unit": 0.125 / 1e6,          # on-demand RRU (4 KB strongly consistent, or 2 eventual reads)
    "dynamodb_stream_read": 0.0,                    # GetRecords by a Lambda event source mapping is free
    "sqs_per_request": 0.40 / 1e6,                  # standard queue, per 64 KB chunk
    "sns_sms_excluded": 0.0,                        # SMS fallback is per SMS sent, not per message: not in the path
    "cloudwatch_logs_per_gb_ingested": 0.50,        # standard log class
    "xray_per_trace_recorded": 5.00 / 1e6,
}
# Outside waits of a real deployment, per request, that the local stack cannot show (moto and the
# sandbox answer in-process): added to each invocation's own time to price its duration.
ASSUMED_MS = {
    "dynamodb": 5.0,        # in-region p50 of a single-item request
    "sqs": 8.0,             # SendMessage(Batch), in-region
    "sns": 20.0,            # Publish (the SMS fallback)
    "whatsapp": 150.0,      # Cloud API POST /messages answer
    "callback": 50.0,       # a platform's callback URL answering 2xx (posted in order per tenant)
}
LAMBDA_MB_PER_VCPU = 1769   # Lambda gives one full vCPU at 1,769 MB, proportionally less below
XRAY_SAMPLING = {"reservoir_per_s": 1.0, "rate": 0.05}  # Lambda's fixed sampling for Active tracing
XRAY_ASSUMED_MPS = 80.0     # the steady traffic the reservoir is spread over (WhatsApp's default tier)
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs bills 26 bytes of metadata per event
# Lambda's own lines per invocation at SystemLogLevel INFO (DEBUG adds none per invocation;
# WARN drops them), sized from real ones: text format, and JSON (LoggingConfig LogFormat JSON).
PLATFORM_LINES = [
    "START RequestId: 6f1c9d4e-2b7a-4c1e-9f3d-8a5b2c7e1d90 Version: $LATEST\n",
    "END RequestId: 6f1c9d4e-2b7a-4c1e-9f3d-8a5b2c7e1d90\n",
    "REPORT RequestId: 6f1c9d4e-2b7a-4c1e-9f3d-8a5b2c7e1d90\tDuration: 23.41 ms\tBilled Duration: 24 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 121 MB\t\n",
]
XRAY_REPORT_SUFFIX = "XRAY TraceId: 1-6744b7c2-3f9d2a1b7c8e4f5a6b7c8d9e\tSegmentId: 4a7b9c2d1e3f5a6b\tSampled: true\t\n"
PLATFORM_LINES_JSON = [
    '{"time":"2026-12-01T09:00:00.000Z","type":"platform.start","record":{"requestId":"6f1c9d4e-2b7a-4c1e-9f3d-8a5b2c7e1d90",'
    '"version":"$LATEST"}}\n',
    '{"time":"2026-12-01T09:00:00.024Z","type":"platform.report","record":{"requestId":"6f1c9d4e-2b7a-4c1e-9f3d-8a5b2c7e1d90",'
    '"metrics":{"durationMs":23.41,"billedDurationMs":24,"memorySizeMB":512,"maxMemoryUsedMB":121},"status":"success"}}\n',
]
XRAY_REPORT_SUFFIX_JSON = ',"tracing":{"spanId":"4a7b9c2d1e3f5a6b","type":"X-Amzn-Trace-Id","value":"Root=1-6744b7c2-3f9d2a1b7c8e4f5a6b7c8d9e;Parent=4a7b9c2d1e3f5a6b;Sampled=1"}'


def platform_lines(facts: dict[str, Any], function: str) -> list[str]:
    """Lambda's own lines for one successful invocation of `function`, as its LoggingConfig has them."""
    logging = facts["functions"][function].get("logging") or {}
    system = (logging.get("system_log_level") or "INFO").upper()
    if system == "WARN":
        return []  # START/END/REPORT and platform.start/platform.report are INFO events
    traced = facts["functions"][function]["tracing"] == "Active"
    if (logging.get("log_format") or "Text").upper() == "JSON":
        lines = list(PLATFORM_LINES_JSON)
        if traced:
            lines[-1] = lines[-1].replace(',"status":"success"}}', ',"status":"success"' + XRAY_REPORT_SUFFIX_JSON + "}}")
        return lines
    lines = list(PLATFORM_LINES)
    if traced:
        lines[-1] = lines[-1].rstrip("\n") + XRAY_REPORT_SUFFIX
    return lines


# ---- the template: what is deployed ---------------------------------------------------------------
def template_facts(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """Memory, architecture, tracing and timeout per function (Globals, then the function's own),
    the log level the template deploys, and the API's access-log line format."""
    from infra.local.provision import load_template, resources_of

    template = template if template is not None else load_template()
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    out: dict[str, Any] = {"functions": {}}
    for logical, res in resources_of(template, "AWS::Serverless::Function").items():
        props = {**globals_fn, **res["Properties"]}
        arch = (props.get("Architectures") or ["x86_64"])[0]
        logging = {**(globals_fn.get("LoggingConfig") or {}), **(res["Properties"].get("LoggingConfig") or {})}
        out["functions"][logical] = {"memory_mb": int(props.get("MemorySize", 128)), "architecture": arch,
                                     "tracing": props.get("Tracing", "PassThrough"), "timeout_s": int(props.get("Timeout", 3)),
                                     "logging": {"log_format": resolved(template, logging.get("LogFormat")) or "Text",
                                                 "application_log_level": resolved(template, logging.get("ApplicationLogLevel")),
                                                 "system_log_level": resolved(template, logging.get("SystemLogLevel"))}}
    levels = {f["logging"]["application_log_level"] for f in out["functions"].values()} - {None}
    parameter = resolved(template, {"Ref": "LogLevel"}) or "INFO"
    # Lambda filters our lines by ApplicationLogLevel and Powertools takes it over POWERTOOLS_LOG_LEVEL.
    out["log_level"] = next(iter(levels)) if len(levels) == 1 else parameter
    out["log_format"] = {f["logging"]["log_format"] for f in out["functions"].values()}
    out["system_log_level"] = {f["logging"]["system_log_level"] or "INFO" for f in out["functions"].values()}
    apis = resources_of(template, "AWS::Serverless::HttpApi")
    access = next(iter(apis.values()), {}).get("Properties", {}).get("AccessLogSettings", {})
    out["access_log_format"] = access.get("Format")
    return out


def resolved(template: dict[str, Any], value: Any) -> str | None:
    """A property's value with a `!Ref` to a parameter read as that parameter's default."""
    if isinstance(value, dict) and "Ref" in value:
        return ((template.get("Parameters") or {}).get(value["Ref"]) or {}).get("Default")
    return None if value is None else str(value)


def access_log_line(fmt: str | None) -> str:
    """API Gateway's access-log line for one POST /v1/messages, with typical values."""
    if not fmt:
        return ""
    values = {"requestId": "Ab1Cd2Ef3Gh4Ij5=", "identity.sourceIp": "203.0.113.17", "requestTime": "01/Dec/2026:09:00:00 +0000",
              "httpMethod": "POST", "routeKey": "POST /v1/messages", "status": "202", "responseLatency": "48",
              "integrationErrorMessage": "-"}
    line = fmt
    for key, value in values.items():
        line = line.replace(f"$context.{key}", value)
    return line + "\n"


def function_names() -> list[str]:
    """functions/<name>/app.py for each function the template deploys."""
    from infra.local.provision import load_template, resources_of

    return [res["Properties"]["CodeUri"].strip("/").split("/")[-1]
            for res in resources_of(load_template(), "AWS::Serverless::Function").values()]


# ---- the local stack --------------------------------------------------------------------------
def new_stack() -> Any:
    from wa_notify.services import tenants

    from infra.local.stack import LocalStack

    tenants.clear_key_cache()
    with contextlib.suppress(ImportError, AttributeError):
        from wa_notify.services import statuses

        statuses._tenant_by_pnid.clear()  # type: ignore[attr-defined]
    stack = LocalStack().start(serve=False)
    key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    assert stack.request("POST", "/v1/templates", body=template, headers=key)[0] == 201
    stack.drain()
    return stack, key


@contextlib.contextmanager
def moto_without_its_own_costs() -> Iterator[None]:
    """moto's costs that are not DynamoDB's or SQS's (infra/bench/moto_speed.py and the
    transaction snapshot below): they change no answer, only how long moto takes."""
    from infra.bench.moto_speed import attribute_values_serialized_directly, retention_read_directly

    with (moto_transactions_without_table_copies(), attribute_values_serialized_directly(), retention_read_directly(),
          sqs_send_without_attribute_scans()):
        yield


@contextlib.contextmanager
def sqs_send_without_attribute_scans() -> Iterator[None]:
    """moto's SendMessage reads one attribute (ContentBasedDeduplication) through the queue's whole
    `attributes`, which counts the queue's messages three times: each send walked the queue, a
    10,000-message dispatch spent minutes in moto. While a send runs, `attributes` gives just that
    one (FIFO queues have it; standard queues have none), so the answer is the same."""
    from moto.sqs.models import Queue, SQSBackend

    original_send, original_attributes = SQSBackend.send_message, Queue.attributes
    sending = threading.local()

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(sending, "active", False):
            if not queue.fifo_queue:
                return {}
        return original_attributes.fget(queue)  # type: ignore[no-any-return, attr-defined]

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = False

    Queue.attributes = property(attributes)  # type: ignore[method-assign, assignment]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    try:
        yield
    finally:
        Queue.attributes = original_attributes  # type: ignore[method-assign]
        SQSBackend.send_message = original_send  # type: ignore[method-assign]


def message_body(i: int, priority: str) -> dict[str, Any]:
    body = json.loads((ROOT / "events/api/create_message.json").read_text())
    return {**body, "to": f"+1415555{i:04d}", "priority": priority}


def bulk_rows(stack: Any, n: int, start: int = 0) -> list[Any]:
    """n queued bulk message rows written with BatchWriteItem (setup, not measured)."""
    from wa_notify.adapters.dynamo import to_item
    from wa_notify.domain.ids import new_id
    from wa_notify.domain.rendering import render
    from wa_notify.services import messages, templates

    deps, tenant = stack.deps, stack.dev_tenant
    spec, _ = templates.load_spec(deps, tenant["tenant_id"], "order_shipped", "en_US")
    params = message_body(0, "bulk")["params"]
    rows = []
    for i in range(start, start + n):
        mid = new_id("msg")
        to = f"+1416{i:07d}"
        rendered = render(spec, params, {"0": "X"}, to=to, callback_data=mid)
        rows.append(messages.build_item(deps, tenant["tenant_id"], message_id=mid, to=to, template_ref={"name": "order_shipped", "language": "en_US", "category": "UTILITY"},
                                        request=rendered.request, priority="bulk", send_at=None, metadata=None, now=deps.now(),
                                        phone_number_id=tenant["phone_number_id"]))
    client = deps.store.table.client
    for k in range(0, len(rows), 25):
        client.batch_write_item(RequestItems={deps.store.table.name: [{"PutRequest": {"Item": to_item(deps.store.messages.row(r))}} for r in rows[k : k + 25]]})
    return rows


class Worker(threading.Thread):
    """One sender container: the local stack's own poller (`LocalStack.poll_once`: receive from
    the lane, call the handler, delete what is not in batchItemFailures, metrics cleared by each
    invocation) on one lane, with a function of its own, so that workers run side by side like
    containers (one `LocalFunction` runs one invocation at a time)."""

    def __init__(self, stack: Any, lane: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        from infra.local.stack import LocalFunction

        self.stack, self.stop, self.lane = stack, stop, lane
        url = stack.deps.queues.lane_urls[lane]
        self.queue_url, self.queue_arn, self.batch, sender = next(s for s in stack.queue_sources if s[0] == url)
        self.container = LocalFunction(sender.spec)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                handled = self.stack.poll_once(self.queue_url, self.queue_arn, self.batch, self.container)
            except BaseException:  # noqa: BLE001, S112 - a dead container: its batch is not deleted, SQS redelivers it
                continue
            if not handled:
                time.sleep(0.01)


def bench_throttle(n: int = 1_000, workers: int = 3, limit: int = 80) -> dict[str, Any]:
    with moto_without_its_own_costs():
        return _bench_throttle(n, workers, limit)


def _bench_throttle(n: int, workers: int, limit: int) -> dict[str, Any]:
    from wa_notify.services.messages import enqueue

    stack, key = new_stack()
    stack.sandbox.configure({"auto_status": False, "throughput_per_second": limit})
    assert stack.request("PUT", "/v1/settings", body={"throughput_per_second": limit}, headers=key)[0] == 200
    rows = bulk_rows(stack, n)
    enqueue(stack.deps, rows)
    refused: Counter[Any] = Counter()
    times: list[float] = []
    original = stack.sandbox._send

    def counting_send(pnid: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = original(pnid, payload)
        if status == 200:
            times.append(time.monotonic())
        else:
            refused[(body.get("error") or {}).get("code")] += 1
        return status, body

    stack.sandbox._send = counting_send
    # moto's own share of the CPU: each request's thread CPU inside moto (a thread waiting for
    # moto's lock or the GIL spends none).
    from moto.core.botocore_stubber import BotocoreStubber

    serialized = BotocoreStubber.process_request
    moto_cpu_s = [0.0]
    moto_cpu_lock = threading.Lock()

    def timed(self: Any, request: Any) -> Any:
        t0 = time.thread_time()
        try:
            return serialized(self, request)
        finally:
            spent = time.thread_time() - t0
            with moto_cpu_lock:
                moto_cpu_s[0] += spent

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    stop = threading.Event()
    pool = [Worker(stack, "bulk", stop) for _ in range(workers)]
    cpu0 = time.process_time()
    try:
        for w in pool:
            w.start()
        deadline = time.monotonic() + n / limit + 30
        while len(stack.sandbox.messages) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for w in pool:
            w.join()
    finally:
        BotocoreStubber.process_request = serialized  # type: ignore[method-assign]
    # The whole process's CPU per accepted send (our handler, moto, the sandbox, the pollers: one
    # interpreter, one GIL): 1,000 / this is about the most the local stack can send per second.
    cpu_ms_per_send = (time.process_time() - cpu0) * 1000 / max(1, len(times))
    moto_ms_per_send = moto_cpu_s[0] * 1000 / max(1, len(times))
    times = sorted(times)
    steady = [t for t in times if t >= times[0] + 2.0]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    stack.stop()
    return {"limit_per_s": limit, "messages": len(times), "achieved_per_s": round(achieved, 1), "ratio": round(achieved / limit, 3),
            "provider_rate_limit_errors": refused.get(130429, 0) + refused.get(131056, 0),
            "process_cpu_ms_per_send": round(cpu_ms_per_send, 1), "moto_cpu_ms_per_send": round(moto_ms_per_send, 1),
            "local_stack_ceiling_per_s": round(1000 / cpu_ms_per_send, 1), "load_average_1m": os.getloadavg()[0]}


def moto_table(name: str) -> Any:
    """moto's own table object: item sizes and snapshots read from it cost no request."""
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].get_table(name)


def moto_item(table: Any, key: dict[str, Any]) -> Any:
    """The stored item (or None) for a key in DynamoDB JSON, `{"pk": {"S": ...}, "sk": ...}`."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    return table.get_item(DynamoType(key["pk"]), DynamoType(key["sk"]))


def written_keys(op: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    """The keys a write request touches, each with whether it is part of a transaction."""
    if op == "TransactWriteItems":
        return [(inner.get("Key") or inner["Item"], True) for item in params.get("TransactItems", []) for inner in item.values()]
    return [(params.get("Key") or params["Item"], False)]


@contextlib.contextmanager
def moto_transactions_without_table_copies() -> Any:
    """moto makes `TransactWriteItems` all-or-nothing by deep-copying the whole table once per
    item in the transaction, so with the 5,000-row backlog each intake costs moto seconds
    (and holds its lock while it does). DynamoDB's cost does not grow with the table. For the
    priority figure, moto snapshots only the items the transaction touches, and puts them
    back if it is cancelled: the same all-or-nothing, at a cost that does not time moto."""
    import copy

    import moto.dynamodb.models as ddb_models

    backend_cls = ddb_models.DynamoDBBackend
    original = backend_cls.transact_write_items

    class NoCopy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, ddb_models.Table) else copy.deepcopy(value, memo)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        table_name = next(iter(transact_items[0].values()))["TableName"]  # one table here
        table = self.tables[table_name]
        touched = [(key, copy.deepcopy(moto_item(table, key)))
                   for key, _ in written_keys("TransactWriteItems", {"TransactItems": transact_items})]
        # moto's own rollback then keeps the same table
        real_copy, ddb_models.copy = ddb_models.copy, NoCopy  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            from moto.dynamodb.models.dynamo_type import DynamoType

            for key, before in touched:
                hash_key, range_key = DynamoType(key["pk"]), DynamoType(key["sk"])
                if before is None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = before
            raise
        finally:
            ddb_models.copy = real_copy

    backend_cls.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        backend_cls.transact_write_items = original  # type: ignore[method-assign]



# ---- the whole path, metered --------------------------------------------------------------------
@dataclass
class Invocation:
    """One handler invocation on the local stack, as Lambda would bill it."""

    function: str
    records: int
    thread: int = 0                 # the thread the handler ran on (its pools' threads are others)
    wall_s: float = 0.0
    moto_s: float = 0.0
    outside_s: float = 0.0          # the sandbox WhatsApp and the callback sink (nested invocations included)
    cpu_s: float = 0.0              # CPU of the handler's thread and of the pool threads it started
    moto_cpu_s: float = 0.0         # of which in moto
    outside_cpu_s: float = 0.0      # of which in the sandbox WhatsApp and the callback sink
    requests: Counter[str] = field(default_factory=Counter)   # "dynamodb.PutItem", "sqs.SendMessageBatch", ...
    waits_ms: Counter[int] = field(default_factory=Counter)   # assumed outside waits, per thread that made them
    whatsapp: int = 0
    callbacks: int = 0
    log_bytes: int = 0
    log_events: int = 0

    @property
    def own_s(self) -> float:
        """Our code's CPU time: threads that run side by side add up (they share the vCPU)."""
        return max(0.0, self.cpu_s - self.moto_cpu_s - self.outside_cpu_s)

    def wait_ms(self, worker_cap_ms: float | None = None) -> float:
        """The outside waits as they overlap: the handler's thread waits in turn, the pool threads
        it starts (the sender's sends, the callback posts) side by side, so the invocation waits
        its own thread's sum plus the longest pool thread's sum."""
        own = self.waits_ms.get(self.thread, 0.0)
        workers = max((ms for thread, ms in self.waits_ms.items() if thread != self.thread), default=0.0)
        return own + (min(workers, worker_cap_ms) if worker_cap_ms is not None else workers)

    @property
    def threads_used(self) -> int:
        return len([t for t in self.waits_ms if t != self.thread])

    def service_requests(self, service: str) -> int:
        return sum(v for k, v in self.requests.items() if k.startswith(service + "."))


class Meter:
    """Counts and times what happens inside each invocation of the local stack's functions.

    The drain is single-threaded, so the innermost invocation running is the one a request,
    a log line or an outside wait belongs to (the callback function's posting threads included);
    what happens outside every invocation is Lambda's (its pollers' ReceiveMessage and
    DeleteMessageBatch)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.frames: list[Invocation] = []
        self.done: list[Invocation] = []
        self.outside: Counter[str] = Counter()
        self.units: dict[str, float] = defaultdict(float)
        self.idle_receives = 0
        self.table = moto_table(stack.deps.store.table.name)
        self.sleep_waits = True  # the assumed WhatsApp and callback waits are slept inside invocations

    def reset(self) -> None:
        self.done, self.outside, self.units, self.idle_receives = [], Counter(), defaultdict(float), 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[Meter]:
        from moto.core.botocore_stubber import BotocoreStubber

        from infra.local import stack as stack_module

        meter = self
        original_invoke = stack_module.LocalFunction.invoke
        original_process = BotocoreStubber.process_request
        original_handle, original_receive = self.stack.sandbox.handle, self.stack.receive_callback

        def invoke(fn: Any, event: dict[str, Any]) -> Any:
            frame = Invocation(fn.spec.logical_id, len(event.get("Records") or []), thread=threading.get_ident())
            meter.frames.append(frame)
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return original_invoke(fn, event)
            finally:
                frame.wall_s = time.perf_counter() - t0
                frame.cpu_s += time.thread_time() - c0
                meter.frames.remove(frame)
                meter.done.append(frame)

        def submit(pool: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            # A pool thread's work belongs to the invocation that started it: its CPU is counted there.
            frame = meter.frames[-1] if meter.frames else None

            def counted(*a: Any, **k: Any) -> Any:
                c0 = time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    if frame is not None:
                        frame.cpu_s += time.thread_time() - c0
            return original_submit(pool, counted, *args, **kwargs)

        def process_request(stubber: Any, request: Any) -> Any:
            service, op, params = meter._describe(request)
            c0 = time.thread_time()
            with stack_module._moto_lock:
                before = meter._sizes_before(service, op, params)
                indexed = meter._index_entries(service, op, params)
                t0 = time.perf_counter()
                try:
                    response = original_process(stubber, request)
                finally:
                    spent = time.perf_counter() - t0
                meter._price(service, op, params, before, response)
                meter._price_indexes(indexed)
            spent_cpu = time.thread_time() - c0
            frame = meter.frames[-1] if meter.frames else None
            if frame is None and op == "ReceiveMessage" and '"Messages"' not in str(response[2] if response else ""):
                # An empty receive: Lambda's pollers long-poll every queue all the time (a fixed
                # cost a month, not per message); the local drain's empty polls are not counted.
                meter.idle_receives += 1
            elif frame is None:
                meter.outside[f"{service}.{op}"] += 1
            else:
                frame.requests[f"{service}.{op}"] += 1
                frame.moto_s += spent
                frame.moto_cpu_s += spent_cpu
                frame.waits_ms[threading.get_ident()] += ASSUMED_MS.get(service, 0.0)
            return response

        def outside(kind: str, call: Any) -> Any:
            assumed = ASSUMED_MS["whatsapp" if kind == "whatsapp" else "callback"]

            def timed(*args: Any, **kwargs: Any) -> Any:
                frame = meter.frames[-1] if meter.frames else None
                if frame is not None and meter.sleep_waits:
                    # Waited for real (a sleep costs no CPU): the threads a handler starts then share
                    # the work as they would against WhatsApp or a platform, not one thread doing it all.
                    time.sleep(assumed / 1000)
                t0, c0 = time.perf_counter(), time.thread_time()
                try:
                    return call(*args, **kwargs)
                finally:
                    if frame is not None:
                        frame.outside_s += time.perf_counter() - t0
                        frame.outside_cpu_s += time.thread_time() - c0
                        frame.waits_ms[threading.get_ident()] += assumed
                        setattr(frame, kind, getattr(frame, kind) + 1)
            return timed

        from concurrent.futures import ThreadPoolExecutor

        original_submit = ThreadPoolExecutor.submit
        stack_module.LocalFunction.invoke = invoke  # type: ignore[method-assign, assignment]
        BotocoreStubber.process_request = process_request  # type: ignore[method-assign, assignment]
        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign, assignment]
        # The stream pollers hold their function's bound invoke from before: through the metered one.
        stream_invokes = [poller.invoke for poller in self.stack.stream_pollers]
        for poller in self.stack.stream_pollers:
            poller.invoke = functools.partial(invoke, poller.invoke.__self__)
        self.stack.sandbox.handle = outside("whatsapp", original_handle)
        self.stack.receive_callback = outside("callbacks", original_receive)
        with self._logs_counted():
            try:
                yield self
            finally:
                stack_module.LocalFunction.invoke = original_invoke  # type: ignore[method-assign]
                BotocoreStubber.process_request = original_process  # type: ignore[method-assign]
                ThreadPoolExecutor.submit = original_submit  # type: ignore[method-assign]
                self.stack.sandbox.handle, self.stack.receive_callback = original_handle, original_receive
                for poller, original_stream_invoke in zip(self.stack.stream_pollers, stream_invokes, strict=True):
                    poller.invoke = original_stream_invoke

    @contextlib.contextmanager
    def _logs_counted(self) -> Iterator[None]:
        """Our log lines at the template's level, EMF metric lines included, counted (not shown)."""
        from wa_notify.observability import logger

        meter = self

        class Counting:
            def write(self, text: str) -> int:
                frame = meter.frames[-1] if meter.frames else None
                if frame is not None:
                    if os.environ.get("BENCH_LOG_SAMPLE") and text.strip():
                        print(f"[{frame.function}] {text.strip()[:400]}", file=sys.stderr)
                    frame.log_bytes += len(text.encode())
                    frame.log_events += text.count("\n")
                return len(text)

            def flush(self) -> None:
                pass

        level = logger.log_level
        handler = logger.registered_handler
        stream = getattr(handler, "stream", None)
        stdout = sys.stdout
        metrics_disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED")
        logger.setLevel(template_facts()["log_level"])
        if stream is not None:
            handler.setStream(Counting())  # type: ignore[attr-defined]
        sys.stdout = Counting()  # type: ignore[assignment]
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"  # EMF lines are log bytes too
        try:
            yield
        finally:
            sys.stdout = stdout
            if stream is not None:
                handler.setStream(stream)  # type: ignore[attr-defined]
            logger.setLevel(level)
            if metrics_disabled is None:
                os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
            else:
                os.environ["POWERTOOLS_METRICS_DISABLED"] = metrics_disabled

    @staticmethod
    def _describe(request: Any) -> tuple[str, str, dict[str, Any]]:
        from urllib.parse import parse_qs, urlsplit

        host = urlsplit(request.url).hostname or ""
        service = host.split(".")[0]
        target = request.headers.get("X-Amz-Target") or b""
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body or b""
        body = body.decode() if isinstance(body, bytes) else body
        if target:
            try:
                params = json.loads(body) if body else {}
            except ValueError:
                params = {}
            return service, target.rsplit(".", 1)[-1], params
        query = parse_qs(body)
        return service, (query.get("Action") or ["?"])[0], {}

    def _item_bytes(self, key: dict[str, Any]) -> int:
        found = moto_item(self.table, key)
        return int(found.size()) if found else 0

    def _sizes_before(self, service: str, op: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], bool, int]]:
        if service != "dynamodb":
            return []
        if op in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"):
            return [(key, transactional, self._item_bytes(key)) for key, transactional in written_keys(op, params)]
        if op == "BatchWriteItem":
            keys = [(r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key"))
                    for requests in params.get("RequestItems", {}).values() for r in requests]
            return [(k, False, self._item_bytes(k)) for k in keys if k]
        return []

    def _index_view(self, key: dict[str, Any]) -> dict[str, tuple[str, str]]:
        """Per GSI the item is in: (its index key, its projected attributes), as text."""
        item = moto_item(self.table, key)
        if item is None:
            return {}
        attrs = item.attrs
        out = {}
        for index in self.table.global_indexes:
            names = [k["AttributeName"] for k in index.schema]
            if not all(n in attrs for n in names):
                continue
            kind = index.projection.get("ProjectionType", "ALL")
            projected = [] if kind == "KEYS_ONLY" else index.projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else sorted(attrs)
            out[index.name] = (repr([attrs[n].to_json() for n in names]), repr([(n, attrs[n].to_json()) for n in projected if n in attrs]))
        return out

    def _index_entries(self, service: str, op: str, params: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, tuple[str, str]]]]:
        if service != "dynamodb" or op not in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"):
            return []
        return [(key, self._index_view(key)) for key, _ in written_keys(op, params)]

    def _price_indexes(self, indexed: list[tuple[dict[str, Any], dict[str, tuple[str, str]]]]) -> None:
        """GSI writes, which DynamoDB bills besides the table's: an entry put or deleted is one
        write unit (these entries are all under 1 KB), a key change two (delete and put), a
        change of a projected attribute one; a write that changes neither costs the index nothing."""
        for key, before in indexed:
            after = self._index_view(key)
            for name in set(before) | set(after):
                old, new = before.get(name), after.get(name)
                units = 0 if old == new else 2 if old and new and old[0] != new[0] else 1
                if units:
                    self.units[f"gsi_wru:{name}"] += units

    def _price(self, service: str, op: str, params: dict[str, Any], before: list[tuple[dict[str, Any], bool, int]], response: Any) -> None:
        if service != "dynamodb":
            return
        for key, transactional, size in before:
            self.units["wru"] += (2 if transactional else 1) * max(1, math.ceil(max(size, self._item_bytes(key)) / 1024))
        if op == "GetItem":
            self.units["rru"] += self._read_units(self._item_bytes(params["Key"]), params.get("ConsistentRead", False))
        elif op == "BatchGetItem":
            for table in params.get("RequestItems", {}).values():
                for key in table.get("Keys", []):
                    self.units["rru"] += self._read_units(self._item_bytes(key), table.get("ConsistentRead", False))
        elif op in ("Query", "Scan"):
            body = response[2] if isinstance(response, tuple) and len(response) > 2 else b""
            self.units["rru"] += self._read_units(len(body or b""), params.get("ConsistentRead", False))

    @staticmethod
    def _read_units(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def bench_path(n: int = 100, *, batch1: bool = False) -> dict[str, Any]:
    """n messages through the whole path (see the module docstring), metered; batch1: each
    message alone, every batch one record."""
    facts = template_facts()
    with moto_without_its_own_costs():
        stack, key = new_stack()
        try:
            stack.callback_status = 200
            assert stack.request("PUT", "/v1/settings", body={"callback_url": "https://platform.example/hooks"}, headers=key)[0] == 200
            stack.drain()
            meter = Meter(stack)
            # Statuses reach the webhook after the send's answer (Meta's order), not inside the
            # sender's invocation as the in-process sandbox would deliver them: an overtaking
            # status makes the sender's accepted write fail its condition and write again.
            later: list[Any] = []
            stack.sandbox._spawn = later.append
            with meter.installed():
                meter.reset()
                if batch1:
                    for poller in stack.stream_pollers:
                        poller.source.batch_size = poller.limit = 1
                    for i in range(n):
                        assert stack.request("POST", "/v1/messages", body=message_body(i, "normal"), headers=key)[0] == 202
                        drain(stack, batch=1, later=later)
                else:
                    for i in range(n):
                        assert stack.request("POST", "/v1/messages", body=message_body(i, "normal"), headers=key)[0] == 202
                    drain(stack, later=later)
            delivered = sum(1 for m in stack.sandbox.messages if m["request"].get("to", "").startswith("+1415555"))
            callbacks = len(stack.callback_inbox)
            largest = max((item.size() for item in meter.table.all_items() if str(item.range_key.value).startswith("MSG")), default=0)
        finally:
            stack.stop()
    return summarize_path(meter, n, facts, delivered=delivered, callbacks=callbacks, largest_item=largest, batch1=batch1)


def drain(stack: Any, batch: int | None = None, later: list[Any] | None = None) -> None:
    """The stack's drain, at the template's batch sizes or at `batch`; `later`: the sandbox's
    webhooks held back until the invocation that sent the message has returned."""
    for _ in range(10_000):
        handled = sum(stack.poll_once(url, arn, batch or size, fn) for url, arn, size, fn in stack.queue_sources)
        while later:
            later.pop(0)()
            handled += 1
        handled += sum(stack.poll_stream_once(p) for p in stack.stream_pollers)
        if not handled:
            return


def invocation_ms(inv: Invocation, facts: dict[str, Any]) -> float:
    """What Lambda would bill for one invocation: our own CPU time at the deployed memory's CPU
    share, plus the assumed outside waits as the code's threads overlap them (Invocation.wait_ms;
    the callback posts' within the stream batch's budget)."""
    memory = facts["functions"][inv.function]["memory_mb"]
    cpu_scale = max(1.0, LAMBDA_MB_PER_VCPU / memory)
    from wa_notify.services.callbacks import POST_BUDGET_SECONDS

    waits = inv.wait_ms(POST_BUDGET_SECONDS * 1000 if inv.callbacks else None)
    return math.ceil(inv.own_s * 1000 * cpu_scale + waits)


def summarize_path(meter: Meter, n: int, facts: dict[str, Any], *, delivered: int, callbacks: int, largest_item: int, batch1: bool) -> dict[str, Any]:
    fns = facts["functions"]
    by_fn: dict[str, list[Invocation]] = defaultdict(list)
    for inv in meter.done:
        by_fn[inv.function].append(inv)
    requests: Counter[str] = Counter()
    for inv in meter.done:
        requests.update(inv.requests)
    ddb_ours = sum(v for k, v in requests.items() if k.startswith("dynamodb."))
    sqs_ours = sum(v for k, v in requests.items() if k.startswith("sqs."))
    sqs_pollers = sum(v for k, v in meter.outside.items() if k.startswith("sqs."))
    ddb_outside = sum(v for k, v in meter.outside.items() if k.startswith("dynamodb."))  # none expected: the stream is read from moto's memory
    per = {"dynamodb": round((ddb_ours + ddb_outside) / n, 2), "sqs": round((sqs_ours + sqs_pollers) / n, 2),
           "sqs_ours": round(sqs_ours / n, 2), "sqs_lambda_pollers": round(sqs_pollers / n, 2)}
    per["total"] = round(per["dynamodb"] + per["sqs"], 2)

    # Lambda: requests and GB-seconds per function, each invocation billed at its function's memory.
    lambda_cost = 0.0
    functions: dict[str, Any] = {}
    for name, invs in sorted(by_fn.items()):
        spec = fns[name]
        gb = spec["memory_mb"] / 1024
        price = PRICES[f"lambda_per_gb_second_{spec['architecture']}"]
        billed = [invocation_ms(inv, facts) for inv in invs]
        cost = len(invs) * PRICES["lambda_per_request"] + sum(billed) / 1000 * gb * price
        lambda_cost += cost
        own = sorted(inv.own_s * 1000 for inv in invs)
        functions[name] = {
            "invocations_per_message": round(len(invs) / n, 3),
            "records_per_invocation": round(statistics.mean(inv.records for inv in invs), 1),
            "own_ms_median": round(statistics.median(own), 2), "own_ms_p95": round(own[int(0.95 * (len(own) - 1))], 2),
            "moto_ms_median": round(statistics.median(inv.moto_s * 1000 for inv in invs), 2),
            "billed_ms_median": statistics.median(billed), "billed_ms_mean": round(statistics.mean(billed), 1),
            "outside_waits_ms_serial_mean": round(statistics.mean(sum(inv.waits_ms.values()) for inv in invs), 1),
            "outside_waits_ms_overlapped_mean": round(statistics.mean(inv.wait_ms() for inv in invs), 1),
            "pool_threads_per_invocation": round(statistics.mean(inv.threads_used for inv in invs), 1),
            "requests_per_invocation": {k: round(v / len(invs), 2) for k, v in sorted(sum((inv.requests for inv in invs), Counter()).items())},
            "log_bytes_per_invocation": round(statistics.mean(inv.log_bytes for inv in invs), 1),
            "memory_mb": spec["memory_mb"], "tracing": spec["tracing"],
            "cost_per_million_messages_usd": round(cost / n * 1e6, 3),
        }

    # Logs: ours, Lambda's lines per invocation, API Gateway's access line per API request.
    api_requests = len(by_fn.get("ApiFunction", []))
    ours_bytes = sum(inv.log_bytes for inv in meter.done)
    ours_events = sum(inv.log_events for inv in meter.done)
    platform = {name: platform_lines(facts, name) for name in by_fn}
    platform_bytes = sum(len("".join(platform[inv.function]).encode()) for inv in meter.done)
    platform_events = sum(len(platform[inv.function]) for inv in meter.done)
    access = access_log_line(facts.get("access_log_format"))
    log_bytes = (ours_bytes + platform_bytes + api_requests * len(access)
                 + LOG_EVENT_OVERHEAD_BYTES * (ours_events + platform_events + (api_requests if access else 0)))
    logs_cost = log_bytes / 1024**3 * PRICES["cloudwatch_logs_per_gb_ingested"]

    # X-Ray: traces Lambda's sampler starts at the assumed steady rate, per Active function.
    traces = 0.0
    for name, invs in by_fn.items():
        if fns[name]["tracing"] != "Active":
            continue
        per_s = len(invs) / n * XRAY_ASSUMED_MPS
        sampled = min(per_s, XRAY_SAMPLING["reservoir_per_s"]) + max(0.0, per_s - XRAY_SAMPLING["reservoir_per_s"]) * XRAY_SAMPLING["rate"]
        traces += sampled / XRAY_ASSUMED_MPS * n
    xray_cost = traces * PRICES["xray_per_trace_recorded"]

    gsi_wru = sum(v for k, v in meter.units.items() if k.startswith("gsi_wru:"))
    ddb_cost = (meter.units["wru"] + gsi_wru) * PRICES["dynamodb_per_write_unit"] + meter.units["rru"] * PRICES["dynamodb_per_read_unit"]
    sqs_cost = (sqs_ours + sqs_pollers) * PRICES["sqs_per_request"]
    api_cost = api_requests * PRICES["api_gateway_http_per_request"]
    breakdown = {"api_gateway": api_cost, "lambda": lambda_cost, "dynamodb": ddb_cost, "sqs": sqs_cost,
                 "cloudwatch_logs": logs_cost, "xray": xray_cost}
    total = sum(breakdown.values())
    return {
        "batch": "one message per batch" if batch1 else "template batch sizes (sender 10, stream 100)",
        "messages": n, "delivered": delivered, "callbacks_per_message": round(callbacks / n, 2),
        "requests_per_message": per,
        "by_operation": {k: round(v / n, 3) for k, v in sorted(requests.items())},
        "lambda_pollers_by_operation": {k: round(v / n, 3) for k, v in sorted(meter.outside.items())},
        "dynamodb_units_per_message": {k: round(v / n, 2) for k, v in sorted(meter.units.items())},
        "largest_message_item_bytes": largest_item,
        "lambda_invocations_per_message": round(len(meter.done) / n, 3),
        "functions": functions,
        "log_bytes_per_message": {"ours": round(ours_bytes / n, 1), "lambda_platform_lines": round(platform_bytes / n, 1),
                                  "api_access_log": round(api_requests * len(access) / n, 1), "billed_total": round(log_bytes / n, 1),
                                  "log_level": facts["log_level"], "log_format": sorted(facts["log_format"]),
                                  "system_log_level": sorted(facts["system_log_level"])},
        "xray_traces_per_message": round(traces / n, 4),
        "cost_per_million_usd": round(total / n * 1e6, 2),
        "cost_breakdown_per_million_usd": {k: round(v / n * 1e6, 3) for k, v in breakdown.items()},
        "observability_per_million_usd": round((logs_cost + xray_cost) / n * 1e6, 3),
    }


def bench_throttle_simulated() -> dict[str, Any] | None:
    """infra/bench/simulate.py's discrete-event run of the real pacer at 1,000/s, when it exists."""
    try:
        from infra.bench import simulate  # type: ignore[attr-defined]
    except ImportError:
        return None
    import inspect

    for name in ("bench_throttle_simulated", "simulate", "run", "throttle", "main"):
        fn = getattr(simulate, name, None)
        if not callable(fn):
            continue
        required = [p for p in inspect.signature(fn).parameters.values()
                    if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if required:
            continue
        result = fn()
        if isinstance(result, dict) and "ratio" in result:
            return {"source": f"infra/bench/simulate.py:{name}", **result}
    return None


def bench_priority(samples: int = 40, backlog: int = 5_000) -> dict[str, Any]:
    with moto_without_its_own_costs():
        return _bench_priority(samples, backlog)


def _bench_priority(samples: int, backlog: int) -> dict[str, Any]:
    from wa_notify.adapters.storage import keys as storage_keys
    from wa_notify.services.messages import enqueue

    from infra.local import stack as stack_module
    from infra.local.stack import urgent

    stack, key = new_stack()
    stack.sandbox.configure({"auto_status": False, "throughput_per_second": 80})
    received: dict[str, float] = {}
    original = stack.sandbox._send
    bucket_table = moto_table(stack.deps.store.table.name)
    bucket_key = storage_keys.bucket(storage_keys.number_scope(stack.dev_tenant["phone_number_id"]))

    def timing_send(pnid: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = original(pnid, payload)
        if status == 200:
            received[payload.get("biz_opaque_callback_data", "")] = time.monotonic()
        return status, body

    def bucket_lead_ms() -> float:
        """How far ahead of now the number's bucket is (GCRA's TAT): > 0 when bulk has it busy."""
        with stack_module._moto_lock:
            item = moto_item(bucket_table, {"pk": {"S": bucket_key[0]}, "sk": {"S": bucket_key[1]}})
        tat = int(item.attrs["tat"].value) if item is not None and "tat" in item.attrs else 0
        return (tat - time.time() * 1_000_000) / 1000

    stack.sandbox._send = timing_send
    stop = threading.Event()
    pool = [Worker(stack, "high", stop)]
    for w in pool:
        w.start()

    def measure(offset: int, leads: list[float] | None = None) -> list[float]:
        latencies = []
        for i in range(samples):
            if leads is not None:
                leads.append(bucket_lead_ms())
            t0 = time.monotonic()
            # The alert's intake is the API function's own container in AWS: like the high lane's
            # invocations (LocalStack.poll_once), its moto requests are not queued behind bulk's.
            with urgent():
                status, _, raw = stack.request("POST", "/v1/messages", body=message_body(offset + i, "high"), headers=key)
            message_id = json.loads(raw)["id"]
            while message_id not in received and time.monotonic() < t0 + 10:
                time.sleep(0.002)
            latencies.append((received.get(message_id, t0 + 10) - t0) * 1000)
            time.sleep(0.05)
        return latencies

    def bulk_depth() -> int:
        url = stack.deps.queues.lane_urls["bulk"]
        attrs = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def bulk_sent_now() -> int:
        return sum(1 for m in stack.sandbox.messages if m["request"].get("to", "").startswith("+1416"))

    def loaded_phase(offset: int, *, own_cpu: bool) -> dict[str, Any]:
        # own_cpu: the alert's path runs as its own containers would, on a CPU of its own: while it
        # works, bulk's threads finish the moto request they are in and wait at their next
        # (LaneFirstLock.urgent_runs_alone). Otherwise it shares the interpreter with bulk's threads
        # and only goes first at moto's lock.
        stack_module._moto_lock.urgent_runs_alone = own_cpu
        leads: list[float] = []
        sent_before, started = bulk_sent_now(), time.monotonic()
        try:
            latencies = measure(offset, leads)
        finally:
            stack_module._moto_lock.urgent_runs_alone = False
        return {"latencies": latencies, "bulk_per_s": round((bulk_sent_now() - sent_before) / (time.monotonic() - started), 1),
                "bucket_busy_share": round(sum(1 for lead in leads if lead > 0) / len(leads), 2),
                "bucket_lead_ms_median": round(statistics.median(leads), 1)}

    idle = measure(0)
    # The backlog: every message of it in the bulk queue before the first alert is timed.
    t0 = time.perf_counter()
    rows = bulk_rows(stack, backlog)
    enqueue(stack.deps, rows)
    queued_at_start = bulk_depth()
    setup_s = time.perf_counter() - t0
    bulk = [Worker(stack, "bulk", stop) for _ in range(2)]
    for w in bulk:
        w.start()
    time.sleep(3)  # bulk saturates the number's bucket first
    shared = loaded_phase(1_000, own_cpu=False)
    own = loaded_phase(2_000, own_cpu=True)
    queued_at_end = bulk_depth()
    bulk_sent = bulk_sent_now()
    stop.set()
    for w in [*pool, *bulk]:
        w.join()
    stack.stop()

    def p95(values: list[float]) -> float:
        return round(statistics.quantiles(values, n=20)[18], 1)

    return {"bulk_backlog": queued_at_start, "bulk_queued_after_measuring": queued_at_end, "bulk_sent_while_measuring": bulk_sent,
            "samples": samples, "backlog_setup_s": round(setup_s, 1), "load_average_1m": os.getloadavg()[0],
            "high_p95_ms_idle": p95(idle), "high_p95_ms_loaded": p95(own["latencies"]),
            "loaded_over_idle": round(p95(own["latencies"]) / p95(idle), 2),
            "loaded_alert_path_own_cpu": {k: v for k, v in own.items() if k != "latencies"},
            "high_p95_ms_loaded_one_interpreter": p95(shared["latencies"]),
            "loaded_one_interpreter": {k: v for k, v in shared.items() if k != "latencies"}}


def bench_cold_imports(runs: int = 5) -> dict[str, Any]:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": ""}

    def once(module: str) -> float:
        code = f"import time;t=time.perf_counter();import {module};print((time.perf_counter()-t)*1000)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)  # noqa: S603
        return float(out.stdout.strip())

    # Interleaved, so that the baseline and every handler see the same machine load.
    samples: dict[str, list[float]] = {name: [] for name in ("boto3", *function_names())}
    for _ in range(runs):
        for name in samples:
            samples[name].append(once(name if name == "boto3" else f"functions.{name}.app"))
    baseline = statistics.median(samples.pop("boto3"))
    result: dict[str, Any] = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    return {"cold_import_ms": result, "baseline_import_boto3_ms": round(baseline, 1),
            "worst_over_baseline": round(max(result.values()) / baseline, 2)}


def bench_render() -> dict[str, Any]:
    """The real render() of a stored template against Jinja2 filling the same texts."""
    import timeit

    import jinja2
    from wa_notify.domain.rendering import render
    from wa_notify.services import templates

    with moto_without_its_own_costs():
        stack, _ = new_stack()
        try:
            spec, stored = templates.load_spec(stack.deps, stack.dev_tenant["tenant_id"], "order_shipped", "en_US")
        finally:
            stack.stop()
    params = {"order_id": "A-1001", "first_name": "Ana", "total": "NT$1,580", "eta": "September 7"}
    buttons = {"0": "1Z999AA1"}
    ours = render(spec, params, buttons, to="+886912345678", callback_data="msg_01")
    source = json.loads((ROOT / "events/api/create_template.json").read_text())
    texts = [c["text"] for c in source["components"] if "text" in c] + [b["url"] for c in source["components"]
                                                                       for b in c.get("buttons", []) if "url" in b]
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - not HTML
    compiled = [env.from_string(t.replace("{{", "{{ ").replace("}}", " }}")) for t in texts]
    values = {**params, "tracking": buttons["0"]}
    jinja_out = [c.render(**values) for c in compiled]
    assert ours.body in jinja_out and (ours.header is None or ours.header in jinja_out), (ours.body, jinja_out)

    def theirs() -> list[str]:
        return [c.render(**values) for c in compiled]

    loops = 5_000
    ours_s = min(timeit.repeat(lambda: render(spec, params, buttons, to="+886912345678", callback_data="msg_01"), number=loops, repeat=5))
    theirs_s = min(timeit.repeat(theirs, number=loops, repeat=5))
    return {"ours": int(loops / ours_s), "jinja2": int(loops / theirs_s), "ratio": round(theirs_s / ours_s, 2),
            "what": "ours: render() of the stored template (header, body, footer, URL button, request built); "
                    "jinja2: the same four texts rendered, no request built"}


def bench_dispatch(reminders: int = 10_000) -> dict[str, Any]:
    """One dispatcher tick with `reminders` due, on the local stack (moto DynamoDB and SQS), timed."""
    from datetime import UTC, datetime, timedelta

    from wa_notify.adapters.dynamo import to_item
    from wa_notify.domain.ids import new_id
    from wa_notify.services import dispatch, messages

    with moto_without_its_own_costs():
        stack, _ = new_stack()
        try:
            deps, tenant = stack.deps, stack.dev_tenant
            at = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
            request = {"messaging_product": "whatsapp", "to": "+14155550000", "type": "template", "template": {"name": "order_shipped", "language": {"code": "en_US"}}}
            client = deps.store.table.client
            for k in range(0, reminders, 25):
                rows = [messages.build_item(deps, tenant["tenant_id"], message_id=new_id("msg"), to=f"+1417{i:07d}", template_ref={"name": "order_shipped", "language": "en_US", "category": "UTILITY"},
                                            request=request, priority="normal", send_at=at + timedelta(seconds=i % 60), metadata=None, now=deps.now(),
                                            phone_number_id=tenant["phone_number_id"]) for i in range(k, min(reminders, k + 25))]
                client.batch_write_item(RequestItems={deps.store.table.name: [{"PutRequest": {"Item": to_item(deps.store.messages.row(r))}} for r in rows]})
            requests: Counter[str] = Counter()
            moto = {"seconds": 0.0}
            started: dict[int, float] = {}

            def before(event_name: str, **_: Any) -> None:
                requests[event_name.split(".", 1)[1]] += 1
                started[threading.get_ident()] = time.perf_counter()

            def after(**_: Any) -> None:
                moto["seconds"] += time.perf_counter() - started.pop(threading.get_ident(), time.perf_counter())

            for c in (client, deps.queues.client):
                c.meta.events.register("before-call.*.*", before)
                c.meta.events.register("after-call.*.*", after)
            fn = next(f for f in stack.functions.values() if f.spec.scheduled)
            from infra.local.stack import scheduled_event

            t0 = time.perf_counter()
            result = fn.invoke(scheduled_event(at))
            wall = time.perf_counter() - t0
            lanes = stack.deps.queues.lane_urls
            queued = sum(int(stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
                         for url in lanes.values())
            _ = dispatch  # the tick is the dispatcher function's handler around dispatch.run
        finally:
            stack.stop()
    total = sum(requests.values())
    return {"reminders": reminders, "queued_in_lanes": queued, "result": result,
            "seconds": round(wall, 2), "moto_seconds": round(moto["seconds"], 2), "own_code_seconds": round(wall - moto["seconds"], 2),
            "requests": total, "requests_by_operation": dict(sorted(requests.items())), "requests_per_reminder": round(total / reminders, 3)}


@dataclass
class Target:
    field: str
    target: str
    measured: Any
    met: bool | None   # None: not measured in this run (see note)
    by: str = ""       # how far off, when missed
    note: str = ""


def targets(r: dict[str, Any]) -> list[Target]:
    def over(value: float, bound: float) -> str:
        return f"{value - bound:+.2f} ({value / bound:.2f}x the bound)"

    rpm, rpm1 = r["requests_per_message"], r["requests_per_message_batch1"]
    th, pr, d = r["throttle"], r["priority"], r["dispatch"]
    out = [
        Target("cost_per_million_usd", "<= 8", r["cost_per_million_usd"], r["cost_per_million_usd"] <= 8, over(r["cost_per_million_usd"], 8)),
        Target("cost_per_million_usd_batch1", "<= 15", r["cost_per_million_usd_batch1"], r["cost_per_million_usd_batch1"] <= 15,
               over(r["cost_per_million_usd_batch1"], 15)),
        Target("observability_per_million_usd (logs + X-Ray)", "< 0.50", r["observability_per_million_usd"], r["observability_per_million_usd"] < 0.5,
               over(r["observability_per_million_usd"], 0.5)),
        Target("lambda_memory_mb", "what the template deploys", r["lambda_memory_mb"], True, "", "read from template.yaml"),
        Target("requests_per_message.dynamodb", "<= 7", rpm["dynamodb"], rpm["dynamodb"] <= 7, over(rpm["dynamodb"], 7), f"batch 1: {rpm1['dynamodb']}"),
        Target("requests_per_message.sqs", "<= 2", rpm["sqs"], rpm["sqs"] <= 2, over(rpm["sqs"], 2), f"batch 1: {rpm1['sqs']}"),
        Target("throttle", "80/s, ratio >= 0.95, 0 errors", {k: th[k] for k in ("limit_per_s", "ratio", "provider_rate_limit_errors")},
               th["ratio"] >= 0.95 and th["provider_rate_limit_errors"] == 0, f"ratio {th['ratio']} ({th['achieved_per_s']}/s)"),
    ]
    sim = r.get("throttle_simulated")
    if sim:
        out.append(Target("throttle_simulated", "1000/s, ratio >= 0.95, 0 errors", sim,
                          sim.get("limit_per_s") == 1000 and sim["ratio"] >= 0.95 and sim["provider_rate_limit_errors"] == 0))
    else:
        out.append(Target("throttle_simulated", "1000/s, ratio >= 0.95, 0 errors", None, None, "",
                          "infra/bench/simulate.py did not exist (or returned nothing) when this ran"))
    loaded_ok = pr["high_p95_ms_loaded"] <= 500 and pr["loaded_over_idle"] <= 1.5
    out += [
        Target("priority", ">= 5000 backlog; loaded p95 <= 500 ms and <= 1.5x idle",
               {k: pr[k] for k in ("bulk_backlog", "high_p95_ms_idle", "high_p95_ms_loaded", "loaded_over_idle")},
               pr["bulk_backlog"] >= 5000 and loaded_ok,
               "" if loaded_ok else f"loaded {pr['high_p95_ms_loaded']} ms, {pr['loaded_over_idle']}x idle"),
        Target("cold_import_ms", "worst <= 1.5x boto3", {"worst_over_baseline": r["worst_over_baseline"], "baseline_import_boto3_ms": r["baseline_import_boto3_ms"]},
               r["worst_over_baseline"] <= 1.5, over(r["worst_over_baseline"], 1.5)),
        Target("cold_start_ms", "worst <= 2x boto3", {k: r["cold_start_ms"][k] for k in ("worst", "worst_over_baseline", "baseline_import_boto3_ms")},
               r["cold_start_ms"]["worst_over_baseline"] <= 2, over(r["cold_start_ms"]["worst_over_baseline"], 2)),
        Target("render_per_s", "ours >= 5x jinja2", r["render_per_s"], r["render_per_s"]["ratio"] >= 5, over(r["render_per_s"]["ratio"], 5)),
        Target("dispatch", "10,000 reminders, <= 60 s measured, <= 0.3 requests each",
               {k: d[k] for k in ("reminders", "seconds", "requests_per_reminder")},
               d["reminders"] >= 10_000 and d["seconds"] <= 60 and d["requests_per_reminder"] <= 0.3,
               f"{d['seconds']} s, {d['requests_per_reminder']} requests each"),
    ]
    for t in out:
        if t.met:
            t.by = ""
    return out


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    facts = template_facts()
    memories = {name: f["memory_mb"] for name, f in facts["functions"].items()}
    report: dict[str, Any] = {"method": (__doc__ or "").split("How each figure is taken", 1)[1].strip(), "quick": quick,
                              "prices_usd": PRICES, "assumed_outside_waits_ms": ASSUMED_MS,
                              "assumed": {"cpu_share": f"own time x {LAMBDA_MB_PER_VCPU}/memory_mb (one vCPU at {LAMBDA_MB_PER_VCPU} MB)",
                                          "xray": {**XRAY_SAMPLING, "steady_messages_per_s": XRAY_ASSUMED_MPS},
                                          "log_event_overhead_bytes": LOG_EVENT_OVERHEAD_BYTES,
                                          "not_per_message": "Lambda's idle long polls of empty queues, CloudWatch custom metrics "
                                                             "(per metric a month), alarms, the dashboard, Secrets Manager reads "
                                                             "(once per container), init durations of cold starts"},
                              "lambda_memory_mb": next(iter(set(memories.values()))) if len(set(memories.values())) == 1 else memories,
                              "lambda_memory_mb_by_function": memories,
                              "lambda_architecture_by_function": {n: f["architecture"] for n, f in facts["functions"].items()},
                              "tracing_by_function": {n: f["tracing"] for n, f in facts["functions"].items()}}
    steps = [
        ("render_per_s", bench_render),
        ("cold", bench_cold_imports),
        ("cold_start_ms", lambda: bench_cold_start(3 if quick else 5)),
        ("path", lambda: bench_path(30 if quick else 200)),
        ("path_batch1", lambda: bench_path(10 if quick else 50, batch1=True)),
        ("dispatch", lambda: bench_dispatch(1_000 if quick else 10_000)),
        ("throttle", lambda: bench_throttle(300 if quick else 1_000)),
        ("throttle_simulated", bench_throttle_simulated),
        ("priority", lambda: bench_priority(15 if quick else 40, 500 if quick else 5_000)),
    ]
    timings = {}
    for name, step in steps:
        t0 = time.perf_counter()
        value = step()
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"[bench] {name}: {timings[name]:.0f} s", flush=True)
        if name == "cold" and value:
            report.update(value)
        else:
            report[name] = value
    report["requests_per_message"] = report["path"]["requests_per_message"]
    report["requests_per_message_batch1"] = report["path_batch1"]["requests_per_message"]
    report["cost_per_million_usd"] = report["path"]["cost_per_million_usd"]
    report["cost_per_million_usd_batch1"] = report["path_batch1"]["cost_per_million_usd"]
    report["observability_per_million_usd"] = report["path"]["observability_per_million_usd"]
    report["seconds_per_step"] = timings
    report["targets"] = [t.__dict__ for t in targets(report)]
    OUT.mkdir(exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(table(report))
    return 0


def table(r: dict[str, Any]) -> str:
    p, p1 = r["path"], r["path_batch1"]
    rpm, rpm1 = p["requests_per_message"], p1["requests_per_message"]
    th, pr, d = r["throttle"], r["priority"], r["dispatch"]
    sim = r.get("throttle_simulated")
    rows = [
        ("cost/million", f"${r['cost_per_million_usd']} full batches, ${r['cost_per_million_usd_batch1']} at batch 1 "
                         f"({', '.join(f'{k} ${v:.2f}' for k, v in p['cost_breakdown_per_million_usd'].items())})"),
        ("logs + X-Ray", f"${r['observability_per_million_usd']}/M: {p['log_bytes_per_message']['billed_total']} log bytes/message "
                         f"(ours {p['log_bytes_per_message']['ours']} at {p['log_bytes_per_message']['log_level']}), "
                         f"{p['xray_traces_per_message']} traces/message"),
        ("lambda memory", f"{r['lambda_memory_mb']} MB (template), billed ms median: "
                          + ", ".join(f"{k.removesuffix('Function')} {v['billed_ms_median']}" for k, v in p["functions"].items())),
        ("requests/message", f"DynamoDB {rpm['dynamodb']}, SQS {rpm['sqs']} (ours {rpm['sqs_ours']}, pollers {rpm['sqs_lambda_pollers']}); "
                             f"batch 1: DynamoDB {rpm1['dynamodb']}, SQS {rpm1['sqs']}"),
        ("throttle", f"{th['achieved_per_s']}/s of {th['limit_per_s']}/s (ratio {th['ratio']}), {th['provider_rate_limit_errors']} rate-limit errors"),
        ("throttle simulated", f"{sim['limit_per_s']}/s: ratio {sim['ratio']}, {sim['provider_rate_limit_errors']} errors" if sim else "n/a (no infra/bench/simulate.py)"),
        ("priority", f"high p95 {pr['high_p95_ms_idle']} ms idle, {pr['high_p95_ms_loaded']} ms with {pr['bulk_backlog']:,} bulk queued "
                     f"({pr['loaded_over_idle']}x)"),
        ("cold import", f"worst {r['worst_over_baseline']}x boto3 ({r['baseline_import_boto3_ms']} ms): "
                        + ", ".join(f"{k} {v}" for k, v in r["cold_import_ms"].items())),
        ("cold start", f"worst {r['cold_start_ms']['worst_over_baseline']}x boto3 ({r['cold_start_ms']['baseline_import_boto3_ms']} ms): "
                       + ", ".join(f"{k} {v}" for k, v in r["cold_start_ms"]["per_function"].items())),
        ("render", f"render() {r['render_per_s']['ours']:,}/s vs Jinja2 {r['render_per_s']['jinja2']:,}/s ({r['render_per_s']['ratio']}x)"),
        ("dispatch", f"{d['reminders']:,} reminders in {d['seconds']} s measured (moto {d['moto_seconds']} s), {d['requests_per_reminder']} requests each"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure'.ljust(width)} | measured |", f"|{'-' * (width + 2)}|----------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    lines += ["", "| target | bound | met | by |", "|---|---|---|---|"]
    lines += [f"| {t['field']} | {t['target']} | {'n/a' if t['met'] is None else ('met' if t['met'] else 'MISSED')} | {t['by'] or t['note']} |"
              for t in r["targets"]]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
