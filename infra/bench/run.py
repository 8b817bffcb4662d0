"""`make bench`: the numbers customers judge us by, measured on the local stack (moto in
process, the sandbox WhatsApp). Prints a table and writes .bench/report.json.

How each figure is taken (also written into the report under `method`):
- throttle: 1,000 bulk messages already queued; 3 sender workers (threads calling the real
  handler, like 3 Lambda containers) drain the lane against the sandbox, which enforces
  WhatsApp's 80/s per number and answers 130429 beyond it. achieved_mps is the sandbox's
  accepted sends per second after the first 2 s (the first second is the burst).
- priority: high-lane messages posted through the real API one at a time, timed from accept
  to the sandbox receiving them: first idle, then with a 5,000-message bulk backlog that
  is fed to the bulk lane in waves of 100 (moto scans the whole queue on every SQS call, so
  a 5,000-deep moto queue would time moto, not us) while 2 bulk workers drain it. moto
  deep-copies the whole table for every item of a transaction (seconds with the backlog's
  5,000 rows), so here its transactions snapshot only the items they touch
  (`moto_transactions_without_table_copies`).
- requests_per_message: every AWS request our code makes, counted through botocore, for
  messages taken from accept to sent, delivered, read and the platform's callbacks; the
  SQS requests of Lambda's own pollers (receive, delete) are counted apart and included.
- cost_per_million_usd: those counts at the public on-demand prices below.
- cold_import_ms: each handler module imported in a fresh interpreter, median of 5; the
  baseline is a bare `import boto3` measured the same way, interleaved with them.
- render_per_s: our pre-split fill against Jinja2's compiled render, same string-only
  template and values, best of 5 timed loops.
- dispatch: 10,000 scheduled messages due in one minute, one dispatcher tick; DynamoDB is
  moto, the send lanes a counting stub (10,000 messages in a moto queue would time moto's
  queue scans). seconds is our own time plus each request at a typical in-region latency.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from infra.bench import quiet_local_env  # noqa: E402

quiet_local_env("WARNING")

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".bench"

# Public on-demand prices, us-east-1, checked 2026-11 (aws.amazon.com/<service>/pricing):
PRICES = {
    "api_gateway_http_per_request": 1.00 / 1e6,    # HTTP API, first 300 M requests/month
    "lambda_per_request": 0.20 / 1e6,
    "lambda_per_gb_second_arm": 0.0000133334,       # arm64
    "dynamodb_per_write_unit": 0.625 / 1e6,         # on-demand WRU (1 KB); a transactional item costs 2
    "dynamodb_per_read_unit": 0.125 / 1e6,          # on-demand RRU (4 KB strongly consistent, or 2 eventual reads)
    "sqs_per_request": 0.40 / 1e6,                  # standard queue, per 64 KB chunk
}
LAMBDA_MEMORY_GB = 0.25  # template.yaml MemorySize 256 (arm64)
TYPICAL_MS = {"dynamodb": 6.0, "sqs": 10.0}  # in-region request latency used for the dispatch estimate
FUNCTIONS = ("api", "webhook", "sender", "status", "callback", "dispatcher")


def new_stack() -> Any:
    from wa_notify.services import statuses, tenants

    from infra.local.stack import LocalStack

    tenants.clear_key_cache()
    statuses._tenant_by_pnid.clear()
    stack = LocalStack().start(serve=False)
    key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    assert stack.request("POST", "/v1/templates", body=template, headers=key)[0] == 201
    stack.drain()
    return stack, key


def message_body(i: int, priority: str) -> dict[str, Any]:
    body = json.loads((ROOT / "events/api/create_message.json").read_text())
    return {**body, "to": f"+1415555{i:04d}", "priority": priority}


def bulk_rows(stack: Any, n: int, start: int = 0) -> list[dict[str, Any]]:
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
    stop = threading.Event()
    pool = [Worker(stack, "bulk", stop) for _ in range(workers)]
    for w in pool:
        w.start()
    deadline = time.monotonic() + n / limit + 30
    while len(stack.sandbox.messages) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    for w in pool:
        w.join()
    times = sorted(times)
    steady = [t for t in times if t >= times[0] + 2.0]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else 0.0
    stack.stop()
    return {"limit_mps": limit, "messages": len(times), "achieved_mps": round(achieved, 1), "ratio": round(achieved / limit, 3),
            "provider_rate_limit_errors": refused.get(130429, 0) + refused.get(131056, 0)}


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
        real_copy, ddb_models.copy = ddb_models.copy, NoCopy  # moto's own rollback then keeps the same table
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

    backend_cls.transact_write_items = transact_write_items
    try:
        yield
    finally:
        backend_cls.transact_write_items = original


def bench_priority(samples: int = 40, backlog: int = 5_000) -> dict[str, Any]:
    with moto_transactions_without_table_copies():
        return _bench_priority(samples, backlog)


def _bench_priority(samples: int, backlog: int) -> dict[str, Any]:
    from wa_notify.services.messages import enqueue

    stack, key = new_stack()
    stack.sandbox.configure({"auto_status": False, "throughput_per_second": 80})
    received: dict[str, float] = {}
    original = stack.sandbox._send

    def timing_send(pnid: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = original(pnid, payload)
        if status == 200:
            received[payload.get("biz_opaque_callback_data", "")] = time.monotonic()
        return status, body

    stack.sandbox._send = timing_send
    stop = threading.Event()
    pool = [Worker(stack, "high", stop)]
    for w in pool:
        w.start()

    def measure(offset: int) -> list[float]:
        latencies = []
        for i in range(samples):
            t0 = time.monotonic()
            status, _, raw = stack.request("POST", "/v1/messages", body=message_body(offset + i, "high"), headers=key)
            message_id = json.loads(raw)["id"]
            while message_id not in received and time.monotonic() < t0 + 10:
                time.sleep(0.002)
            latencies.append((received.get(message_id, t0 + 10) - t0) * 1000)
            time.sleep(0.05)
        return latencies

    idle = measure(0)
    # The backlog: written up front, fed to the bulk lane in waves of 100 as it drains.
    rows = bulk_rows(stack, backlog)
    feeder_stop = threading.Event()

    def feed() -> None:
        url = stack.deps.queues.lane_urls["bulk"]
        k = 0
        while k < len(rows) and not feeder_stop.is_set():
            depth = int(stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
            if depth < 100:
                enqueue(stack.deps, rows[k : k + 100])
                k += 100
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    bulk = [Worker(stack, "bulk", stop) for _ in range(2)]
    for w in bulk:
        w.start()
    time.sleep(3)  # bulk saturates the number's bucket first
    loaded = measure(1_000)
    bulk_sent = sum(1 for m in stack.sandbox.messages if m["request"].get("to", "").startswith("+1416"))
    feeder_stop.set()
    stop.set()
    for w in [*pool, *bulk]:
        w.join()
    stack.stop()

    def p95(values: list[float]) -> float:
        return round(statistics.quantiles(values, n=20)[18], 1)

    return {"bulk_backlog": backlog, "bulk_sent_while_measuring": bulk_sent, "samples": samples,
            "high_p95_ms_idle": p95(idle), "high_p95_ms_loaded": p95(loaded),
            "loaded_over_idle": round(p95(loaded) / p95(idle), 2)}


def bench_requests(n: int = 50) -> dict[str, Any]:
    stack, key = new_stack()
    stack.callback_status = 200
    assert stack.request("PUT", "/v1/settings", body={"callback_url": "https://platform.example/hooks"}, headers=key)[0] == 200
    counts: Counter[str] = Counter()
    units = Counter()

    # A write costs one unit per started KB of the larger of the item before and after it, two
    # in a transaction. Sizes are read from moto's own table (its DynamoDB item-size rule), not
    # through the API, so they cost no request.
    table = moto_table(stack.deps.store.table.name)
    pending_writes = threading.local()

    def item_bytes(key: dict[str, Any]) -> int:
        found = moto_item(table, key)
        return found.size() if found else 0

    def price_writes(**_: Any) -> None:
        for key, transactional, before in getattr(pending_writes, "keys", []):
            units["wru"] += (2 if transactional else 1) * max(1, -(-max(before, item_bytes(key)) // 1024))
        pending_writes.keys = []

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        service, op = event_name.split(".")[1:3]
        counts[f"{service}.{op}"] += 1
        if service == "dynamodb":
            if op in ("TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"):
                pending_writes.keys = [(key, transactional, item_bytes(key)) for key, transactional in written_keys(op, params)]
            elif op == "BatchWriteItem":
                units["wru"] += sum(len(v) for v in params.get("RequestItems", {}).values())
            elif op == "GetItem":
                units["rru"] += 1 if params.get("ConsistentRead") else 0.5
            else:
                units["rru"] += 1

    for client in (stack.deps.store.table.client, stack.deps.queues.client):
        client.meta.events.register("before-parameter-build.*.*", lambda event_name, params, **kw: count(event_name.replace("before-parameter-build", "x"), params))
    stack.deps.store.table.client.meta.events.register("after-call.dynamodb.*", price_writes)
    pollers = Counter()
    stack.sqs.meta.events.register("before-call.sqs.*", lambda event_name, **_: pollers.update([event_name.split(".")[2]]))
    invocations_before = {name: fn.invocations for name, fn in stack.functions.items()}
    for i in range(n):
        assert stack.request("POST", "/v1/messages", body=message_body(i, "normal"), headers=key)[0] == 202
    stack.drain()
    invocations = {name: fn.invocations - invocations_before[name] for name, fn in stack.functions.items()}
    callbacks = len(stack.callback_inbox)
    largest = max(item.size() for item in table.all_items() if str(item.range_key.value).startswith("MSG"))
    stack.stop()
    ddb = sum(v for k, v in counts.items() if k.startswith("dynamodb"))
    sqs_ours = sum(v for k, v in counts.items() if k.startswith("sqs"))
    sqs_pollers = sum(pollers.values())
    # In AWS, Lambda's pollers make the receives and deletes; locally the stack's poller does,
    # in batches like Lambda's, so they are counted as they would be billed.
    per = {"dynamodb": round(ddb / n, 2), "sqs": round((sqs_ours + sqs_pollers) / n, 2),
           "sqs_ours": round(sqs_ours / n, 2), "sqs_pollers": round(sqs_pollers / n, 2)}
    per["total"] = round(per["dynamodb"] + per["sqs"], 2)
    # API Gateway: the send request plus Meta's three status webhooks.
    api_requests = 1 + 3
    lambda_invocations = sum(invocations.values()) / n
    cost = (api_requests * PRICES["api_gateway_http_per_request"]
            + lambda_invocations * (PRICES["lambda_per_request"] + LAMBDA_MEMORY_GB * 0.05 * PRICES["lambda_per_gb_second_arm"])
            + units["wru"] / n * PRICES["dynamodb_per_write_unit"] + units["rru"] / n * PRICES["dynamodb_per_read_unit"]
            + per["sqs"] * PRICES["sqs_per_request"])
    return {
        "requests_per_message": {**per, "by_operation": {k: round(v / n, 2) for k, v in sorted(counts.items())},
                                 "pollers_by_operation": {k: round(v / n, 2) for k, v in sorted(pollers.items())},
                                 "callbacks_per_message": round(callbacks / n, 2),
                                 "lambda_invocations_per_message": round(lambda_invocations, 2),
                                 "dynamodb_units_per_message": {k: round(v / n, 2) for k, v in units.items()},
                                 "largest_message_item_bytes": largest},
        "cost_per_million_usd": round(cost * 1e6, 2),
        "cost_breakdown_per_million_usd": {
            "api_gateway": round(api_requests * PRICES["api_gateway_http_per_request"] * 1e6, 2),
            "lambda": round(lambda_invocations * (PRICES["lambda_per_request"] + LAMBDA_MEMORY_GB * 0.05 * PRICES["lambda_per_gb_second_arm"]) * 1e6, 2),
            "dynamodb": round((units["wru"] / n * PRICES["dynamodb_per_write_unit"] + units["rru"] / n * PRICES["dynamodb_per_read_unit"]) * 1e6, 2),
            "sqs": round(per["sqs"] * PRICES["sqs_per_request"] * 1e6, 2),
        },
    }


def bench_cold_imports(runs: int = 5) -> dict[str, Any]:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": ""}

    def once(module: str) -> float:
        code = f"import time;t=time.perf_counter();import {module};print((time.perf_counter()-t)*1000)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)  # noqa: S603
        return float(out.stdout.strip())

    # Interleaved, so that the baseline and every handler see the same machine load.
    samples: dict[str, list[float]] = {name: [] for name in ("boto3", *FUNCTIONS)}
    for _ in range(runs):
        for name in samples:
            samples[name].append(once(name if name == "boto3" else f"functions.{name}.app"))
    baseline = statistics.median(samples.pop("boto3"))
    result: dict[str, Any] = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    return {"cold_import_ms": result, "baseline_import_boto3_ms": round(baseline, 1),
            "worst_over_baseline": round(max(result.values()) / baseline, 2)}


def bench_render() -> dict[str, Any]:
    import timeit

    import jinja2
    from wa_notify.domain.rendering import fill

    text = "Hi {{first_name}}, your order {{order_id}} of {{total}} is on its way and should arrive {{eta}}. Track it at {{link}}."
    values = {"first_name": "Ana", "order_id": "A-1001", "total": "NT$1,580", "eta": "September 7", "link": "https://t.example/1Z9"}
    compiled = jinja2.Environment(autoescape=False).from_string(text.replace("{{", "{{ ").replace("}}", " }}"))  # noqa: S701 - not HTML
    assert fill(text, values) == compiled.render(**values)
    loops = 20_000
    ours = min(timeit.repeat(lambda: fill(text, values), number=loops, repeat=5))
    theirs = min(timeit.repeat(lambda: compiled.render(**values), number=loops, repeat=5))
    return {"ours": int(loops / ours), "jinja2": int(loops / theirs), "ratio": round(theirs / ours, 1)}


def bench_dispatch(reminders: int = 10_000) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from wa_notify.adapters.dynamo import to_item
    from wa_notify.domain.ids import new_id
    from wa_notify.services import dispatch, messages

    stack, _ = new_stack()
    deps, tenant = stack.deps, stack.dev_tenant
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    request = {"messaging_product": "whatsapp", "to": "+14155550000", "type": "template", "template": {"name": "order_shipped", "language": {"code": "en_US"}}}
    client = deps.store.table.client
    for k in range(0, reminders, 25):
        rows = [messages.build_item(deps, tenant["tenant_id"], message_id=new_id("msg"), to=f"+1417{i:07d}", template_ref={"name": "order_shipped", "language": "en_US", "category": "UTILITY"},
                                    request=request, priority="normal", send_at=at + timedelta(seconds=i % 60), metadata=None, now=deps.now(),
                                    phone_number_id=tenant["phone_number_id"]) for i in range(k, min(reminders, k + 25))]
        client.batch_write_item(RequestItems={deps.store.table.name: [{"PutRequest": {"Item": to_item(deps.store.messages.row(r))}} for r in rows]})

    class CountingLanes:
        """The send lanes as a counting stub (see the module docstring)."""

        def __init__(self) -> None:
            self.requests = 0
            self.jobs = 0

        def send_lane_many(self, lane: str, bodies: list[dict[str, Any]]) -> list[int]:
            self.requests += -(-len(bodies) // 10)
            self.jobs += len(bodies)
            return []

    lanes = CountingLanes()
    deps._queues = lanes
    aws = {"count": 0, "seconds": 0.0}
    started: dict[int, float] = {}

    def before(**kw: Any) -> None:
        started[threading.get_ident()] = time.perf_counter()

    def after(**kw: Any) -> None:
        aws["count"] += 1
        aws["seconds"] += time.perf_counter() - started.pop(threading.get_ident(), time.perf_counter())

    client.meta.events.register("before-call.dynamodb.*", before)
    client.meta.events.register("after-call.dynamodb.*", after)
    t0 = time.perf_counter()
    result = dispatch.run(deps, at)
    wall = time.perf_counter() - t0
    stack.stop()
    own = wall - aws["seconds"]
    requests = aws["count"] + lanes.requests
    estimated = own + aws["count"] * TYPICAL_MS["dynamodb"] / 1000 + lanes.requests * TYPICAL_MS["sqs"] / 1000
    return {"reminders": reminders, "enqueued": lanes.jobs, "released": result.get("promoted", 0),
            "seconds": round(estimated, 2), "own_code_seconds": round(own, 2), "moto_seconds": round(aws["seconds"], 2),
            "requests": requests, "requests_per_reminder": round(requests / reminders, 3)}


TARGETS = {
    "throttle ratio >= 0.95, 0 rate-limit errors": lambda r: r["throttle"]["ratio"] >= 0.95 and r["throttle"]["provider_rate_limit_errors"] == 0,
    "high p95 <= 500 ms loaded and <= 1.5x idle": lambda r: r["priority"]["high_p95_ms_loaded"] <= 500 and r["priority"]["loaded_over_idle"] <= 1.5,
    "<= 6 DynamoDB requests per message": lambda r: r["requests_per_message"]["dynamodb"] <= 6,
    "<= 4 SQS requests per message": lambda r: r["requests_per_message"]["sqs"] <= 4,
    "<= $10 AWS per million messages": lambda r: r["cost_per_million_usd"] <= 10,
    "cold import <= 1.5x boto3": lambda r: r["worst_over_baseline"] <= 1.5,
    "render >= 5x Jinja2": lambda r: r["render_per_s"]["ratio"] >= 5,
    "10,000 reminders in one minute, <= 0.3 requests each": lambda r: r["dispatch"]["seconds"] < 60 and r["dispatch"]["requests_per_reminder"] <= 0.3,
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    report: dict[str, Any] = {"method": __doc__.split("How each figure is taken", 1)[1].strip(), "prices_usd": PRICES}
    steps = [
        ("render_per_s", bench_render),
        ("cold", bench_cold_imports),
        ("requests", lambda: bench_requests(20 if quick else 50)),
        ("dispatch", lambda: bench_dispatch(1_000 if quick else 10_000)),
        ("throttle", lambda: bench_throttle(300 if quick else 1_000)),
        # moto's UpdateItem costs ~15 ms here, so 80/s is beyond what the substrate can carry;
        # the same run at a limit moto can keep up with shows the pacer itself.
        ("throttle_within_moto", lambda: bench_throttle(150 if quick else 300, limit=10)),
        ("priority", lambda: bench_priority(15 if quick else 40, 500 if quick else 5_000)),
    ]
    for name, step in steps:
        t0 = time.perf_counter()
        value = step()
        print(f"[bench] {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        if name in ("cold", "requests"):
            report.update(value)
        else:
            report[name] = value
    report["targets"] = {name: bool(check(report)) for name, check in TARGETS.items()}
    OUT.mkdir(exist_ok=True)
    (OUT / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    return 0


def table(r: dict[str, Any]) -> str:
    rpm = r["requests_per_message"]
    rows = [
        ("throttle", f"{r['throttle']['achieved_mps']}/s of {r['throttle']['limit_mps']}/s (ratio {r['throttle']['ratio']}), "
                     f"{r['throttle']['provider_rate_limit_errors']} rate-limit errors; at {r['throttle_within_moto']['limit_mps']}/s: "
                     f"ratio {r['throttle_within_moto']['ratio']}, {r['throttle_within_moto']['provider_rate_limit_errors']} errors"),
        ("priority", f"high p95 {r['priority']['high_p95_ms_idle']} ms idle, {r['priority']['high_p95_ms_loaded']} ms with "
                     f"{r['priority']['bulk_backlog']} bulk queued ({r['priority']['loaded_over_idle']}x)"),
        ("requests/message", f"DynamoDB {rpm['dynamodb']}, SQS {rpm['sqs']} (ours {rpm['sqs_ours']}, pollers {rpm['sqs_pollers']}), total {rpm['total']}"),
        ("cost/million", f"${r['cost_per_million_usd']} ({', '.join(f'{k} ${v}' for k, v in r['cost_breakdown_per_million_usd'].items())})"),
        ("cold import", f"worst {r['worst_over_baseline']}x boto3 ({r['baseline_import_boto3_ms']} ms): "
                        + ", ".join(f"{k} {v}" for k, v in r["cold_import_ms"].items())),
        ("render", f"{r['render_per_s']['ours']:,}/s vs Jinja2 {r['render_per_s']['jinja2']:,}/s ({r['render_per_s']['ratio']}x)"),
        ("dispatch", f"{r['dispatch']['reminders']:,} reminders in {r['dispatch']['seconds']} s, {r['dispatch']['requests_per_reminder']} requests each"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'figure'.ljust(width)} | measured |", f"|{'-' * (width + 2)}|----------|"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    lines += ["", "targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in r["targets"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
