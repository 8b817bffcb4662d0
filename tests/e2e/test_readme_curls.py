"""The README's curl blocks, run top to bottom against a local stack, as a newcomer would paste
them: every curl exits 0, no answer is a 5xx (nor a 4xx the README does not show), and where the
README shows `# -> ...` the answer
has that status and those top-level keys (and those literal values: true, false, null, plain
strings). `$B` and `$KEY` come from the README's own first lines, with PORT set to the stack's.

Run: ```sh (or bash, shell) blocks. Skipped: blocks without a curl (`make dev`, `make demo`) and a block preceded by the marker
`<!-- readme-test: skip (needs AWS) -->` (the Deploy section). `make examples` inside a block runs
what its Makefile target runs (infra.examples load against $B), without make's install step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import DEV_API_KEY, ROOT, free_port

pytestmark = pytest.mark.e2e

SKIP_MARKER = "<!-- readme-test: skip (needs AWS) -->"
CURL = re.compile(r"(?<![\w./-])curl(?=\s)")

# Each curl of the README becomes `__readme_curl <its number>`: it does what curl does (its stdout
# still reaches `$(...)`) and leaves, per run, its exit code, the response headers (-D adds to any
# other option) and its body, under <number>.<run> (a curl in a polling loop runs several times;
# the run count is a file because a curl inside $(...) runs in a subshell). `make examples` runs
# its target's command.
PRELUDE = r"""
__readme_curl() {
  local id=$1; shift
  local n=$(( $(cat "$README_LOG/count" 2>/dev/null || echo 0) + 1 ))
  printf '%s\n' "$n" > "$README_LOG/count"
  local f="$README_LOG/$id.$n"
  printf '%s\n' "$*" > "$f.args"
  command curl --max-time 60 -D "$f.headers" "$@" | tee "$f.body"
  local rc=${PIPESTATUS[0]}
  printf '%s\n' "$rc" > "$f.rc"
  return $rc
}
make() {
  if [ "$1" = examples ]; then "$README_PYTHON" -m infra.examples load --url "http://127.0.0.1:$PORT"
  else echo "readme test: make $* is not run here" >&2; fi
}
"""


@dataclass
class Call:
    block: int
    line: int
    text: str
    row: int = 0  # the line within its block
    col: int = 0  # where "curl" starts on it
    expect: str | None = None


@dataclass
class Block:
    line: int
    heading: str
    code: str
    calls: list[Call] = field(default_factory=list)


def blocks(readme: str) -> tuple[list[Block], list[Block]]:
    """The shell blocks with a curl, in order, each with its curls and their `# ->` lines; and the
    blocks skipped by the marker."""
    lines = readme.splitlines()
    run: list[Block] = []
    skipped: list[Block] = []
    heading, i = "", 0
    while i < len(lines):
        if lines[i].startswith("#") and not lines[i].startswith("#!"):
            heading = lines[i].lstrip("# ").strip()
        if lines[i].strip() in ("```sh", "```bash", "```shell"):
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            previous = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            block = Block(start + 1, heading, "\n".join(lines[start:end]))
            if CURL.search(block.code):
                (skipped if previous == SKIP_MARKER else run).append(block)
                block.calls = curl_calls(block, len(run if previous != SKIP_MARKER else skipped) - 1)
            i = end
        i += 1
    return run, skipped


def curl_calls(block: Block, index: int) -> list[Call]:
    """Each curl the block runs, in order, with the `# -> ...` comment that follows its command."""
    calls: list[Call] = []
    last: Call | None = None
    quote = None
    continued = False
    for offset, raw in enumerate(block.code.splitlines()):
        code = []
        starts_in_code = quote is None and not continued
        for k, ch in enumerate(raw):
            if quote:
                if ch == quote:
                    quote = None
                code.append(" ")
                continue
            if ch in "'\"":
                quote = ch
                code.append(" ")
                continue
            if ch == "#" and (k == 0 or raw[k - 1].isspace()):
                break
            code.append(ch)
        visible = "".join(code)
        comment = raw.strip()
        if starts_in_code and comment.startswith("# ->") and last is not None and last.expect is None:
            last.expect = comment[4:].strip()
            continue
        if starts_in_code and comment.startswith("#   ") and last is not None and last.expect is not None:
            last.expect += " " + comment[1:].strip()  # a `# ->` that goes on over several lines
            continue
        for found in CURL.finditer(visible):
            last = Call(index, block.line + offset, raw.strip(), offset, found.start())
            calls.append(last)
        continued = quote is None and raw.rstrip().endswith("\\")
    return calls


def top_level(expect: str) -> tuple[int | None, dict[str, Any]]:
    """The status a `# ->` line names first, and its top-level keys with the literal values worth checking."""
    status_match = re.match(r"(\d{3})\b", expect)
    status = int(status_match.group(1)) if status_match else None
    keys: dict[str, Any] = {}
    depth = 0
    i = 0
    while i < len(expect):
        ch = expect[i]
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == '"':
            end = expect.index('"', i + 1)
            word = expect[i + 1:end]
            rest = expect[end + 1:]
            if depth == 1 and rest.startswith(":"):
                value = rest[1:].lstrip()
                literal = re.match(r'(true|false|null)\b|"([^"<>$]*)"', value)
                keys[word] = ...
                if literal and not (literal.group(2) or "").endswith("...") and "..." not in (literal.group(2) or ""):
                    keys[word] = json.loads(literal.group(0))
            i = end
        i += 1
    return status, keys


def numbered(block: Block, calls: list[Call]) -> str:
    """The block's code with each of its curls called through __readme_curl <its number>."""
    lines = block.code.splitlines()
    for n, call in sorted(((n, c) for n, c in enumerate(calls) if any(c is mine for mine in block.calls)), key=lambda nc: -nc[1].col):
        text = lines[call.row]
        lines[call.row] = text[:call.col] + f"__readme_curl {n}" + text[call.col + len("curl"):]
    return "\n".join(lines)


