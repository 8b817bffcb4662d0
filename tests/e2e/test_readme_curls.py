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
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

SKIP_MARKER = "<!-- readme-test: skip (needs AWS) -->"
CURL = re.compile(r"(?<![\w./-])curl(?=\s)")

# Wrappers the README's blocks run under: curl keeps what it does (its stdout still reaches
# `$(...)`) and leaves, per call, its exit code, the response headers (-D adds to any other
# option) and its body; `make examples` runs its target's command.
PRELUDE = r"""
curl() {  # the count is kept in a file: a curl inside $(...) runs in a subshell
  local __n=$(( $(cat "$README_LOG/count" 2>/dev/null || echo 0) + 1 ))
  printf '%s\n' "$__n" > "$README_LOG/count"
  printf '%s\n' "$*" > "$README_LOG/$__n.args"
  command curl --max-time 60 -D "$README_LOG/$__n.headers" "$@" | tee "$README_LOG/$__n.body"
  local rc=${PIPESTATUS[0]}
  printf '%s\n' "$rc" > "$README_LOG/$__n.rc"
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
        for _ in CURL.finditer(visible):
            last = Call(index, block.line + offset, raw.strip())
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


def test_readme_blocks_are_found_and_the_aws_ones_marked():
    # GIVEN the README WHEN its blocks are read THEN there are curl blocks to run, and the Deploy
    # section's (which needs AWS) is skipped by its marker, not by accident
    run, skipped = blocks((ROOT / "README.md").read_text())
    assert len(run) >= 5 and sum(len(b.calls) for b in run) >= 15
    assert [b.heading for b in skipped] and all("Deploy" in b.heading for b in skipped)
    assert not any("Deploy" in b.heading for b in run)


def test_every_readme_curl_works_against_a_local_stack(base_url, tmp_path):
    # GIVEN the README's curl blocks in order, joined into one shell session (variables carry on)
    run, _ = blocks((ROOT / "README.md").read_text())
    calls = [c for b in run for c in b.calls]
    script = PRELUDE + "\n".join(f"\n# --- README line {b.line} ({b.heading})\n{b.code}" for b in run)
    log = tmp_path / "calls"
    log.mkdir()
    env = {**os.environ, "PORT": base_url.rsplit(":", 1)[1], "README_LOG": str(log), "README_PYTHON": sys.executable}
    # WHEN bash runs them from the repository's root (the README's relative paths)
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    made = sorted(int(p.stem) for p in log.glob("*.rc"))
    # THEN every curl the README shows ran, in order
    assert len(made) == len(calls), (f"{len(calls)} curls in the README, {len(made)} ran; bash said:\n{done.stderr[-3000:]}")
    problems = []
    for n, call in enumerate(calls, 1):
        where = f"README line {call.line}: {call.text[:100]}"
        rc = int((log / f"{n}.rc").read_text())
        statuses = re.findall(r"^HTTP/[\d.]+ (\d{3})", (log / f"{n}.headers").read_text(), re.M)
        status = int(statuses[-1]) if statuses else None
        body = (log / f"{n}.body").read_text()
        # AND each exits 0 and is answered without a 5xx
        if rc != 0:
            problems.append(f"{where}: curl exited {rc}")
        want_status, want_keys = top_level(call.expect) if call.expect else (None, {})
        if status is None or status >= 500:
            problems.append(f"{where}: answered {status}: {body[:300]}")
        elif status >= 400 and status != want_status:  # a refusal the README does not show is a README a newcomer cannot follow
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
