"""The whole system on one laptop: moto + the real handlers + the sandbox WhatsApp, one HTTP port.

- moto runs in process; its request handling is serialized by one lock, because moto's
  conditional writes are not atomic under concurrent requests (reliability-and-security.md §6.5);
  a waiting request of the high lane's path gets it first (LaneFirstLock).
- Tables and queues are created from template.yaml; each function gets its template env.
- HTTP API routes come from the template's HttpApi events and are turned into payload
  format 2.0 events for the same `lambda_handler` Lambda runs.
- SQS event sources are polled into their handlers; only records not listed in
  `batchItemFailures` are deleted, so failures come back after the visibility timeout
  and reach the DLQ after maxReceiveCount, as in AWS.
- Scheduled functions fire every minute and on `POST /_local/clock {"at": ...}`.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import re
import secrets
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator, model_validator
from wa_notify.domain import jsonbody
from wa_notify.domain.problems import DomainError, Invalid, Malformed, Problem
from wa_notify.http import PROBLEM_JSON, field_of, problem_body
from wa_notify.models import IsoDateTime

from infra.local import moto_speed, sandbox_templates
from infra.local.provision import FunctionSpec, functions, load_template, provision
from infra.local.sandbox import Sandbox
from infra.local.sandbox_templates import SandboxTemplatesBody, TemplateEventBody
from infra.local.streams import StreamPoller

GRAPH_PREFIX = "/_sandbox/graph"
API_FUNCTION = "ApiFunction"  # template.yaml: the HTTP API's function
MAX_BODY_BYTES = 256 * 1024  # the API's own limit (functions/api/app.py): a larger body is refused unread
PUBLIC_ADDRESS = "93.184.215.14"  # what in-process DNS answers for any other callback host
# Locally, EMF metrics are off; Powertools warns on every flush with nothing in it.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class LaneFirstLock:
    """The one lock around moto, re-entrant like an RLock, that a waiting request of the high
    lane's path gets before any other waiting request.

    In AWS every sender container has its own CPU and DynamoDB serves them side by side, so a
    high-priority message never queues behind bulk sends. Locally every container is a thread
    of one process and moto takes one request at a time, so an alert's requests queued behind
    up to twenty bulk threads' (and Python's lock is not even FIFO): that wait is the local
    stack's, not the design's. Requests are still served one at a time, each whole, so moto stays
    atomic; only the order among waiters changes. A thread is urgent inside `urgent()` (the
    high lane's poller wraps its polls in it; pool threads started inside inherit it, see
    `_pool_tasks_inherit_urgency`).

    With `urgent_runs_alone` (the priority bench sets it) no other request starts while any
    urgent work is under way, not only while an urgent request waits: every container shares
    this one interpreter, and between its moto requests the high lane's container would
    otherwise share the CPU with twenty bulk threads, which its own container in AWS never
    does. Other threads finish the request they are in and wait at their next one."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._urgent_turn = threading.Condition(self._mutex)
        self._normal_turn = threading.Condition(self._mutex)
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._normal_waiting = 0
        self._urgent_sections = 0
        self.urgent_runs_alone = False

    def urgent_section(self, entering: bool) -> None:
        with self._mutex:
            self._urgent_sections += 1 if entering else -1
            if not self._urgent_sections and self._owner is None and self._normal_waiting:
                self._normal_turn.notify()

    def _others_wait(self) -> bool:
        return self._owner is not None or self._urgent_waiting > 0 or (self.urgent_runs_alone and self._urgent_sections > 0)

    def acquire(self) -> bool:
        me = threading.get_ident()
        is_urgent = _is_urgent()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if is_urgent:
                self._urgent_waiting += 1
                try:
                    while self._owner is not None:
                        self._urgent_turn.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                self._normal_waiting += 1
                try:
                    while self._others_wait():
                        self._normal_turn.wait()
                finally:
                    self._normal_waiting -= 1
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            if self._urgent_waiting:
                self._urgent_turn.notify()
            elif self._normal_waiting and not (self.urgent_runs_alone and self._urgent_sections):
                self._normal_turn.notify()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


_urgency = threading.local()


def _is_urgent() -> bool:
    return getattr(_urgency, "depth", 0) > 0


@contextlib.contextmanager
def urgent(*, working: bool = True) -> Iterator[None]:
    """This thread's moto requests (and those of the pool threads it starts) go before others.
    `working`: it is the urgent work itself (an invocation), which runs alone when the lock says
    so; a poller's receive is not (an empty poll of the high lane holds nobody up in AWS)."""
    depth = getattr(_urgency, "depth", 0)
    sections = getattr(_urgency, "sections", 0)
    _urgency.depth = depth + 1
    if working:
        _urgency.sections = sections + 1
        if not sections:
            _moto_lock.urgent_section(True)
    try:
        yield
    finally:
        _urgency.depth = depth
        if working:
            _urgency.sections = sections
            if not sections:
                _moto_lock.urgent_section(False)