def test_readme_blocks_are_found_and_the_aws_ones_marked():
    # GIVEN the README WHEN its blocks are read THEN there are curl blocks to run, and the Deploy
    # section's (which needs AWS) is skipped by its marker, not by accident
    run, skipped = blocks((ROOT / "README.md").read_text())
    assert len(run) >= 5 and sum(len(b.calls) for b in run) >= 15
    assert [b.heading for b in skipped] and all("Deploy" in b.heading for b in skipped)
    assert not any("Deploy" in b.heading for b in run)


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    """A local stack of its own, as `make dev` starts it: the README's dev tenant starts empty
    whatever other e2e tests did to the session's stack."""
    port = free_port()
    log = (tmp_path_factory.mktemp("readme-stack") / "output.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "infra.local", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "LOCAL_API_KEY": DEV_API_KEY}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the README's local stack did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a loaded machine: it is ours, so end it
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_every_readme_curl_works_against_a_local_stack(own_stack, tmp_path):
    base_url = own_stack
    # GIVEN the README's curl blocks in order, joined into one shell session (variables carry on)
    run, _ = blocks((ROOT / "README.md").read_text())
    calls = [c for b in run for c in b.calls]
    script = PRELUDE + "\n".join(f"\n# --- README line {b.line} ({b.heading})\n{numbered(b, calls)}" for b in run)
    log = tmp_path / "calls"
    log.mkdir()
    env = {**os.environ, "PORT": base_url.rsplit(":", 1)[1], "README_LOG": str(log), "README_PYTHON": sys.executable}
    # WHEN bash runs them from the repository's root (the README's relative paths)
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    runs = {n: sorted(int(p.name.split(".")[1]) for p in log.glob(f"{n}.*.rc")) for n in range(len(calls))}
    # THEN every curl the README shows ran, in order
    missing = [calls[n].line for n, made in runs.items() if not made]
    assert not missing, f"README lines {missing}: their curl never ran; bash said:\n{done.stderr[-3000:]}"
    firsts = [runs[n][0] for n in range(len(calls))]
    assert firsts == sorted(firsts), "the README's curls ran out of order"
    problems = []
    for n, call in enumerate(calls):
        where = f"README line {call.line}: {call.text[:100]}"
        results = []
        for k in runs[n]:
            rc = int((log / f"{n}.{k}.rc").read_text())
            statuses = re.findall(r"^HTTP/[\d.]+ (\d{3})", (log / f"{n}.{k}.headers").read_text(), re.M)
            results.append((rc, int(statuses[-1]) if statuses else None, (log / f"{n}.{k}.body").read_text()))
        # AND each run exits 0 and is answered without a 5xx (a polling loop's last run is the answer)
        for rc, status, body in results:
            if rc != 0:
                problems.append(f"{where}: curl exited {rc}")
            if status is None or status >= 500:
                problems.append(f"{where}: answered {status}: {body[:300]}")
        rc, status, body = results[-1]
        want_status, want_keys = top_level(call.expect) if call.expect else (None, {})
        if status is not None and 400 <= status < 500 and status != want_status:  # a refusal the README does not show is a README a newcomer cannot follow
            problems.append(f"{where}: answered {status}, which the README does not show: {body[:300]}")
        # AND the documented answers hold: the status, the top-level keys and their literal values
        if call.expect:
            if want_status is not None and status != want_status:
                problems.append(f"{where}: the README says {want_status}, the stack answered {status}: {body[:300]}")
            if want_keys:
                try:
                    got = json.loads(body)
                except ValueError:
                    problems.append(f"{where}: the README shows JSON, the answer is {body[:200]!r}")
                    continue
                for key, value in want_keys.items():
                    if not isinstance(got, dict) or key not in got:
                        problems.append(f"{where}: the README shows {key!r}; the answer has {sorted(got) if isinstance(got, dict) else got!r}")
                    elif value is not ... and got[key] != value:
                        problems.append(f"{where}: the README shows {key}={value!r}; the answer has {got[key]!r}")
    assert not problems, "\n".join(problems) + f"\nbash stderr (end):\n{done.stderr[-2000:]}"
