"""`make soak N=...`: the chaos suite at a chosen size; writes .bench/soak.json (or --out PATH).

Everything at once, on the real handlers in process (moto, the sandbox WhatsApp, a fake
clock that the sender's short waits advance):
- WhatsApp answers 30% of sends with 130429 (as HTTP 400 or 429), HTTP 500 or a refused
  connection, and accepts 2% but loses the answer (connection reset after acceptance);
- every send job reaches SQS 2-3 times and the lanes are drained by 4 concurrent workers;
- senders die, 2% of messages (at least 2 per point), half of them mid-batch holding the
  lease before calling WhatsApp, half right after WhatsApp accepted (before recording it):
  their batch is not deleted, so SQS redelivers it;
- the dispatcher is fired twice, overlapping, every round; 5% of messages get a cancel
  racing the workers;
- status webhooks (sent, delivered, read per message) arrive reordered, 30% duplicated,
  in batches of 1-50, and 10% of posts fail inside our handler (DynamoDB throttles a status
  write half-way: answered 503) and are posted again later, as Meta does;
- poison records (not JSON, or JSON that is no job) are put on every send lane and the
  callback retry queue; the queues' visibility timeout is cut to 1 s so that SQS redelivers them,
  and also redelivers any batch a slow worker still holds, to another worker.
Messages arrive in waves of 1,000, each followed by a round, as traffic does: moto scans a
whole queue on every receive and delete, so 25,000 jobs queued at once would time moto.

Invariants: every accepted message ends terminal (lost = 0), no message is sent twice
(duplicate_sends = 0), no status goes down (downgrades = 0), no lease is left expired
(orphans = 0), a message whose cancel was answered 200 is never sent, and every poison
record ends in its queue's DLQ after maxReceiveCount (poison_in_dlq = poison_injected).
`seconds` (the whole run) and `max_rss_mb` (the process's peak) say what it cost.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.bench import quiet_local_env  # noqa: E402

quiet_local_env("ERROR")

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"sent", "delivered", "read", "failed", "cancelled"}
RANK = {"sent": 1, "delivered": 2, "read": 3}


class SenderKilled(BaseException):
    """A Lambda container dying mid-invocation: not an Exception, so no handler code catches it."""


class ThrottleOnce:
    """A store write that passes `after` times, then raises DynamoDB's throttling error once."""

    def __init__(self, real: Any, after: int) -> None:
        self.real, self.left = real, after

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.left -= 1
        if self.left == -1:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "chaos"}}, "UpdateItem")
        return self.real(*args, **kwargs)


WAVE = 1_000  # messages per wave of intake (see the module docstring)
KILL_POINTS = ("before_send", "after_accept")


def run(n: int = 200, seed: int = 7) -> dict[str, Any]:
    from infra.bench.moto_speed import attribute_values_serialized_directly, retention_read_directly
    from infra.bench.run import moto_transactions_without_table_copies

    # moto's own costs, not AWS's, taken out so that N=10,000 fits (docs/decisions.md): a
    # whole-table deep copy per transaction item, a slow serializer for item values, and
    # queue scans for each message received.
    with moto_transactions_without_table_copies(), attribute_values_serialized_directly(), retention_read_directly():
        return _run(n, seed)


