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
  and also redelivers any batch a slow worker still holds, to another worker;
- two tenants with a callback URL each (the local stack's in-process callback sink): the dev
  tenant's platform is down for the first hour of the fake clock (half its posts answered 503,
  half hang briefly and time out), then recovers; the second tenant (25% of the messages) has
  a healthy platform throughout;
- the callback function's stream batches fail at random: 5% raise before handling the batch,
  5% raise after handling it (a timeout after the work), 10% report one record failed, so the
  stream poller delivers again from the failed record (callbacks are posted again, same ids).
Messages arrive in waves of 1,000, each followed by a round, as traffic does: moto scans a
whole queue on every receive and delete, so 25,000 jobs queued at once would time moto.
Each round moves the fake clock 5 minutes. Callback retries are delayed on the fake clock, not
SQS's: a retry job's DelaySeconds (4^n s, up to 900 s) is held by the soak and sent with no
delay once the fake clock reaches it, so an hour-long outage and its retries take seconds.
After the messages settle, the clock runs on 5 minutes a tick (no new traffic) until the
outage is over and every held retry was posted.

Invariants: every accepted message ends terminal (lost = 0), no message is sent twice
(duplicate_sends = 0), no status goes down (downgrades = 0), no lease is left expired
(orphans = 0), a message whose cancel was answered 200 is never sent, and every poison
record ends in its queue's DLQ after maxReceiveCount (poison_in_dlq = poison_injected).
Callbacks, as a platform deduping on X-WaNotify-Event-Id sees them (the first 200 of each id):
no message's status callbacks go down in wa_notify.domain.status.RANK (callbacks_backwards = 0);
every message that ended sent, delivered, read or failed had that status posted with a 200
(callbacks_final_missing = 0); at the end of every round, every status the second tenant's
messages are at was posted to its platform, the dev tenant's outage notwithstanding
(healthy_tenant_late = 0); no callback was parked in the DLQ (callbacks_parked = 0: the
retry budget is a day, services/callbacks.py).
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
DEV_URL = "https://platform.example.com/hooks/wa"  # the dev tenant's platform: down for the first hour
SECOND_URL = "https://second.example.net/wa/callbacks"  # the second tenant's: always up
SECOND_SHARE = 0.25  # of the messages, the second tenant's
OUTAGE_SECONDS = 3_600  # of the fake clock, from the start
MAX_TICKS = 300  # 25 h of the fake clock: past the outage, every held retry comes due


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
    from wa_notify.domain import status as st
    from wa_notify.services import callbacks, dispatch, statuses, tenants
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
    assert stack.request("PUT", "/v1/settings", body={"throughput_per_second": 1000, "callback_url": DEV_URL}, headers=key)[0] == 200
    # A second tenant with its own healthy platform, and a share of the traffic.
    second = stack.create_tenant("second")
    key2 = {"authorization": f"Bearer {second['api_key']}"}
    assert stack.request("POST", "/v1/templates", body=template, headers=key2)[0] == 201
    stack.drain()
    assert stack.request("PUT", "/v1/settings", body={"throughput_per_second": 1000, "callback_url": SECOND_URL}, headers=key2)[0] == 200
    callbacks._settings_cache.clear()
    stack.sandbox.configure({"auto_status": False, "throughput_per_second": 100_000})
    tenant_of_pnid = {stack.dev_tenant["phone_number_id"]: stack.dev_tenant, second["phone_number_id"]: second}

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

    # ---- faults on the stream and the callbacks --------------------------------------------------
    # Their own generator: the draws above happen on worker threads, in no fixed order.
    crng = random.Random(seed + 1)
    outage = (clock[0], clock[0] + timedelta(seconds=OUTAGE_SECONDS))
    round_no = [0]
    inbox: list[dict[str, Any]] = []  # every post the platforms got: url, status, event, round
    inbox_lock = threading.Lock()
    real_receive = stack.receive_callback

    def platforms(url: str, headers: dict[str, str], content: bytes) -> int:
        import httpx

        event = json.loads(content)
        status = 200
        if url == DEV_URL and outage[0] <= clock[0] < outage[1]:
            if crng.random() < 0.5:
                injected["callback_503"] += 1
                status = 503
            else:
                injected["callback_hang"] += 1
                time.sleep(0.01)  # hangs briefly, then the client's read timeout
                with inbox_lock:
                    inbox.append({"url": url, "status": None, "event": event, "round": round_no[0]})
                raise httpx.ReadTimeout("chaos: the platform did not answer")
        with inbox_lock:
            inbox.append({"url": url, "status": status, "event": event, "round": round_no[0]})
        if status != 200:
            return status
        return real_receive(url, headers, content)

    stack.receive_callback = platforms

    class StreamChaos(Exception):  # noqa: N818 - a function error, as Lambda reports one
        pass

    def flaky(invoke: Any) -> Any:
        def invoke_with_faults(event: dict[str, Any]) -> Any:
            roll = crng.random()
            if roll < 0.05:
                injected["stream_error_before"] += 1
                raise StreamChaos("chaos: the function failed before handling the batch")
            result = invoke(event)
            if roll < 0.10:
                injected["stream_error_after"] += 1
                raise StreamChaos("chaos: the function timed out after handling the batch")
            records = event.get("Records") or []
            if roll < 0.20 and records:
                injected["stream_items_failed"] += 1
                failed = records[crng.randrange(len(records))]["dynamodb"]["SequenceNumber"]
                return {"batchItemFailures": [*((result or {}).get("batchItemFailures") or []), {"itemIdentifier": failed}]}
            return result
        return invoke_with_faults

    for poller in stack.stream_pollers:
        poller.invoke = flaky(poller.invoke)

    # Callback retries wait on the fake clock: SQS's DelaySeconds (1 s to 900 s of real time) are
    # held here and sent with no delay once the fake clock reaches them (release_due_retries).
    held: list[tuple[datetime, dict[str, Any]]] = []
    retry_url = deps.settings.callback_retry_queue_url
    real_send_to = deps.queues.send_to

    def send_to_on_fake_clock(url: str, body: dict[str, Any], *, delay_seconds: int = 0) -> None:
        if url == retry_url and delay_seconds > 0:
            with lock:
                held.append((clock[0] + timedelta(seconds=delay_seconds), body))
            return
        real_send_to(url, body, delay_seconds=delay_seconds)

    deps.queues.send_to = send_to_on_fake_clock

    def release_due_retries() -> None:
        with lock:
            due = [b for at, b in held if at <= clock[0]]
            held[:] = [(at, b) for at, b in held if at > clock[0]]
        for job in due:
            real_send_to(retry_url, job)

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

    def read_dlqs() -> tuple[int, int]:
        """(poison records, parked callbacks) in the DLQs."""
        found = parked = 0
        for queue in poison_queues:
            while True:
                got = stack.sqs.receive_message(QueueUrl=refs[dlq_of.get(queue, f"{queue}DLQ")], MaxNumberOfMessages=10, VisibilityTimeout=600)
                bodies = [m["Body"] for m in got.get("Messages", [])]
                if not bodies:
                    break
                found += sum(1 for b in bodies if b in poison_bodies)
                parked += sum(1 for b in bodies if b not in poison_bodies and queue == "CallbackRetryQueue")
        return found, parked

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
    key_of: dict[str, dict[str, str]] = {}  # message -> its tenant's API key header
    second_ids: set[str] = set()

    def intake(first: int, count: int) -> None:
        wave = []
        for i in range(first, first + count):
            theirs = rng.random() < SECOND_SHARE
            status, _, raw = stack.request("POST", "/v1/messages", body={**body, "to": f"+1415{5550000 + i:07d}", "priority": rng.choice(["high", "normal", "bulk"])},
                                           headers=key2 if theirs else key)
            assert status == 202, raw
            wave.append(json.loads(raw)["id"])
            key_of[wave[-1]] = key2 if theirs else key
            if theirs:
                second_ids.add(wave[-1])
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
            status, _, _ = stack.request("DELETE", f"/v1/messages/{mid}", headers=key_of[mid])
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
                                  "recipient_id": record["to"], "biz_opaque_callback_data": mid, "_pnid": record["phone_number_id"]})
        items += [dict(rng.choice(items)) for _ in range(int(len(items) * 0.3))] if items else []
        rng.shuffle(items)
        pending = []
        for pnid in tenant_of_pnid:  # one business number per webhook post, as Meta sends them
            theirs = [{k: v for k, v in item.items() if k != "_pnid"} for item in items if item["_pnid"] == pnid]
            while theirs:
                size = rng.randint(1, 50)
                pending.append((pnid, theirs[:size]))
                theirs = theirs[size:]
        rng.shuffle(pending)
        real_apply_status = deps.store.messages.apply_status
        while pending:
            pnid, batch = pending.pop(0)
            payload = {"object": "whatsapp_business_account", "entry": [{"id": tenant_of_pnid[pnid]["waba_id"], "changes": [{"field": "messages", "value": {
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
                pending.insert(rng.randint(0, len(pending)), (pnid, batch))  # Meta retries later, in any order
        stack.drain()

    def delivered_statuses() -> set[tuple[str, str]]:
        """(message, status) of every message.status callback a platform answered 200."""
        with inbox_lock:
            return {(c["event"]["data"]["message_id"], c["event"]["data"]["status"]) for c in inbox
                    if c["status"] == 200 and c["event"].get("type") == "message.status"}

    late: set[tuple[str, str]] = set()

    def check_healthy_tenant() -> None:
        """At the end of each round: every status the second tenant's messages are at was posted to
        its platform in this round, the dev tenant's outage notwithstanding."""
        got = delivered_statuses()
        rows = message_rows()
        for mid in second_ids:
            status = rows[mid]["status"]
            if status in st.WEBHOOK_STATUSES and (mid, status) not in got:
                late.add((mid, status))

    def one_round() -> None:
        round_no[0] += 1
        worker_round(1.5)
        stack.drain()
        advance(300)  # retries' backoff, leases and the 15-minute reconcile pass on the fake clock
        release_due_retries()
        runs = [threading.Thread(target=dispatch.run, args=(deps, clock[0])) for _ in range(2)]
        for r in runs:
            r.start()
        for r in runs:
            r.join()
        stack.drain()
        post_webhooks()
        check_healthy_tenant()

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
    # The callbacks still waiting: the fake clock runs on (5 minutes a tick) past the dev
    # platform's outage until every held retry was sent and posted.
    ticks = 0
    while ticks < MAX_TICKS and (clock[0] < outage[1] or held):
        round_no[0] += 1
        advance(300)
        release_due_retries()
        stack.drain()
        check_healthy_tenant()
        ticks += 1

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
    # What each platform saw, as a platform that dedupes on X-WaNotify-Event-Id sees it: each
    # event's first 200, in the order posted (a redelivered stream record posts the same id again).
    seen_ids: set[str] = set()
    timeline: dict[str, list[str]] = {}
    repeats = 0
    for post in inbox:
        event = post["event"]
        if post["status"] != 200 or event.get("type") != "message.status":
            continue
        if event["id"] in seen_ids:
            repeats += 1
            continue
        seen_ids.add(event["id"])
        timeline.setdefault(event["data"]["message_id"], []).append(event["data"]["status"])
    backwards = sum(1 for seq in timeline.values() if any(st.RANK[b] < max(st.RANK[a] for a in seq[:i]) for i, b in enumerate(seq) if i))
    got = delivered_statuses()
    final_missing = sum(1 for m, r in rows.items() if r["status"] in st.WEBHOOK_STATUSES and (m, r["status"]) not in got)
    poison_found, parked = read_dlqs()
    posts = Counter(("dev" if p["url"] == DEV_URL else "second", p["status"] or "timeout") for p in inbox)
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
        "poison_in_dlq": poison_found,
        "second_tenant_messages": len(second_ids),
        "callback_posts": {f"{who}/{status}": count for (who, status), count in sorted(posts.items(), key=str)},
        "callback_repeats": repeats,
        "callback_ticks": ticks,
        "outage_fake_seconds": OUTAGE_SECONDS,
        "stream_invocations": sum(p.invocations for p in stack.stream_pollers),
        "callbacks_backwards": backwards,
        "callbacks_final_missing": final_missing,
        "healthy_tenant_late": len(late),
        "callbacks_parked": parked,
    }
    stack.stop()
    return report


def broken_invariants(report: dict[str, Any]) -> dict[str, Any]:
    bad = {k: report[k] for k in ("lost", "duplicate_sends", "downgrades", "orphans", "cancelled_but_sent", "callbacks_backwards",
                                  "callbacks_final_missing", "healthy_tenant_late", "callbacks_parked") if report[k]}
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