def _pool_tasks_inherit_urgency() -> None:
    """A pool task runs with its submitter's urgency: the sender sends a batch's records on a
    thread pool, and those threads belong to the high lane's container as much as the handler's."""
    from concurrent.futures import ThreadPoolExecutor

    if getattr(ThreadPoolExecutor.submit, "_wa_urgency", False):
        return
    original = ThreadPoolExecutor.submit

    def submit(self, fn, /, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if not _is_urgent():
            return original(self, fn, *args, **kwargs)
        working = getattr(_urgency, "sections", 0) > 0

        def run_urgent(*a: Any, **k: Any) -> Any:
            with urgent(working=working):
                return fn(*a, **k)

        return original(self, run_urgent, *args, **kwargs)

    submit._wa_urgency = True  # type: ignore[attr-defined]
    submit._wa_original = original  # type: ignore[attr-defined]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]


_moto_lock = LaneFirstLock()


def _serialize_moto() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber.process_request, "_wa_locked", False):
        return
    original = BotocoreStubber.process_request

    def locked(self, request):  # noqa: ANN001, ANN202
        with _moto_lock:
            return original(self, request)

    locked._wa_locked = True  # type: ignore[attr-defined]
    locked._wa_original = original  # type: ignore[attr-defined]
    BotocoreStubber.process_request = locked  # type: ignore[method-assign]


