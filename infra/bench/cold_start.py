"""cold_start_ms (issue 19): what a Lambda cold start costs in our code, per function, against a
bare `import boto3`, each in a fresh Python process.

How it is taken:
- A child runs on what Lambda would give it, not on the dev venv (`python -S`, no site-packages):
  the layer as layers/shared/Makefile builds it (requirements.txt with --no-deps, and wa_notify;
  wheels for this machine's CPU), the Lambda runtime's boto3 stack beside it (boto3, botocore,
  s3transfer, jmespath, urllib3, python-dateutil, six at the dev lock's versions) and the function
  folders. The dev venv holds what Lambda has not and botocore and httpx pick up when present
  (pyOpenSSL, awscrt, click and rich), which made every figure slower. One untimed run per child
  first writes the bytecode.
- One local stack in this process (moto, the sandbox WhatsApp, the callback sink) serves every
  child; moto is also served over HTTP (moto's ThreadedMotoServer, the same in-process state),
  and each child reaches it through AWS_ENDPOINT_URL. So a child imports no moto: its handler
  imports boto3 and creates its clients itself, as in Lambda, and moto's own import and set-up
  are never inside a figure. The parent prepares each event before the child starts (an approved
  template, a queued message for the sender, a sent one for the webhook, a due one for the
  dispatcher, a callback URL for the callback), with the stack's pollers stopped, so no
  background work runs beside a child.
- A child gets its function's sample event from events/ (placeholders filled) and times, with
  perf_counter, from before `import functions.<name>.app` until its lambda_handler returns the
  first answer, with everything that answer loads lazily (Babel, phonenumbers, httpx, the
  Powertools tracer and the X-Ray SDK's patching: the child looks like Lambda to Powertools,
  AWS_LAMBDA_FUNCTION_NAME, LAMBDA_TASK_ROOT and _X_AMZN_TRACE_ID set, Sampled=1 for a function
  the template traces Active (its worst first invocation) and Sampled=0 for a PassThrough one,
  whose callers send no sampled header; its segments go to a local UDP port nobody reads). Its answer is checked (202, 200, its message promoted, the
  sample's one bad record failed), so a figure is never that of an error.
- The baseline is a bare `import boto3` timed the same way in a fresh process. Runs interleave
  (baseline, then each function, `runs` times) so all see the same machine load; medians. The
  figures are wall time; `cpu` has the same runs in the child's CPU time (waits on moto, the
  sandbox and the machine's other processes left out), steadier on a shared machine.
- Not in the figures: the interpreter's own start (the same for all, and Lambda's runtime start
  is outside our code), Lambda's layer download and unzip. Every module's bytecode is cached (the
  untimed first run); the deployed layer ships none (SAM never did, and /opt is read-only), so
  Lambda compiles what the layer imports on each cold start: the figures are a lower bound there.
  AWS requests go to moto over loopback HTTP (about a millisecond each, less than in-region).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# The child: stdlib only before the clock starts; the handler's import and first answer inside it.
CHILD = r"""
import importlib, json, sys, time
spec = json.loads(sys.stdin.read())

class Context:
    function_name = spec["function"]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
    memory_limit_in_mb = 512
    aws_request_id = "cold-start-bench"
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "cold"
    def get_remaining_time_in_millis(self):
        return 30000

start, cpu_start = time.perf_counter(), time.process_time()
if spec["module"] == "boto3":
    import boto3  # noqa: F401
    answer = None
else:
    module = importlib.import_module(spec["module"])
    answer = getattr(module, spec["handler"])(spec["event"], Context())
elapsed_ms, cpu_ms = (time.perf_counter() - start) * 1000, (time.process_time() - cpu_start) * 1000
loaded = {"moto": "moto" in sys.modules, "botocore": getattr(sys.modules.get("botocore"), "__file__", None)}
print("COLD_START " + json.dumps({"ms": elapsed_ms, "cpu_ms": cpu_ms, "answer": answer, "loaded": loaded}, default=str), flush=True)
"""


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _filled(event: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    raw = json.dumps(event)
    for placeholder, value in values.items():
        raw = raw.replace(placeholder, value)
    return json.loads(raw)


def lambda_site(workdir: Path) -> list[Path]:
    """The layer and the runtime's boto3 stack, installed under `workdir` for this machine's CPU:
    what a child's sys.path holds (with ROOT, for functions/)."""
    import platform
    import re

    machine = platform.machine()
    layer, runtime = workdir / "layer", workdir / "runtime"
    platforms = " ".join(f"{tag}_{machine}" for tag in ("manylinux2014", "manylinux_2_28", "manylinux_2_34"))
    subprocess.run(["make", "-s", "-C", str(ROOT / "layers/shared"), "build-SharedLayer", f"ARTIFACTS_DIR={layer}",  # noqa: S603,S607
                    f"LAMBDA_PLATFORMS={platforms}", f"PYTHON={sys.executable}"], check=True, capture_output=True)
    runtime_ships = re.search(r"^LAMBDA_RUNTIME_PACKAGES := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert runtime_ships, "the Makefile names what the Lambda runtime ships (LAMBDA_RUNTIME_PACKAGES)"
    locked = dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", (ROOT / "requirements-dev.lock").read_text(), re.M))
    pins = [f"{name}=={locked[name]}" for name in runtime_ships[1].split()]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(runtime), *pins],  # noqa: S603
                   check=True, capture_output=True)
    return [layer / "python", runtime, ROOT]


