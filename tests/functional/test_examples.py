"""The six verticals' ready-made templates and flows load, and their sample events plan messages."""

import json
from datetime import UTC, datetime

import pytest

from infra.examples import VERTICALS, demo_events, load


def in_process(stack, api_key):
    def call(method, path, body):
        status, _, raw = stack.request(method, path, body=body, headers={"authorization": f"Bearer {api_key}"})
        return status, json.loads(raw) if raw else None

    return call


@pytest.mark.parametrize("vertical", VERTICALS)
def test_vertical_loads_and_its_demo_events_plan_messages(stack, vertical):
    # GIVEN the vertical loaded with one command's code path
    call = in_process(stack, stack.dev_tenant["api_key"])
    counts = load(call, vertical, wait=stack.drain)
    assert counts["templates"] >= 4 and counts["flows"] >= 1
    # WHEN its sample events are posted
    planned = []
    for event in demo_events(vertical, datetime.now(UTC)):
        status, body = call("POST", "/v1/events", event)
        # THEN each plans at least one message and none is refused
        assert status == 202, body
        assert body["messages"], (event["type"], body)
        planned += body["messages"]
    # AND once the clock has passed every planned minute, each message reached the phone once
    stack.drain()
    for send_at in sorted({m["send_at"] for m in planned if m["send_at"]}):
        stack.request("POST", "/_local/clock", body={"at": send_at})
        stack.drain()
    assert len(stack.sandbox.received()) == len(planned)
    assert {stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], m["id"])["status"] for m in planned} == {"read"}


def test_loading_twice_is_harmless(stack):
    # GIVEN the clinic vertical loaded once
    call = in_process(stack, stack.dev_tenant["api_key"])
    load(call, "clinic", wait=stack.drain)
    templates = call("GET", "/v1/templates", None)[1]["items"]
    flows = call("GET", "/v1/flows", None)[1]["items"]
    submitted = len(stack.sandbox.templates)
    # WHEN it is loaded again
    assert load(call, "clinic", wait=stack.drain) == {"templates": 5, "flows": 1}
    # THEN the stored templates are the very same (same Meta ids, still approved), none submitted to Meta again
    assert len(templates) == 5 and {t["status"] for t in templates} == {"APPROVED"}
    assert call("GET", "/v1/templates", None)[1]["items"] == templates
    assert len(stack.sandbox.templates) == submitted
    # AND the one flow is stored once with its definition unchanged (only its updated_at moves)
    def definition(flow):
        return {k: v for k, v in flow.items() if k != "updated_at"}

    again = call("GET", "/v1/flows", None)[1]["items"]
    assert len(flows) == 1 and [definition(f) for f in again] == [definition(f) for f in flows]


def test_bank_alerts_go_on_the_high_lane(stack):
    call = in_process(stack, stack.dev_tenant["api_key"])
    load(call, "bank", wait=stack.drain)
    status, body = call("POST", "/v1/events", demo_events("bank", datetime.now(UTC))[0])
    message = stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], body["messages"][0]["id"])
    assert message["priority"] == "high"


def test_examples_load_with_no_stack_listening_says_so_in_one_line():
    # GIVEN a port with nothing listening (make dev not started, or started on another PORT)
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN `make examples` runs against it
    done = subprocess.run([sys.executable, "-m", "infra.examples", "load", "--url", f"http://127.0.0.1:{port}"],
                          cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=60)
    # THEN it exits 1 with one line naming the URL and what to do, not an httpx traceback
    assert done.returncode == 1
    assert done.stderr.strip() == f"no local stack at http://127.0.0.1:{port}: start it with make dev"
