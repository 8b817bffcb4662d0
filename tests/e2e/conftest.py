"""The local stack started once per session as its own process, as `make dev` starts it."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]

# httpx's module functions wait 5 s for an answer by default. The stack is one Python process:
# on a loaded CI machine, behind another suite's campaign, an answer can take longer without
# anything being wrong (a hang still fails, at 30 s, as the examples' client does).
for _call in (httpx.request, httpx.get, httpx.post, httpx.put, httpx.patch, httpx.delete, httpx.head, httpx.options):
    _call.__kwdefaults__["timeout"] = httpx.Timeout(30.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The dev tenant's key, given to the stack as `make dev` users give theirs (LOCAL_API_KEY); tests
# call with this constant, never with what the stack reports, so a stack ignoring it fails them.
DEV_API_KEY = "wan_e2e_fixed_key"


@pytest.fixture(scope="session")
def dev_api_key():
    return DEV_API_KEY


@pytest.fixture(scope="session")
def base_url(tmp_path_factory):
    port = free_port()
    env = {**os.environ, "LOCAL_API_KEY": DEV_API_KEY}
    # The stack's output goes to a file, not a pipe: nobody reads a pipe during the session, and
    # once its 64 KB buffer is full every thread that logs (a poller, a handler) blocks for good.
    log_path = tmp_path_factory.mktemp("local-stack") / "output.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "infra.local", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail("local stack exited: " + log_path.read_text())
    else:
        proc.kill()
        pytest.fail("local stack did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def wait_for(fetch, predicate, timeout=15.0):
    """fetch() until predicate(value) holds or `timeout` seconds pass; the last value either way
    (the caller's assert says what was expected)."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fetch()
    return value