class ColdWorld:
    """The local stack and moto over HTTP, with one fresh event per function and run."""

    def __init__(self, stack: Any, moto_url: str, xray_port: int, site: list[Path]) -> None:
        from wa_notify.domain import signatures

        self.stack, self.moto_url, self.xray_port, self.site = stack, moto_url, xray_port, site
        from infra.bench.run import template_facts

        self.tracing = {name: f["tracing"] for name, f in template_facts()["functions"].items()}
        self.sign = signatures.sign
        self.tenant = stack.dev_tenant
        self.key = {"authorization": f"Bearer {self.tenant['api_key']}"}
        self.message_body = _event("api/create_message.json")
        self.due_at = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
        self.run = 0

    def post_message(self, **extra: Any) -> str:
        status, _, raw = self.stack.request("POST", "/v1/messages", body={**self.message_body, **extra}, headers=self.key)
        assert status == 202, raw
        return str(json.loads(raw)["id"])

    def events(self) -> dict[str, dict[str, Any]]:
        """One event per function for this run (logical id -> event), each on its own fresh rows."""
        self.run += 1
        ids = {"<tenant id>": self.tenant["tenant_id"], "<phone number id>": self.tenant["phone_number_id"], "<waba id>": self.tenant["waba_id"]}
        # the webhook's message is sent first (drain sends what is queued), then the sender's is queued
        sent_id = self.post_message()
        self.stack.drain()
        wamid = self._wamid(sent_id)
        webhook = _filled(_event("webhook/function_url_status.json"), {**ids, "<wamid>": wamid, "<message id>": sent_id})
        webhook["headers"]["x-hub-signature-256"] = self.sign(self.stack.app_secret, webhook["body"].encode())
        sender = _filled(_event("sender/sqs_batch.json"), {**ids, "<message id>": self.post_message()})
        due_at = self.due_at + timedelta(minutes=self.run)  # a minute of its own: a minute's tick runs once
        self.post_message(send_at=due_at.isoformat())
        dispatcher = {**_event("dispatcher/scheduled.json"), "time": due_at.isoformat().replace("+00:00", "Z")}
        api = _event("api/http_request.json")
        api["headers"] = {**api["headers"], **self.key, "idempotency-key": f"cold-start-{self.run}"}
        callback = _filled(_event("callback/stream_status_change.json"),
                           {**ids, "<message id>": f"msg_cold_{self.run}", "<wamid>": f"wamid.cold{self.run}"})
        return {"ApiFunction": api, "SenderFunction": sender, "WebhookFunction": webhook, "CallbackFunction": callback,
                "DispatcherFunction": dispatcher}

    def _wamid(self, message_id: str) -> str:
        status, _, raw = self.stack.request("GET", f"/v1/messages/{message_id}", headers=self.key)
        assert status == 200, raw
        return str(json.loads(raw)["provider_message_id"])

    def child_env(self, logical_id: str) -> dict[str, str]:
        # An Active function's first invocation sampled (its worst case: Lambda samples the first
        # request of each second); a PassThrough one's not (HTTP API, Meta and the stream send no
        # sampled trace header, so Lambda marks it Sampled=0).
        sampled = int(self.tracing.get(logical_id) == "Active")
        env = {**os.environ, "AWS_ENDPOINT_URL": self.moto_url,
               # what Lambda sets, so Powertools traces (and the X-Ray SDK patches botocore) as deployed
               "AWS_LAMBDA_FUNCTION_NAME": logical_id, "LAMBDA_TASK_ROOT": str(ROOT), "POWERTOOLS_TRACE_DISABLED": "false",
               "_X_AMZN_TRACE_ID": f"Root=1-6744b7c2-3f9d2a1b7c8e4f5a6b7c8d9e;Parent=4a7b9c2d1e3f5a6b;Sampled={sampled}",
               "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{self.xray_port}", "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
               "PYTHONPATH": os.pathsep.join(map(str, self.site))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("VIRTUAL_ENV", None)
        return env

    def once(self, logical_id: str, module: str, handler: str, event: dict[str, Any] | None) -> tuple[tuple[float, float], Any]:
        spec = {"function": logical_id, "module": module, "handler": handler, "event": event}
        out = subprocess.run([sys.executable, "-S", "-c", CHILD], input=json.dumps(spec), capture_output=True, text=True,  # noqa: S603
                             env=self.child_env(logical_id), cwd=ROOT, timeout=120, check=False)
        line = next((x for x in reversed(out.stdout.splitlines()) if x.startswith("COLD_START ")), None)
        if out.returncode or line is None:
            raise RuntimeError(f"{logical_id} cold start failed ({out.returncode}): {out.stderr[-2000:]}")
        result = json.loads(line.removeprefix("COLD_START "))
        # what the figure claims: no moto in the child, and the runtime's botocore, not the dev venv's
        botocore = result["loaded"]["botocore"]
        if result["loaded"]["moto"] or not botocore or not Path(botocore).is_relative_to(self.site[1]):
            raise RuntimeError(f"{logical_id} ran on other packages than a Lambda's: {result['loaded']}")
        return (float(result["ms"]), float(result["cpu_ms"])), result["answer"]


def answer_problem(logical_id: str, answer: Any) -> str | None:
    """Why a first answer is not the sample event's success (None when it is)."""
    expected = {
        "ApiFunction": lambda a: a["statusCode"] == 202,
        "WebhookFunction": lambda a: a["statusCode"] == 200,
        "SenderFunction": lambda a: [f["itemIdentifier"] for f in a["batchItemFailures"]] == ["22222222-2222-2222-2222-222222222222"],
        "CallbackFunction": lambda a: a == {"batchItemFailures": []},
        "DispatcherFunction": lambda a: a["promoted"] == 1,
    }
    try:
        return None if expected[logical_id](answer) else f"{logical_id} answered {str(answer)[:300]}"
    except (KeyError, TypeError):
        return f"{logical_id} answered {str(answer)[:300]}"


@contextlib.contextmanager
def cold_world() -> Iterator[ColdWorld]:
    from moto.server import ThreadedMotoServer
    from wa_notify.services import tenants

    from infra.local.stack import LocalStack

    tenants.clear_key_cache()
    stack = LocalStack(port=0).start(serve=True)
    # no pollers or minute timer beside a child: the parent drains by hand where an event needs it
    stack.stop_event.set()
    stack._wake_pollers()
    stack.sandbox.configure({"auto_status": False})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    xray_sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    workdir = tempfile.TemporaryDirectory(prefix="wa-notify-cold-")
    try:
        site = lambda_site(Path(workdir.name))
        moto_server.start()
        host, port = moto_server.get_host_and_port()
        xray_sink.bind(("127.0.0.1", 0))
        key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
        status, _, raw = stack.request("POST", "/v1/templates", body=copy.deepcopy(_event("api/create_template.json")), headers=key)
        assert status == 201, raw
        stack.drain()
        sink = f"http://127.0.0.1:{stack.port}/_local/callbacks/sink"
        status, _, raw = stack.request("PUT", "/v1/settings", body={"callback_url": sink}, headers=key)
        assert status == 200, raw
        yield ColdWorld(stack, f"http://{host}:{port}", xray_sink.getsockname()[1], site)
    finally:
        workdir.cleanup()
        xray_sink.close()
        moto_server.stop()
        stack.stop()


def bench_cold_start(runs: int = 5) -> dict[str, Any]:
    """The bench report's cold_start_ms: median ms per function (functions/<name>), the baseline,
    the worst function and its ratio to the baseline, and how it was taken."""
    with cold_world() as world:
        functions = {logical_id: fn.spec for logical_id, fn in world.stack.functions.items()}
        samples: dict[str, list[tuple[float, float]]] = {"boto3": [], **{logical_id: [] for logical_id in functions}}
        for run in range(runs + 1):  # run 0 writes the bytecode, untimed
            events = world.events()
            baseline_ms = world.once("boto3", "boto3", "", None)[0]
            if run:
                samples["boto3"].append(baseline_ms)
            for logical_id, spec in functions.items():
                ms, answer = world.once(logical_id, spec.module, spec.handler, events[logical_id])
                if problem := answer_problem(logical_id, answer):
                    raise RuntimeError(f"the first event was not served: {problem}")
                if run:
                    samples[logical_id].append(ms)
    def medians(which: int) -> tuple[float, dict[str, float]]:
        of = {spec.module.split(".")[1]: samples[logical_id] for logical_id, spec in functions.items()}
        return (round(statistics.median(s[which] for s in samples["boto3"]), 1),
                {name: round(statistics.median(s[which] for s in values), 1) for name, values in of.items()})

    (baseline, per_function), (baseline_cpu, per_function_cpu) = medians(0), medians(1)
    worst = max(per_function, key=lambda name: per_function[name])
    worst_cpu = max(per_function_cpu, key=lambda name: per_function_cpu[name])
    return {"per_function": per_function, "baseline_import_boto3_ms": baseline, "worst": worst,
            "worst_over_baseline": round(per_function[worst] / baseline, 2), "runs": runs,
            # the same runs in the child's CPU time: steadier than wall time on a shared machine
            "cpu": {"per_function": per_function_cpu, "baseline_import_boto3_ms": baseline_cpu, "worst": worst_cpu,
                    "worst_over_baseline": round(per_function_cpu[worst_cpu] / baseline_cpu, 2)},
            "method": (__doc__ or "").split("How it is taken:", 1)[1].strip()}


if __name__ == "__main__":
    print(json.dumps(bench_cold_start(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))