def _run(n: int, seed: int) -> dict[str, Any]:
    from wa_notify.adapters.cloud_api import Accepted
    from wa_notify.domain import signatures
    from wa_notify.services import dispatch, statuses, tenants
    from wa_notify.services.deps import epoch_ms

    from infra.bench.run import Worker, moto_table
    from infra.local.sandbox import Fault
    from infra.local.stack import LocalStack, _moto_lock

    run_started = time.perf_counter()
    rng = random.Random(seed)
    tenants.clear_key_cache()
    statuses._tenant_by_pnid.clear()
    stack = LocalStack().start(serve=False)
    deps = stack.deps
    clock = [datetime.now(UTC)]
    lock = threading.Lock()

    def advance(seconds: float) -> None:
        with lock:
            clock[0] += timedelta(seconds=seconds)

    deps.clock = lambda: clock[0]
    deps.sleeper = advance
    key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    assert stack.request("POST", "/v1/templates", body=template, headers=key)[0] == 201
    stack.drain()
    assert stack.request("PUT", "/v1/settings", body={"throughput_per_second": 1000}, headers=key)[0] == 200
    stack.sandbox.configure({"auto_status": False, "throughput_per_second": 100_000})

    # ---- faults -----------------------------------------------------------------------------
    injected: Counter[str] = Counter()
    original_fault = stack.sandbox._next_fault

    def chaos_fault(to: str) -> Fault | None:
        roll = rng.random()
        if roll < 0.30:
            kind = rng.choice(["130429/400", "130429/429", "http_500", "refuse"])
            injected[kind] += 1
            if kind.startswith("130429"):
                return Fault(code=130429, http_status=int(kind.split("/")[1]))
            return Fault(mode=kind)
        if roll < 0.32:
            injected["timeout_after"] += 1
            return Fault(mode="timeout_after")
        return original_fault(to)

    stack.sandbox._next_fault = chaos_fault

    # Senders die at chosen messages, each once: picked up front (a roll per send killed none
    # in some runs), and hooked on the WhatsApp client, which every send passes through.
    kill_at: dict[str, str] = {}
    killed: Counter[str] = Counter()
    original_send = deps.cloud_api.send_message

    def dying_send(phone_number_id: str, request: dict[str, Any], access_token: str) -> Any:
        mid = request.get("biz_opaque_callback_data")
        if kill_at.get(mid) == "before_send" and kill_at.pop(mid, None):
            killed["before_send"] += 1
            raise SenderKilled("sender killed holding the lease, before calling WhatsApp")
        outcome = original_send(phone_number_id, request, access_token)
        if isinstance(outcome, Accepted) and kill_at.get(mid) == "after_accept" and kill_at.pop(mid, None):
            killed["after_accept"] += 1
            raise SenderKilled("sender killed after WhatsApp accepted, before recording it")
        return outcome

    deps.cloud_api.send_message = dying_send
    original_poll = stack.poll_once

    def surviving_poll(*args: Any) -> int:
        # Like Lambda: the dead invocation's batch is not deleted; SQS redelivers it later.
        try:
            return original_poll(*args)
        except SenderKilled:
            return 1

    stack.poll_once = surviving_poll
    original_send_many = deps.queues.send_many

    def duplicating_send_many(url: str, bodies: list[dict[str, Any]]) -> list[int]:
        if url in deps.queues.lane_urls.values():
            bodies = [b for b in bodies for _ in range(rng.choice((2, 3)))]
            return [i // 3 for i in original_send_many(url, bodies)]
        return original_send_many(url, bodies)

    deps.queues.send_many = duplicating_send_many

    # ---- poison: each must reach its DLQ after 5 receives, and nothing else may stall on it ----
    refs = stack.provisioned.refs
    poison_queues = ["SendQueueHigh", "SendQueueNormal", "SendQueueBulk", "CallbackRetryQueue"]
    dlq_of = {"CallbackRetryQueue": "CallbackDLQ"}
    poison_bodies = ["not json", '{"message_id": 42}']
    for queue in poison_queues:
        stack.sqs.set_queue_attributes(QueueUrl=refs[queue], Attributes={"VisibilityTimeout": "1"})
        for poison in poison_bodies:
            stack.sqs.send_message(QueueUrl=refs[queue], MessageBody=poison)

    def poison_in_dlqs() -> int:
        found = 0
        for queue in poison_queues:
            while True:
                got = stack.sqs.receive_message(QueueUrl=refs[dlq_of.get(queue, f"{queue}DLQ")], MaxNumberOfMessages=10, VisibilityTimeout=600)
                bodies = [m["Body"] for m in got.get("Messages", [])]
                if not bodies:
                    break
                found += sum(1 for b in bodies if b in poison_bodies)
        return found

    def message_rows() -> dict[str, dict[str, Any]]:
        """Every message row's status and lease, read from moto's memory: an observer that costs
        the run no request (and reads no store API that the code under test may change)."""
        with _moto_lock:
            table = moto_table(deps.store.table.name)
            rows: dict[str, dict[str, Any]] = {}
            for by_sort_key in table.items.values():
                for sort_key, item in by_sort_key.items():
                    if sort_key.value == "MSG" and "id" in item.attrs:
                        rows[item.attrs["id"].value] = {k: item.attrs[k].value for k in ("status", "lease_until") if k in item.attrs}
        return rows

    # ---- intake, in waves ----------------------------------------------------------------------
    body = json.loads((ROOT / "events/api/create_message.json").read_text())
    accepted: list[str] = []
    cancel_targets: set[str] = set()
    cancelled_ok: set[str] = set()

    def intake(first: int, count: int) -> None:
        wave = []
        for i in range(first, first + count):
            status, _, raw = stack.request("POST", "/v1/messages", body={**body, "to": f"+1415{5550000 + i:07d}", "priority": rng.choice(["high", "normal", "bulk"])}, headers=key)
            assert status == 202, raw
            wave.append(json.loads(raw)["id"])
        accepted.extend(wave)
        cancels = set(rng.sample(wave, max(1, count // 20)))
        cancel_targets.update(cancels)
        doomed = rng.sample([m for m in wave if m not in cancels], min(count - len(cancels), max(2 * len(KILL_POINTS), count // 50)))
        kill_at.update({mid: KILL_POINTS[k % len(KILL_POINTS)] for k, mid in enumerate(doomed)})

    # ---- rounds: concurrent workers, cancels racing them, double dispatcher fires, webhooks --------
    def worker_round(seconds: float) -> None:
        stop = threading.Event()
        pool = [Worker(stack, lane, stop) for lane in ("high", "normal", "bulk", "bulk")]
        for w in pool:
            w.start()
        for mid in list(cancel_targets):
            status, _, _ = stack.request("DELETE", f"/v1/messages/{mid}", headers=key)
            if status == 200:
                cancelled_ok.add(mid)
            cancel_targets.discard(mid)
        time.sleep(seconds)
        stop.set()
        for w in pool:
            w.join()

    emitted: dict[str, list[str]] = {}
    webhook_posts = Counter()

    def post_webhooks() -> None:
        """Every accepted send's statuses, chaotically, until every post got a 200."""
        items = []
        for record in stack.sandbox.messages:
            mid = record["request"].get("biz_opaque_callback_data")
            for status in ("sent", "delivered", "read"):
                if status not in emitted.setdefault(record["id"], []):
                    emitted[record["id"]].append(status)
                    items.append({"id": record["id"], "status": status, "timestamp": str(int(clock[0].timestamp())),
                                  "recipient_id": record["to"], "biz_opaque_callback_data": mid})
        items += [dict(rng.choice(items)) for _ in range(int(len(items) * 0.3))] if items else []
        rng.shuffle(items)
        pending = []
        while items:
            size = rng.randint(1, 50)
            pending.append(items[:size])
            items = items[size:]
        pnid = stack.dev_tenant["phone_number_id"]
        real_apply_status = deps.store.messages.apply_status
        while pending:
            batch = pending.pop(0)
            payload = {"object": "whatsapp_business_account", "entry": [{"id": stack.dev_tenant["waba_id"], "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": pnid}, "statuses": batch}}]}]}
            raw = json.dumps(payload).encode()
            if rng.random() < 0.10:
                # DynamoDB throttles one status write part-way through the batch: our handler answers 503
                deps.store.messages.apply_status = ThrottleOnce(real_apply_status, after=rng.randint(0, len(batch) - 1))
            try:
                status, _, _ = stack.request("POST", "/webhooks/whatsapp", body=raw, headers={
                    "content-type": "application/json", "x-hub-signature-256": signatures.sign(stack.app_secret, raw)})
            except RuntimeError:
                status = 500  # the function raised: API Gateway answers 500 and Meta retries
            finally:
                deps.store.messages.apply_status = real_apply_status
            webhook_posts[status] += 1
            if status != 200:
                pending.insert(rng.randint(0, len(pending)), batch)  # Meta retries later, in any order
        stack.drain()

    def one_round() -> None:
        worker_round(1.5)
        stack.drain()
        advance(300)  # retries' backoff, leases and the 15-minute reconcile pass on the fake clock
        runs = [threading.Thread(target=dispatch.run, args=(deps, clock[0])) for _ in range(2)]
        for r in runs:
            r.start()
        for r in runs:
            r.join()
        stack.drain()
        post_webhooks()

    def settled() -> bool:
        rows = message_rows()
        return all(rows[m]["status"] in TERMINAL for m in accepted)

    rounds = 0
    for first in range(0, n, WAVE):
        intake(first, min(WAVE, n - first))
        one_round()
        rounds += 1
    for _ in range(12):
        if settled():
            break
        one_round()
        rounds += 1

    def in_queue(queue: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = stack.sqs.get_queue_attributes(QueueUrl=refs[queue], AttributeNames=names)["Attributes"]
        return sum(int(attributes[name]) for name in names)

    poison_deadline = time.monotonic() + 30
    while time.monotonic() < poison_deadline and any(in_queue(q) for q in poison_queues):
        time.sleep(1.1)  # the 1 s visibility timeout lapses; each drain is one more receive
        stack.drain()

    # ---- invariants ------------------------------------------------------------------------
    all_rows = message_rows()
    rows = {m: all_rows[m] for m in accepted}
    sends = Counter(r["request"].get("biz_opaque_callback_data") for r in stack.sandbox.messages)
    now_ms = epoch_ms(clock[0])
    final = Counter(r["status"] for r in rows.values())
    downgrades = 0
    for record in stack.sandbox.messages:
        row = rows.get(record["request"].get("biz_opaque_callback_data"))
        top = max((RANK[s] for s in emitted.get(record["id"], [])), default=0)
        if row and RANK.get(row["status"], 0) < top and row["status"] != "failed":
            downgrades += 1
    report = {
        "n": n, "seed": seed,
        "seconds": round(time.perf_counter() - run_started, 1),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,  # Linux reports KiB
        "rounds": rounds,
        "accepted": len(accepted),
        "terminal": sum(1 for r in rows.values() if r["status"] in TERMINAL),
        "lost": sum(1 for r in rows.values() if r["status"] not in TERMINAL),
        "duplicate_sends": sum(c - 1 for c in sends.values() if c > 1),
        "downgrades": downgrades,
        "orphans": sum(1 for r in rows.values() if r["status"] == "sending" and int(r.get("lease_until", 0)) < now_ms),
        "cancelled_but_sent": sum(1 for m in cancelled_ok if sends.get(m)),
        "final_statuses": dict(final),
        "injected_faults": dict(injected),
        "senders_killed": sum(killed.values()),
        "senders_killed_at": {point: killed[point] for point in KILL_POINTS},
        "webhook_posts": {str(k): v for k, v in webhook_posts.items()},
        "provider_accepted_sends": len(stack.sandbox.messages),
        "poison_injected": len(poison_queues) * len(poison_bodies),
        "poison_left": {q: in_queue(q) for q in poison_queues},
        "poison_in_dlq": poison_in_dlqs(),
    }
    stack.stop()
    return report


def broken_invariants(report: dict[str, Any]) -> dict[str, Any]:
    bad = {k: report[k] for k in ("lost", "duplicate_sends", "downgrades", "orphans", "cancelled_but_sent") if report[k]}
    if report["poison_in_dlq"] != report["poison_injected"]:
        bad["poison_in_dlq"] = report["poison_in_dlq"]
    return bad


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200, help="messages (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "soak.json", help="where the report goes (default .bench/soak.json)")
    args = parser.parse_args(argv)
    report = run(args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    bad = broken_invariants(report)
    if bad:
        print(f"invariants broken: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