def _untrack_moto_models() -> None:
    """moto appends every model object it ever creates (each Item, Table, SQS Message) to a
    class-level list, for its server's dashboard, and frees them only at mock.stop(). Its
    TransactWriteItems deep-copies the whole table per item, so each transaction left a full
    table copy behind: memory grew as transactions x table size, N squared in the soak
    (docs/decisions.md). Nothing of ours reads those lists; new objects are no longer added."""
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "_wa_untracked", False):
        return

    def untracked_new(cls, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202, ARG001
        return super(BaseModel, cls).__new__(cls)

    untracked_new._wa_untracked = True  # type: ignore[attr-defined]
    BaseModel.__new__ = staticmethod(untracked_new)  # type: ignore[method-assign, assignment]


@contextlib.contextmanager
def unserialized_moto() -> Iterator[None]:
    """Lift the lock for a test that must show what goes wrong without it (moto is then not
    atomic: a conditional update's check and write can interleave with another thread's)."""
    from moto.core.botocore_stubber import BotocoreStubber

    locked = BotocoreStubber.process_request
    original = getattr(locked, "_wa_original", None)
    if original is None:
        yield
        return
    BotocoreStubber.process_request = original  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = locked  # type: ignore[method-assign]


class DevServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: twenty clients connecting at once were reset.
    request_queue_size = socket.SOMAXCONN


@dataclass
class LambdaContext:
    function_name: str
    timeout_s: int
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One Lambda function: its handler, run one invocation at a time like one container."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.module = importlib.import_module(spec.module)
        self.handler = getattr(self.module, spec.handler)
        self.lock = threading.Lock()
        self.invocations = 0

    def invoke(self, event: dict[str, Any]) -> Any:
        with self.lock:
            self.invocations += 1
            try:
                return self.handler(event, LambdaContext(self.spec.logical_id, self.spec.timeout))
            finally:
                # With POWERTOOLS_METRICS_DISABLED, Powertools never clears its metric set; a
                # long-running local process would grow it and print EMF at 100 values.
                from wa_notify.observability import metrics

                metrics.clear_metrics()


def query_parameters(query: str) -> dict[str, str] | None:
    """queryStringParameters as API Gateway's payload 2.0 has them: a parameter given twice is its
    values joined by commas (`?status=read&status=failed` -> "read,failed"), never the last one."""
    out: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        out[name] = f"{out[name]},{value}" if name in out else value
    return out or None


def http_event(method: str, path: str, query: str, headers: dict[str, str], body: bytes, route: str, path_params: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API payload format 2.0 event, as Lambda receives it."""
    is_text = headers.get("content-type", "application/json").split(";")[0].strip() in ("application/json", "text/plain", "")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        is_text = False  # API Gateway passes bytes that are not UTF-8 base64-encoded
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query_parameters(query),
        "pathParameters": path_params or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode("utf-8") if is_text else base64.b64encode(body).decode(),
        "isBase64Encoded": not is_text,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    } for m in messages]}


def scheduled_event(at: datetime) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.scheduler",
            "account": "123456789012", "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1", "resources": [], "detail": {}}


class LocalStack:
    def __init__(self, port: int = 3000, host: str = "127.0.0.1", *, poll_interval: float = 0.05) -> None:
        self.port = port
        self.host = host
        self.poll_interval = poll_interval
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.functions: dict[str, LocalFunction] = {}
        self.routes: list[tuple[str, re.Pattern[str], str, LocalFunction]] = []
        self.server: ThreadingHTTPServer | None = None
        self.dev_tenant: dict[str, Any] = {}
        self.clock_runs: list[dict[str, Any]] = []
        # What platforms would receive: the callback sink (`/_local/callbacks/sink` in `make dev`,
        # the in-process callback transport in tests). `callback_status` makes it fail on purpose.
        self.callback_inbox: list[dict[str, Any]] = []
        self.callback_status = 200
        # In-process DNS for callback hosts (no real lookups in tests): a name -> its addresses;
        # other names resolve to a public address.
        self.dns: dict[str, list[str]] = {}
        # Idle pollers sleep until something is sent to SQS (or 1 s passes, for delayed
        # messages and visibility timeouts): polling moto in a tight loop starves everything
        # else of its lock.
        self.wakeups: list[threading.Event] = []
        self.idle_wait = 1.0
        self.environ_changed: dict[str, str | None] = {}  # what start() did to os.environ: the values before
        self.urgent_queue_url: str | None = None  # the high lane's: its invocations' moto requests go first

    # ---- start-up -------------------------------------------------------------------------------
    def start(self, *, serve: bool = True) -> LocalStack:
        """Provision and wire everything; with serve=False nothing runs in the background
        (functional tests drive queues and the clock themselves, through the same routing)."""
        self.serving = serve
        environ_before = dict(os.environ)
        if serve and self.port == 0:
            import socket

            with socket.socket() as probe:  # the port goes into GRAPH_API_BASE_URL before the server binds
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
            os.environ[key] = value
        for var in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[var]
        from moto import mock_aws

        self.mock = mock_aws()
        self.mock.start()
        _serialize_moto()
        _pool_tasks_inherit_urgency()
        _untrack_moto_models()
        moto_speed.install()
        import boto3

        template = load_template()
        self.provisioned = provision(template, boto3.client("dynamodb"), boto3.client("sqs"))
        self.sqs = boto3.client("sqs")
        specs = functions(template, self.provisioned)

        self.app_secret = os.environ.get("LOCAL_APP_SECRET") or secrets.token_hex(16)
        self.verify_token = os.environ.get("LOCAL_VERIFY_TOKEN") or secrets.token_hex(8)
        self.access_token = secrets.token_hex(24)
        env = {**specs[0].environment}
        for spec in specs:
            env.update(spec.environment)
        env.pop("META_SECRET_ARN", None)
        env.pop("TENANT_SECRET_PREFIX", None)  # locally one token for every tenant; tests enable the AWS path
        env.update({
            "GRAPH_API_BASE_URL": f"http://{self.host}:{self.port}{GRAPH_PREFIX}/v23.0",
            "PUBLIC_API_URL": f"http://{self.host}:{self.port}",  # tracked links (/r/<token>) lead back here
            "META_ACCESS_TOKEN": self.access_token,
            "META_APP_SECRET": self.app_secret,
            "META_VERIFY_TOKEN": self.verify_token,
            "CALLBACK_ALLOW_LOCAL": "true",  # the developer's platform runs on this laptop: http and loopback
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            "POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        })
        os.environ.update(env)
        os.environ.pop("META_SECRET_ARN", None)
        os.environ.pop("TENANT_SECRET_PREFIX", None)
        # Only what start() changed (moto's credentials included), so stop() gives back just that
        # and leaves alone what others set while the stack ran.
        self.environ_changed = {key: environ_before.get(key) for key in environ_before.keys() | os.environ.keys()
                                if environ_before.get(key) != os.environ.get(key)}

        self.sandbox = Sandbox(app_secret=self.app_secret, access_token=self.access_token,
                               deliver=self._deliver_webhook if serve else self._deliver_in_process,
                               synchronous_webhooks=not serve, status_delay_seconds=0.05 if serve else 0.0)
        for spec in specs:
            fn = LocalFunction(spec)
            self.functions[spec.logical_id] = fn
            for method, route in spec.http_routes:
                pattern = re.compile("^" + re.sub(r"\{([a-zA-Z_]+)\+?\}", r"(?P<\1>[^/]+)", route) + "$")
                self.routes.append((method, pattern, route, fn))

        from wa_notify.config import get_settings
        from wa_notify.services import analytics, callbacks
        from wa_notify.services.deps import Deps, set_deps

        get_settings.cache_clear()
        analytics.reset()
        callbacks.reset()
        transport = None if serve else httpx.MockTransport(self._sandbox_transport)
        callback_transport = None if serve else httpx.MockTransport(self._callback_transport)
        deps = Deps(get_settings(), http_transport=transport, callback_transport=callback_transport,
                    callback_resolver=None if serve else self._resolve)
        # Build clients now, on one thread: boto3 client creation is not thread-safe.
        _ = deps.store, deps.queues, deps.cloud_api, deps.callback_http
        for operation in ("SendMessage", "SendMessageBatch"):
            deps.queues.client.meta.events.register(f"after-call.sqs.{operation}", self._wake_pollers)
        for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
            deps.store.table.client.meta.events.register(f"after-call.dynamodb.{operation}", self._wake_pollers)
        set_deps(deps)
        self.deps = deps
        self.urgent_queue_url = deps.queues.lane_urls.get("high")

        self.dev_tenant = self.create_tenant("dev", api_key=os.environ.get("LOCAL_API_KEY") or None)
        # The sender's lanes are three event source mappings, each with its own containers in
        # Lambda (their own MaximumConcurrency): one container per lane here too. With one for the
        # whole function, the high lane's batch waited for the bulk lane's invocation to end (a
        # paced batch of ten, seconds), and an alert sat behind a running campaign.
        self.queue_sources = [
            (self.provisioned.refs[q], self.provisioned.attrs[(q, "Arn")], batch,
             LocalFunction(spec) if len(spec.sqs_sources) > 1 else self.functions[spec.logical_id])
            for spec in specs for q, batch in spec.sqs_sources
        ]
        # The table's stream into its function, as Lambda's poller would (infra/local/streams.py).
        self.stream_pollers = [StreamPoller(source, self.functions[spec.logical_id].invoke, self.sqs, _moto_lock)
                               for spec in specs for source in spec.stream_sources]
        if not serve:
            return self

        self.server = DevServer((self.host, self.port), self._request_handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread(self.server.serve_forever)
        for source in self.queue_sources:
            self._thread(self._poll, *source)
        for poller in self.stream_pollers:
            self._thread(self._poll_stream, poller)
        for spec in specs:
            if spec.scheduled:
                self._thread(self._every_minute, self.functions[spec.logical_id])
        return self

    def _thread(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def create_tenant(self, name: str, api_key: str | None = None) -> dict[str, Any]:
        from wa_notify.services.tenants import create_tenant

        tenant = create_tenant(self.deps, name, api_key=api_key)
        self.sandbox.register_number(tenant["phone_number_id"], tenant["waba_id"])
        return tenant

    def drain(self, max_rounds: int = 50) -> int:
        """Poll every queue and the table's stream into their functions until none has anything
        new (in-process mode)."""
        total = 0
        for _ in range(max_rounds):
            handled = sum(self.poll_once(*source) for source in self.queue_sources)
            handled += sum(self.poll_stream_once(poller) for poller in self.stream_pollers)
            total += handled
            if not handled:
                break
        return total

    def stop(self) -> None:
        self.stop_event.set()
        self._wake_pollers()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        # Let the pollers finish their invocation and the sandbox its webhooks in flight before
        # moto goes: left running, they wrote into the next stack's table (one moto per process).
        if getattr(self, "sandbox", None) is not None:
            self.sandbox.close()
        deadline = time.monotonic() + 10.0
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.mock.stop()
        for key, value in self.environ_changed.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.environ_changed = {}

    # ---- event sources ---------------------------------------------------------------------------
    def _wake_pollers(self, **_: Any) -> None:
        for event in self.wakeups:
            event.set()

    def _poll(self, queue_url: str, queue_arn: str, batch: int, fn: LocalFunction) -> None:
        wake = threading.Event()
        self.wakeups.append(wake)
        while not self.stop_event.is_set():
            wake.clear()
            try:
                processed = self.poll_once(queue_url, queue_arn, batch, fn)
            except Exception as exc:  # noqa: BLE001 - a poller never dies; it says why and goes on
                print(f"[local] poller {fn.spec.logical_id}: {type(exc).__name__}: {exc}", flush=True)
                processed = 0
            if not processed:
                wake.wait(self.idle_wait)

    def poll_once(self, queue_url: str, queue_arn: str, batch: int, fn: LocalFunction) -> int:
        # The high lane's poller and container: their moto requests are not queued behind other
        # lanes' (LaneFirstLock); its invocation is urgent work.
        is_urgent = queue_url == self.urgent_queue_url
        with urgent(working=False) if is_urgent else contextlib.nullcontext():
            resp = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(batch, 10),
                                            AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=0)
            messages = resp.get("Messages", [])
            if not messages:
                return 0
            return self._invoke_batch(queue_url, queue_arn, messages, fn, is_urgent=is_urgent)

    def _invoke_batch(self, queue_url: str, queue_arn: str, messages: list[Any], fn: LocalFunction, *,
                      is_urgent: bool) -> int:
        try:
            with urgent() if is_urgent else contextlib.nullcontext():
                result = fn.invoke(sqs_event(messages, queue_arn)) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # noqa: BLE001 - an invocation error fails the whole batch, as in Lambda
            print(f"[local] {fn.spec.logical_id} failed the batch: {type(exc).__name__}: {exc}", flush=True)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)

    def _poll_stream(self, poller: StreamPoller) -> None:
        wake = threading.Event()
        self.wakeups.append(wake)
        while not self.stop_event.is_set():
            wake.clear()
            try:
                read = self.poll_stream_once(poller)
            except Exception as exc:  # noqa: BLE001 - a poller never dies; it says why and goes on
                print(f"[local] stream poller: {type(exc).__name__}: {exc}", flush=True)
                read = 0
            if not read:
                wake.wait(self.idle_wait)

    def poll_stream_once(self, poller: StreamPoller) -> int:
        """Every record the stream has now, batch by batch; returns how many were read."""
        total = 0
        while True:
            read = poller.poll_once()
            total += read
            if not read:
                return total

    def _every_minute(self, fn: LocalFunction) -> None:
        while not self.stop_event.wait(60 - time.time() % 60):
            try:
                fn.invoke(scheduled_event(datetime.now(UTC)))
            except Exception as exc:  # noqa: BLE001
                print(f"[local] {fn.spec.logical_id}: {type(exc).__name__}: {exc}", flush=True)

    def fire_scheduled(self, at: datetime) -> dict[str, Any]:
        results = {}
        for fn in self.functions.values():
            if fn.spec.scheduled:
                results[fn.spec.logical_id] = fn.invoke(scheduled_event(at))
        self.clock_runs.append({"at": at.isoformat(), "results": results})
        return results

    # ---- webhooks from the sandbox go over real HTTP to our own API ----------------------------------
    def _deliver_webhook(self, body: bytes, headers: dict[str, str]) -> int:
        import httpx

        response = httpx.post(f"http://{self.host}:{self.port}/webhooks/whatsapp", content=body, headers=headers, timeout=10)
        return response.status_code

    def _deliver_in_process(self, body: bytes, headers: dict[str, str]) -> int:
        status, _, _ = self.request("POST", "/webhooks/whatsapp", body=body, headers=headers)
        return status

    def _sandbox_transport(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        prefix = urlsplit(os.environ["GRAPH_API_BASE_URL"]).path.rsplit("/", 1)[0]
        try:
            status, payload = self.sandbox.handle(request.method, path[len(prefix):], dict(request.headers), request.content,
                                                  request.url.query.decode())
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        return httpx.Response(status, json=payload)

    def _resolve(self, host: str, port: int) -> list[str]:
        return self.dns.get(host, [PUBLIC_ADDRESS])

    def _callback_transport(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.receive_callback(str(request.url), dict(request.headers), request.content))

    def receive_callback(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.callback_inbox.append({"url": url, "headers": {k.lower(): v for k, v in headers.items()},
                                    "body": body.decode("utf-8", "replace"), "status": self.callback_status})
        return self.callback_status

    def request(self, method: str, path_and_query: str, *, body: bytes | str | dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request through `answer` (what the socket serves), without a socket. Like a
        client, a dict body is sent as JSON and a body gets `content-type: application/json`
        unless one is given; the answer's header names come back in lower case."""
        if isinstance(body, dict):
            body = json.dumps(body)
        data = body.encode() if isinstance(body, str) else (body or b"")
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        if data:
            lower.setdefault("content-type", "application/json")
        status, resp_headers, out = self.answer(method, path_and_query, lower, data)
        return status, {k.lower(): v for k, v in resp_headers.items()}, out

    def answer(self, method: str, path_and_query: str, headers: dict[str, str],
               body: bytes | Callable[[int], bytes]) -> tuple[int, dict[str, str], bytes]:
        """The one routing of an HTTP request, for the socket server and `request()` alike:
        (status, headers, body). `body` is the bytes, or a reader given the Content-Length (the
        socket's), called only once the length is known to be acceptable: a bad or oversized
        Content-Length is refused unread (400/413, `Connection: close`). Then the sandbox's Graph
        API, the callback sink, the `/_local` routes, the template's routes into their function
        (an HTTP API event), and 404, or 405 with `Allow`. A Lambda error propagates (the socket
        server answers it with API Gateway's 500); so do the sandbox's TimeoutError and
        ConnectionRefusedError, a lost answer."""
        url = urlsplit(path_and_query)
        headers = {k.lower(): v for k, v in headers.items()}
        data = body if isinstance(body, bytes) else b""
        if "content-length" in headers or not isinstance(body, bytes):
            raw_length = (headers.get("content-length") or "0").strip()
            if not raw_length.isascii() or not raw_length.isdigit():  # RFC 9110 §8.6: 1*DIGIT, so no sign
                return _refusal(400, "Malformed request", f"Content-Length {raw_length[:40]!r} is not a number of bytes")
            length = int(raw_length) if len(raw_length) <= 18 else MAX_BODY_BYTES + 1  # int() refuses 4,300+ digits
            if length > MAX_BODY_BYTES:
                return _refusal(413, "Payload too large", f"the body is larger than {MAX_BODY_BYTES} bytes")
            if not isinstance(body, bytes) and length:
                data = body(length)
        if url.path.startswith(GRAPH_PREFIX):
            status, payload = self.sandbox.handle(method, url.path[len(GRAPH_PREFIX):], headers, data, url.query)
            return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        if url.path == "/_local/callbacks/sink":
            return self.receive_callback(path_and_query, headers, data), {"Content-Type": "application/json"}, b"{}"
        if url.path.startswith("/_local/"):
            status, payload, extra = self.local_route(method, url.path, url.query, data)
            return status, {"Content-Type": PROBLEM_JSON if status >= 400 else "application/json", **extra}, json.dumps(payload).encode()
        for route_method, pattern, route, fn in self.routes:
            match = pattern.match(url.path)
            if match and route_method in (method, "ANY"):  # ANY: a function URL takes every method
                # The API's requests go before the senders' at moto's lock, as the high lane's do: in
                # AWS its containers never wait for a send, and its intake is half of an alert's 500 ms.
                with urgent(working=False) if fn.spec.logical_id == API_FUNCTION else contextlib.nullcontext():
                    result = fn.invoke(http_event(method, url.path, url.query, headers, data, route, match.groupdict()))
                out = result.get("body") or ""
                out_bytes = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
                resp_headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
                named = {k.lower() for k in resp_headers}
                for k, values in (result.get("multiValueHeaders") or {}).items():
                    if k.lower() not in named:
                        resp_headers[k] = ", ".join(map(str, values))
                        named.add(k.lower())
                # API Gateway's default when the function names no Content-Type
                content_type = next((v for k, v in resp_headers.items() if k.lower() == "content-type"), "application/json")
                rest = {k: v for k, v in resp_headers.items() if k.lower() != "content-type"}
                return int(result.get("statusCode", 200)), {"Content-Type": content_type, **rest}, out_bytes
        status, no_route_headers, problem = self.no_route(method, url.path)
        return status, no_route_headers, json.dumps(problem).encode()

    def no_route(self, method: str, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        """404 for an unknown path; 405 with the `Allow` header (RFC 9110 §15.5.6) when the path
        exists under other methods."""
        allow = sorted({m for m, pattern, _, _ in self.routes if pattern.match(path) and m != "ANY"})
        status = 405 if allow else 404
        problem = problem_body(status, "Method not allowed" if allow else "Not found",
                               f"no route {method} {path}" + (f"; allowed: {', '.join(allow)}" if allow else ""))
        return status, {"Content-Type": PROBLEM_JSON, **({"Allow": ", ".join(allow)} if allow else {})}, problem

    # ---- HTTP ----------------------------------------------------------------------------------------
    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        """The socket's side only: read the request, hand it to `answer`, write what it returns."""
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, fmt: str, *args: Any) -> None:
                if os.environ.get("LOCAL_ACCESS_LOG"):
                    super().log_message(fmt, *args)

            def _respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() != "content-length":
                        self.send_header(k, v)  # `Connection: close` also closes this connection
                self.send_header("Content-Length", str(len(body)))
                try:
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up waiting (the sandbox's webhook client after 10 s when the
                    # stack is overloaded): the request was handled, there is nobody to answer.
                    self.close_connection = True

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """http.server's own refusals (a request line over 64 KB: 414; a malformed one: 400)
                as problem+json, like every other error of the stack, not its HTML page."""
                from http import HTTPStatus

                title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
                body = json.dumps({"type": "about:blank", "title": title, "status": code,
                                   "detail": explain or message or title}).encode()
                self.close_connection = True
                try:
                    self.send_response(code, message)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Connection", "close")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _handle(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                body: bytes | Callable[[int], bytes] = self.rfile.read
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    # API Gateway takes a chunked body whole (and drops the header): so does the local stack.
                    chunked = read_chunked(self.rfile, MAX_BODY_BYTES)
                    if isinstance(chunked, tuple):
                        self._respond(*_refusal(*chunked))
                        return
                    body = chunked
                    headers.pop("transfer-encoding")
                    headers["content-length"] = str(len(chunked))
                try:
                    status, resp_headers, body = stack.answer(self.command, self.path, headers, body)
                except (TimeoutError, ConnectionRefusedError):
                    # The sandbox's: over a real socket the request already arrived, so both read as a lost answer.
                    self.close_connection = True
                    return
                except Exception as exc:  # noqa: BLE001 - an API Gateway 500 for an unhandled Lambda error
                    print(f"[local] {self.command} {urlsplit(self.path).path}: {type(exc).__name__}: {exc}", flush=True)
                    status, resp_headers, body = 500, {"Content-Type": "application/json"}, b'{"message": "Internal Server Error"}'
                self._respond(status, resp_headers, body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle

            def __getattr__(self, name: str) -> Any:
                # Any other method (QUERY, PROPFIND...) is routed too: 404/405 like API Gateway, not 501.
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        return Handler

    def info(self) -> dict[str, Any]:
        return {"tenant_id": self.dev_tenant["tenant_id"], "api_key": self.dev_tenant["api_key"],
                "phone_number_id": self.dev_tenant["phone_number_id"], "waba_id": self.dev_tenant["waba_id"],
                "app_secret": self.app_secret, "verify_token": self.verify_token,
                "base_url": f"http://{self.host}:{self.port}",
                # How far the stream's reader is: records still unread, batches handed over, records filtered out.
                "stream": [{"behind": p.backlog(), "invocations": p.invocations, "filtered_out": p.filtered_out}
                           for p in getattr(self, "stream_pollers", [])]}

    def local_route(self, method: str, path: str, query: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """A `/_local/...` route: (status, JSON body, extra headers). Bodies are parsed and refused
        by the API's rules (jsonbody, then a pydantic model): a stranger's input is a 4xx here too."""
        allowed = LOCAL_METHODS.get(path)
        if allowed is None:
            return 404, problem_body(404, "Not found", f"no local route {method} {path}"), {}
        if method not in allowed:
            allow = ", ".join(sorted(allowed))
            return 405, problem_body(405, "Method not allowed", f"no route {method} {path}; allowed: {allow}"), {"Allow": allow}
        route = LOCAL_ROUTES[(method, path)]
        try:
            data = None
            if route.body is not None:
                try:
                    raw = jsonbody.loads(body.decode("utf-8")) if body.strip() else {}
                except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
                    raise Malformed("the body is not UTF-8 JSON") from exc
                data = route.body.model_validate(raw)
            return route.answer(self, dict(parse_qsl(query)), data)
        except DomainError as exc:
            return exc.status, problem_body(exc.status, exc.title, exc.detail, [p.as_dict() for p in exc.problems]), {}
        except ValidationError as exc:
            errors = [{"field": field_of(e["loc"]), "message": e["msg"]} for e in exc.errors()]
            return 422, problem_body(422, "Unprocessable request", f"{len(errors)} problem(s) with the request", errors), {}

def read_chunked(stream: Any, limit: int) -> bytes | tuple[int, str, str]:
    """A chunked request body (RFC 9112 §7.1) read whole: the bytes, or the refusal (status, title,
    detail) for a malformed one or one over `limit` bytes, which is not read further."""
    data = bytearray()
    while True:
        line = stream.readline(1026)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size_text or len(size_text) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
            return 400, "Malformed request", "the chunked body's chunk size is not a hexadecimal number"
        size = int(size_text, 16)
        if size == 0:
            for _ in range(64):  # the trailer section, up to its empty line
                if stream.readline(1026) in (b"\r\n", b"\n", b""):
                    return bytes(data)
            return 400, "Malformed request", "the chunked body's trailer does not end"
        if len(data) + size > limit:
            return 413, "Payload too large", f"the body is larger than {limit} bytes"
        chunk = stream.read(size)
        if len(chunk) != size or stream.readline(3) not in (b"\r\n", b"\n"):
            return 400, "Malformed request", "the chunked body ends inside a chunk"
        data += chunk


def _refusal(status: int, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    # The body was not read, so the connection cannot carry another request.
    return status, {"Content-Type": PROBLEM_JSON, "Connection": "close"}, json.dumps(problem_body(status, title, detail)).encode()


def _phone(value: str, field_name: str) -> str:
    from wa_notify.domain.phone import to_e164

    try:
        return to_e164(value if value.startswith("+") else "+" + value)
    except ValueError:
        raise Invalid([Problem(field_name, f"{field_name} is not a phone number")]) from None


# ---- the bodies of the local routes: the same strictness as the API's models -----------------------
class _Body(BaseModel):
    model_config = ConfigDict(strict=True)


class TenantBody(_Body):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class FaultBody(_Body):
    model_config = ConfigDict(strict=True, extra="forbid")  # a misspelt key would silently change the fault
    code: int | None = None
    http_status: Annotated[int, Field(ge=100, le=599)] = 400
    mode: Literal["sync", "async", "refuse", "timeout_before", "timeout_after", "http_500"] = "sync"
    count: Annotated[int, Field(ge=1)] = 1
    to: str | None = None


QualityRating = Literal["GREEN", "YELLOW", "RED", "UNKNOWN"]
MessagingTier = Literal["TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"]


class NumberTierBody(_Body):
    model_config = ConfigDict(strict=True, extra="forbid")
    quality_rating: QualityRating | None = None
    messaging_limit_tier: MessagingTier | None = None


class NumberBody(NumberTierBody):
    tenant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class SandboxConfigBody(_Body):
    # A mistyped key ("auto_stauts") would otherwise be a 200 that changed nothing.
    model_config = ConfigDict(strict=True, extra="forbid")

    auto_status: bool | None = None
    template_decision: Literal["APPROVED", "REJECTED", "PENDING", "approved", "rejected", "pending"] | None = None
    throttle_http_status: Annotated[int, Field(ge=400, le=599)] | None = None
    throughput_per_second: Annotated[float, Field(gt=0)] | None = None
    pair_interval_seconds: Annotated[float, Field(gt=0)] | None = None
    pair_burst: Annotated[int, Field(ge=1)] | None = None
    marketing_per_user_limit: Annotated[int, Field(ge=0)] | None = None  # 131049 after this many; null: off
    marketing_window_seconds: Annotated[float, Field(gt=0)] | None = None
    faults: list[FaultBody] | None = None
    clear_faults: bool | None = None
    numbers: dict[str, NumberTierBody] | None = None  # phone_number_id -> what Meta reports of it

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Omit a setting to keep it; null would be float(None) half way through applying the rest
        # (only the marketing limit takes null: off).
        if value is None and info.field_name != "marketing_per_user_limit":
            raise ValueError("null is not a value here; omit the setting to keep it")
        return value


class CallbacksConfigBody(_Body):
    status: Annotated[int, Field(ge=100, le=599)]


class ButtonBody(_Body):
    payload: str | None = None
    text: str | None = None


class InboundBody(_Body):
    model_config = ConfigDict(strict=True, populate_by_name=True)
    sender: str = Field(alias="from")
    text: str | None = None
    button: ButtonBody | None = None
    phone_number_id: str | None = None
    context_message_id: str | None = None
    name: str | None = None

    @field_validator("sender")
    @classmethod
    def _e164(cls, value: str) -> str:
        return _phone_or_value_error(value)

    @model_validator(mode="after")
    def _text_or_button(self) -> InboundBody:
        if self.text is None and self.button is None:
            raise ValueError("give text or button")
        return self


def _phone_or_value_error(value: str) -> str:
    from wa_notify.domain.phone import to_e164

    return to_e164(value if value.startswith("+") else "+" + value)  # its ValueError names the problem


class ClockBody(_Body):
    # The API's date-time rules: ISO 8601 text only (never "123" as seconds since 1970) and within
    # the years a schedule can be converted and stored (year 1 or 9999 with an offset overflow).
    at: Annotated[IsoDateTime | None, Field(strict=False)] = None  # strict datetimes refuse even ISO strings


# ---- the local routes: one entry per (method, path), each with its body model and its answer ------
Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class LocalRoute:
    answer: Callable[[LocalStack, dict[str, str], Any], Answer]  # (stack, query params, parsed body)
    body: type[BaseModel] | None = None


def _info(stack: LocalStack, params: dict[str, str], data: None) -> Answer:
    return 200, stack.info(), {}


def _create_tenant(stack: LocalStack, params: dict[str, str], data: TenantBody) -> Answer:
    tenant = stack.create_tenant(data.name)
    from wa_notify.admin import import_templates  # onboarding imports what the WABA has at Meta, as the admin CLI does

    answer = {k: tenant[k] for k in ("tenant_id", "api_key", "phone_number_id", "waba_id")}
    return 201, {**answer, "templates": import_templates(stack.deps, tenant["tenant_id"])}, {}


def _sandbox_messages(stack: LocalStack, params: dict[str, str], data: None) -> Answer:
    to = params.get("to")
    return 200, {"messages": stack.sandbox.received(_phone(to, "to") if to else None)}, {}


def _configure_sandbox(stack: LocalStack, params: dict[str, str], data: SandboxConfigBody) -> Answer:
    return 200, stack.sandbox.configure(data.model_dump(exclude_unset=True)), {}


def _sandbox_config(stack: LocalStack, params: dict[str, str], data: None) -> Answer:
    return 200, stack.sandbox.config(), {}


def _sms(stack: LocalStack, params: dict[str, str], data: None) -> Answer:
    # What the SMS fallback sent through (moto's) Amazon SNS, oldest first.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    to = params.get("to")
    sent = [{"id": mid, "to": phone, "text": text} for mid, (phone, text) in sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.items()]
    return 200, {"messages": [m for m in sent if to is None or m["to"] == to]}, {}


def _callbacks(stack: LocalStack, params: dict[str, str], data: None) -> Answer:
    return 200, {"callbacks": stack.callback_inbox[-200:]}, {}


def _configure_callbacks(stack: LocalStack, params: dict[str, str], data: CallbacksConfigBody) -> Answer:
    stack.callback_status = data.status
    return 200, {"status": stack.callback_status}, {}


def _inbound(stack: LocalStack, params: dict[str, str], data: InboundBody) -> Answer:
    pnid = data.phone_number_id or stack.dev_tenant["phone_number_id"]
    if pnid not in stack.sandbox.numbers:
        raise Invalid([Problem("phone_number_id", "unknown phone_number_id")])
    return 202, stack.sandbox.inbound(pnid, data.model_dump(by_alias=True, exclude_none=True)), {}


def _add_number(stack: LocalStack, params: dict[str, str], data: NumberBody) -> Answer:
    """Another WhatsApp number for a tenant (the dev tenant by default), in our store and the sandbox."""
    from wa_notify.services.numbers import add_number

    tenant_id = data.tenant_id or stack.dev_tenant["tenant_id"]
    pnid, display = str(10**14 + secrets.randbelow(9 * 10**14)), "1628555" + str(secrets.randbelow(10**4)).zfill(4)
    row = add_number(stack.deps, tenant_id, pnid, display_phone_number="+" + display)
    stack.sandbox.register_number(pnid, row["waba_id"], display)
    stack.sandbox.set_number(pnid, quality_rating=data.quality_rating, messaging_limit_tier=data.messaging_limit_tier)
    return 201, {"phone_number_id": pnid, "display_phone_number": "+" + display, "waba_id": row["waba_id"]}, {}


def _clock(stack: LocalStack, params: dict[str, str], data: ClockBody) -> Answer:
    at = data.at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return 200, {"at": at.isoformat(), "results": stack.fire_scheduled(at)}, {}


def _sandbox_templates(stack: LocalStack, params: dict[str, str], data: SandboxTemplatesBody) -> Answer:
    # Templates the dev tenant's WABA has at Meta before wa-notify saw them (POST /v1/templates/sync imports them).
    items = [t.model_dump(exclude_none=True) for t in data.templates]
    return 200, sandbox_templates.put_templates(stack.sandbox, stack.dev_tenant["waba_id"], items), {}


def _template_event(stack: LocalStack, params: dict[str, str], data: TemplateEventBody) -> Answer:
    done = sandbox_templates.template_event(stack.sandbox, stack.dev_tenant["waba_id"], data.name, data.language, data.event,
                                            data.reason, data.new_category)
    if done is None:
        raise Invalid([Problem("name", f"the sandbox has no template {data.name} in {data.language} on the dev tenant's WABA")])
    return 200, done, {}


LOCAL_ROUTES: dict[tuple[str, str], LocalRoute] = {
    ("GET", "/_local/info"): LocalRoute(_info),
    ("POST", "/_local/tenants"): LocalRoute(_create_tenant, TenantBody),
    ("GET", "/_local/sandbox/messages"): LocalRoute(_sandbox_messages),
    ("GET", "/_local/sandbox/config"): LocalRoute(_sandbox_config),
    ("PUT", "/_local/sandbox/config"): LocalRoute(_configure_sandbox, SandboxConfigBody),
    ("POST", "/_local/sandbox/config"): LocalRoute(_configure_sandbox, SandboxConfigBody),
    ("POST", "/_local/sandbox/inbound"): LocalRoute(_inbound, InboundBody),
    ("GET", "/_local/sms"): LocalRoute(_sms),
    ("GET", "/_local/callbacks"): LocalRoute(_callbacks),
    ("PUT", "/_local/callbacks/config"): LocalRoute(_configure_callbacks, CallbacksConfigBody),
    ("POST", "/_local/clock"): LocalRoute(_clock, ClockBody),
    ("PUT", "/_local/sandbox/templates"): LocalRoute(_sandbox_templates, SandboxTemplatesBody),
    ("POST", "/_local/sandbox/template_event"): LocalRoute(_template_event, TemplateEventBody),
    ("POST", "/_local/numbers"): LocalRoute(_add_number, NumberBody),
}
# Every local path and its methods, for 405 + Allow (the sink takes any method: it is the platform's URL).
LOCAL_METHODS: dict[str, set[str]] = {}
for _method, _path in LOCAL_ROUTES:
    LOCAL_METHODS.setdefault(_path, set()).add(_method)
