"""The pacer at WhatsApp's upgraded 1,000 messages/s, in virtual time (issue 14).

The local stack cannot carry 1,000 sends/s (moto is one Python process), so this drives the
real pacer code in a discrete-event simulation:

- the sender's pacer is the real one: `services.sending.take_number_token` (its per-batch
  reserve `Pacer`, `number_rate` and the shard choice) over the real `BucketRepository`
  (`adapters/storage/buckets.py`: GCRA as conditional UpdateItems, the lane shares of
  `domain/ratelimit.py`). The sender's take/wait loop around it (sleep up to
  `max_inline_wait_ms` at most three times, else put the job back on the queue with a delay)
  mirrors `sending._process`, which is not called whole (it needs the whole of DynamoDB,
  SQS and the Cloud API client);
- DynamoDB is an in-memory fake of the one thing the bucket repository calls,
  `Table.update(..., condition=..., values=..., return_old_on_failure=True)`, with
  DynamoDB's semantics: the condition is checked and the write applied atomically, at the
  moment the request reaches the table; a refusal returns the old item. Every request takes a
  lognormal latency (p50 5 ms, p99 25 ms by default), half on the way in and half on the
  way back, so senders act on what they read a few ms ago, as in AWS. The sender's other
  writes (the lease before, the accepted record after) take the same latency; they cannot
  conflict here (one sender per message), so only their time is modelled;
- 20 senders (Lambda containers), each taking batches of up to 10 jobs from the queue and
  handling them one at a time (`Pacer.begin`, `pending` counted down as `process` does);
- WhatsApp answers 130429 by the rule the sandbox applies (infra/local/sandbox.py): a GCRA
  bucket per number of `limit_per_s` with a burst of one second's worth. The most sends that
  arrived in any sliding 1 s window is reported beside it (`max_in_any_1s`); `--whatsapp-rule
  window` refuses any send beyond the limit in a sliding 1 s window instead.

Virtual time: senders are threads, but exactly one runs at a time, handed the baton by a
scheduler in time order (ties by arrival), so a run is deterministic for its seed and never
sleeps. `python -m infra.bench.simulate [--limit 1000] [--senders 20] [--messages 20000]`.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import re
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

START_US = 1_800_000_000 * 1_000_000  # virtual epoch, microseconds
TENANT = "tenant-sim"
PNID = "pnid-sim"


# ---- virtual time -----------------------------------------------------------------------------
class VirtualClock:
    """A scheduler that hands one thread at a time the right to run, in virtual-time order."""

    def __init__(self) -> None:
        self.now_us = START_US
        self._heap: list[tuple[int, int, threading.Event]] = []
        self._seq = 0
        self._yielded = threading.Event()
        self.failure: BaseException | None = None

    def wait_until(self, at_us: int) -> None:
        """Called by the running thread: block until virtual time reaches `at_us`."""
        wake = threading.Event()
        heapq.heappush(self._heap, (max(at_us, self.now_us), self._seq, wake))
        self._seq += 1
        self._yielded.set()
        wake.wait()

    def sleep(self, seconds: float) -> None:
        self.wait_until(self.now_us + max(0, round(seconds * 1_000_000)))

    def spawn(self, target: Any) -> threading.Thread:
        """Start a thread that runs only when scheduled (it first waits for the current time)."""

        def body() -> None:
            try:
                self.wait_until(self.now_us)
                target()
            except BaseException as exc:  # noqa: BLE001 - surfaced by run()
                self.failure = self.failure or exc
            finally:
                self._yielded.set()

        self._yielded.clear()
        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        self._yielded.wait()  # it has queued itself: starts are deterministic too
        return thread

    def run(self) -> None:
        while self._heap and self.failure is None:
            at_us, _, wake = heapq.heappop(self._heap)
            self.now_us = at_us
            self._yielded.clear()
            wake.set()
            self._yielded.wait()
        if self.failure is not None:
            raise self.failure


@dataclass
class Latency:
    """Lognormal request latency from its median and 99th percentile, in ms."""

    p50_ms: float = 5.0
    p99_ms: float = 25.0

    def sample_us(self, rng: random.Random) -> int:
        if self.p50_ms <= 0:
            return 0
        sigma = math.log(self.p99_ms / self.p50_ms) / 2.3263 if self.p99_ms > self.p50_ms else 0.0
        return round(rng.lognormvariate(math.log(self.p50_ms), sigma) * 1000)


# ---- DynamoDB ---------------------------------------------------------------------------------
_TERM = re.compile(r"^\s*(?:attribute_not_exists\((?P<missing>\w+)\)|(?P<name>\w+)\s*(?P<op><=|>=|<|>|=)\s*(?P<value>:\w+))\s*$")
_ASSIGN = re.compile(r"^\s*(?P<name>\w+)\s*=\s*(?:(?P<base>\w+)\s*\+\s*)?(?P<value>:\w+)\s*$")


def condition_holds(condition: str | None, item: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    """DynamoDB's condition for the forms the bucket repository writes: terms
    `attribute_not_exists(a)` and `a <op> :v`, joined by AND within OR. Anything else is refused
    loudly (the fake must not guess what a new expression means)."""
    if not condition:
        return True
    current = item or {}

    def term(text: str) -> bool:
        match = _TERM.match(text)
        if not match:
            raise ValueError(f"the simulated table does not know the condition {text!r}")
        if match["missing"]:
            return match["missing"] not in current
        if match["name"] not in current:
            return False  # a comparison with a missing attribute is false in DynamoDB
        left, right = current[match["name"]], values[match["value"]]
        return {"<=": left <= right, ">=": left >= right, "<": left < right, ">": left > right, "=": left == right}[match["op"]]

    return any(all(term(t) for t in re.split(r"\s+AND\s+", alternative)) for alternative in re.split(r"\s+OR\s+", condition))


def apply_update(expression: str, item: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`SET a = :v, b = b + :v` (the bucket repository's updates) on a copy of the item."""
    if not expression.startswith("SET "):
        raise ValueError(f"the simulated table does not know the update {expression!r}")
    new = dict(item)
    for assignment in expression[4:].split(","):
        match = _ASSIGN.match(assignment)
        if not match:
            raise ValueError(f"the simulated table does not know the update {assignment!r}")
        base = item[match["base"]] if match["base"] else 0  # `tat + :i` on a missing tat fails in DynamoDB
        new[match["name"]] = base + values[match["value"]]
    return new


