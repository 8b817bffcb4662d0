"""`make demo VERTICAL=...` for each of the six verticals, as their owners name them (issue 18):
each starts its own local stack, posts its sample events, moves the clock and prints what the
phone received. Run as `make demo` runs it (`python -m infra.examples demo <vertical>`), from
an empty temporary directory, so a demo that wrote a file would be caught there."""

import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

# The name the owner types -> a button the phone must show, when the vertical's example has one.
DEMOS = {"clinic": None, "salon": None, "restaurant": None, "school": None,
         "shop": "[Order details] http://127.0.0.1:", "bank": "[Deny this transaction] http://127.0.0.1:"}


@pytest.mark.parametrize("vertical", DEMOS)
def test_each_verticals_demo_prints_every_message_the_phone_received(vertical, tmp_path):
    # GIVEN an empty working directory
    # WHEN the vertical's demo runs as `make demo VERTICAL=<vertical>` runs it
    done = subprocess.run([sys.executable, "-m", "infra.examples", "demo", vertical], cwd=tmp_path,
                          capture_output=True, text=True, timeout=90)
    out = done.stdout
    # THEN it ran on its own stack and finished
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.match(r"local stack on http://127\.0\.0\.1:\d+; loading \w+: \{'templates': \d+, 'flows': \d+\}", out), out[:500]
    # AND every message it planned reached the phone and is printed with its text, none left unseen
    planned = re.findall(r"^  planned (\w+)", out, re.MULTILINE)
    received = re.findall(r"phone received: \u201c(.+?)\u201d  \((\w+)", out)
    assert planned and len(received) == len(planned), out
    assert all(text.strip() and "{{" not in text for text, _ in received), out
    assert {first_status for _, first_status in received} == {"sent"}, out
    # AND a vertical with a URL button shows it with the link the phone opens, and the tap lands on the platform's page
    if DEMOS[vertical]:
        assert DEMOS[vertical] in out, out
        assert re.search(r"GET /r/[\w-]+ -> https://", out), out
    # AND nothing was written where it ran
    assert list(tmp_path.iterdir()) == []