class SimulatedTable:
    """The `Table.update` the bucket repository calls, with DynamoDB's conditional semantics and
    a latency per request (half before the write is applied, half after)."""

    def __init__(self, clock: VirtualClock, latency: Latency, rng: random.Random) -> None:
        self.clock, self.latency, self.rng = clock, latency, rng
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests = 0
        self.refused = 0
        self.idle_us = 0

    def round_trip(self) -> None:
        """A request whose result does not matter here (the lease, the accepted record)."""
        self.requests += 1
        self.clock.wait_until(self.clock.now_us + self.latency.sample_us(self.rng))

    def update(self, pk: str, sk: str, expression: str, *, condition: str | None = None, names: dict[str, str] | None = None,
               values: dict[str, Any] | None = None, return_new: bool = False, return_old: bool = False,
               return_old_on_failure: bool = False) -> tuple[bool, dict[str, Any] | None]:
        if names:
            raise ValueError("the simulated table does not resolve attribute names")
        self.requests += 1
        values = values or {}
        total = self.latency.sample_us(self.rng)
        self.clock.wait_until(self.clock.now_us + total // 2)  # the request reaches the table
        current = self.items.get((pk, sk))
        ok = condition_holds(condition, current, values)
        if ok:
            if current and "tat" in current and ":now" in values and current["tat"] < values[":now"]:
                self.idle_us += values[":now"] - current["tat"]  # the bucket sat idle: that pace is lost
            self.items[(pk, sk)] = apply_update(expression, current or {}, values)
        else:
            self.refused += 1
        self.clock.wait_until(self.clock.now_us + total - total // 2)  # the answer comes back
        if not ok:
            return False, (dict(current) if return_old_on_failure and current else None)
        return True, (dict(self.items[(pk, sk)]) if return_new else None)


# ---- WhatsApp ---------------------------------------------------------------------------------
class SimulatedWhatsApp:
    """Accepts a send unless the number is over its throughput: by the sandbox's rule (GCRA, a
    burst of one second's worth), or with `rule="window"` by the stricter reading, no more than
    the limit in any sliding 1 s window."""

    def __init__(self, clock: VirtualClock, limit_per_s: float, rule: str = "sandbox") -> None:
        from wa_notify.domain.ratelimit import Rate

        if rule not in ("sandbox", "window"):
            raise ValueError(f"unknown WhatsApp rule {rule!r}")
        self.clock, self.rule, self.limit = clock, rule, limit_per_s
        self.rate = Rate.per_second(limit_per_s, max(1, int(limit_per_s)))
        self.tat_us: int | None = None
        self.accepted_at: list[int] = []
        self.rate_limit_errors = 0
        self._window: deque[int] = deque()
        self.max_in_any_1s = 0

    def send(self) -> bool:
        from wa_notify.domain.ratelimit import decide

        now = self.clock.now_us
        while self._window and self._window[0] <= now - 1_000_000:
            self._window.popleft()
        if self.rule == "window":
            allowed = len(self._window) < self.limit  # no more than the limit in any 1 s
        else:
            decision = decide(self.rate, self.tat_us, now)
            allowed = decision.allowed
            if allowed:
                self.tat_us = decision.new_tat_us
        if not allowed:
            self.rate_limit_errors += 1  # 130429
            return False
        self.accepted_at.append(now)
        self._window.append(now)
        self.max_in_any_1s = max(self.max_in_any_1s, len(self._window))
        return True


# ---- the senders ------------------------------------------------------------------------------
@dataclass
class Job:
    number: int
    attempts: int = 0
    ready_us: int = 0


@dataclass
class SimulatedDeps:
    """What `take_number_token` and `number_rate` read from `Deps`: settings, the bucket
    repository and the tenant's settings (its throughput)."""

    settings: Any
    store: Any
    clock: VirtualClock

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)


@dataclass
class SimulatedStore:
    buckets: Any
    tenants: Any


@dataclass
class SimulatedTenants:
    throughput_per_second: float

    def get_settings(self, tenant_id: str) -> dict[str, Any]:
        return {"throughput_per_second": self.throughput_per_second}


@dataclass
class Queue:
    jobs: list[tuple[int, int, Job]] = field(default_factory=list)
    _seq: int = 0

    def put(self, job: Job, ready_us: int) -> None:
        heapq.heappush(self.jobs, (ready_us, self._seq, job))
        self._seq += 1

    def take(self, now_us: int, n: int) -> list[Job]:
        batch: list[Job] = []
        while self.jobs and self.jobs[0][0] <= now_us and len(batch) < n:
            batch.append(heapq.heappop(self.jobs)[2])
        return batch

    def next_ready(self) -> int | None:
        return self.jobs[0][0] if self.jobs else None


def run(limit_per_s: float = 1000, senders: int = 20, messages: int = 20_000, seed: int = 7, *,
        pacer_limit_per_s: float | None = None, lane: str = "bulk", batch_size: int = 10,
        dynamodb_p50_ms: float = 5.0, dynamodb_p99_ms: float = 25.0, provider_p50_ms: float = 0.0,
        provider_p99_ms: float = 0.0, sqs_p50_ms: float = 8.0, sqs_p99_ms: float = 30.0, whatsapp_rule: str = "sandbox") -> dict[str, Any]:
    """`messages` queued bulk jobs for one number, sent by `senders` containers through the real
    pacer set to `pacer_limit_per_s` (the tenant's setting; by default WhatsApp's own
    `limit_per_s`), against a WhatsApp enforcing `limit_per_s`."""
    from wa_notify.adapters.storage.buckets import BucketRepository
    from wa_notify.config import Settings
    from wa_notify.domain.whatsapp_errors import backoff_seconds
    from wa_notify.services import callbacks, sending

    rng = random.Random(seed)
    clock = VirtualClock()
    table = SimulatedTable(clock, Latency(dynamodb_p50_ms, dynamodb_p99_ms), rng)
    whatsapp = SimulatedWhatsApp(clock, limit_per_s, whatsapp_rule)
    provider, sqs = Latency(provider_p50_ms, provider_p99_ms), Latency(sqs_p50_ms, sqs_p99_ms)
    defaults = {name: info.default for name, info in Settings.model_fields.items() if name != "table_name"}
    settings = Settings(table_name="simulated", **defaults)  # the code's defaults, whatever the environment says
    tenants = SimulatedTenants(pacer_limit_per_s or limit_per_s)
    callbacks._settings_cache.pop(TENANT, None)  # the tenant's throughput is read afresh
    queue = Queue()
    for i in range(messages):
        queue.put(Job(i), START_US)
    pending = {"left": messages}
    counts = {"token_writes": 0, "requeued": 0, "inline_waits": 0}

    def handle(job: Job, deps: SimulatedDeps) -> None:
        # mirrors sending._process for a queued message: lease, pace, send, record
        table.round_trip()  # the lease (UpdateItem)
        now_us = clock.now_us // 1000 * 1000  # _process works from epoch milliseconds
        wait_us = sending.take_number_token(deps, TENANT, PNID, lane, now_us)  # type: ignore[arg-type]
        for _ in range(3):
            if not wait_us or wait_us > settings.max_inline_wait_ms * 1000:
                break
            counts["inline_waits"] += 1
            deps.sleep(wait_us / 1_000_000)
            now_us = clock.now_us // 1000 * 1000
            wait_us = sending.take_number_token(deps, TENANT, PNID, lane, now_us)  # type: ignore[arg-type]
        if wait_us:
            table.round_trip()  # the lease released
            counts["requeued"] += 1
            queue.put(job, clock.now_us + math.ceil(wait_us / 1_000_000) * 1_000_000)
            return
        total = provider.sample_us(rng)
        clock.wait_until(clock.now_us + total // 2)
        accepted = whatsapp.send()
        clock.wait_until(clock.now_us + total - total // 2)
        table.round_trip()  # record_accepted, or record_retry
        job.attempts += 1
        if accepted:
            pending["left"] -= 1
        else:
            queue.put(job, clock.now_us + backoff_seconds(job.attempts, 130429, jitter=rng.random() * 0.25) * 1_000_000)

    def container() -> None:
        pacer = sending.pacer  # per thread (a threading.local), as in the local stack's containers
        # each container has its own clients, so its own repository (and the bucket state it last saw)
        deps = SimulatedDeps(settings, SimulatedStore(BucketRepository(table), tenants), clock)  # type: ignore[arg-type]
        while pending["left"] > 0:
            clock.wait_until(clock.now_us + sqs.sample_us(rng))  # ReceiveMessage
            batch = queue.take(clock.now_us, batch_size)
            if not batch:
                ready = queue.next_ready()
                clock.wait_until(max(clock.now_us + 20_000, ready or clock.now_us + 1_000_000))  # long poll
                continue
            pacer.begin(len(batch))
            for job in batch:
                try:
                    handle(job, deps)
                finally:
                    pacer.pending = max(1, pacer.pending - 1)  # as sending.process does
            clock.wait_until(clock.now_us + sqs.sample_us(rng))  # DeleteMessageBatch

    counting = table.update

    def counted_update(*args: Any, **kwargs: Any) -> tuple[bool, dict[str, Any] | None]:
        counts["token_writes"] += 1
        return counting(*args, **kwargs)

    table.update = counted_update  # type: ignore[method-assign]
    # take_number_token picks a fast number's shard with the `random` module: seeded for the
    # run (one thread runs at a time, so the draws come in a fixed order), then given back.
    random_state = random.getstate()
    random.seed(seed)
    try:
        threads = [clock.spawn(container) for _ in range(senders)]
        clock.run()
        for thread in threads:
            thread.join(timeout=5)
    finally:
        random.setstate(random_state)
        callbacks._settings_cache.pop(TENANT, None)

    times = whatsapp.accepted_at
    steady = [t for t in times if t >= times[0] + 2_000_000] if times else []
    achieved = (len(steady) - 1) / ((steady[-1] - steady[0]) / 1_000_000) if len(steady) > 1 and steady[-1] > steady[0] else 0.0
    return {
        "limit_per_s": limit_per_s,
        "pacer_limit_per_s": pacer_limit_per_s or limit_per_s,
        "senders": senders,
        "messages": len(times),
        "achieved_per_s": round(achieved, 1),
        "ratio": round(achieved / limit_per_s, 3),
        "provider_rate_limit_errors": whatsapp.rate_limit_errors,
        "max_in_any_1s": whatsapp.max_in_any_1s,
        "virtual_seconds": round((clock.now_us - START_US) / 1_000_000, 2),
        "bucket_writes": counts["token_writes"],
        "bucket_writes_refused": table.refused,
        "bucket_idle_seconds": round(table.idle_us / 1_000_000, 2),
        "bucket_writes_per_message": round(counts["token_writes"] / max(1, len(times)), 3),
        "inline_waits": counts["inline_waits"],
        "requeued": counts["requeued"],
        "seed": seed,
        "model": {"dynamodb_ms": {"p50": dynamodb_p50_ms, "p99": dynamodb_p99_ms}, "sqs_ms": {"p50": sqs_p50_ms, "p99": sqs_p99_ms},
                  "provider_ms": {"p50": provider_p50_ms, "p99": provider_p99_ms}, "batch_size": batch_size, "lane": lane,
                  "whatsapp": {"sandbox": "GCRA per number, burst = one second's worth (the sandbox's rule)",
                               "window": "no more than the limit in any sliding 1 s window"}[whatsapp_rule]},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=float, default=1000)
    parser.add_argument("--pacer-limit", type=float, default=None, help="the tenant's setting, if not WhatsApp's limit")
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--provider-p50-ms", type=float, default=0.0)
    parser.add_argument("--provider-p99-ms", type=float, default=0.0)
    parser.add_argument("--whatsapp-rule", choices=("sandbox", "window"), default="sandbox")
    args = parser.parse_args(argv)
    result = run(args.limit, args.senders, args.messages, args.seed, pacer_limit_per_s=args.pacer_limit,
                 provider_p50_ms=args.provider_p50_ms, provider_p99_ms=max(args.provider_p99_ms, args.provider_p50_ms),
                 whatsapp_rule=args.whatsapp_rule)
    print(json.dumps(result, indent=2))
    return 0 if result["ratio"] >= 0.95 and result["provider_rate_limit_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
