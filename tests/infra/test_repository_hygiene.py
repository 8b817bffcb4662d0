"""The repository holds sources, not what running them produces."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_tracked_file_is_one_the_ignore_rules_say_is_generated():
    # GIVEN the ignore rules (.bench/ reports, .schemathesis/ caches, build output)
    # WHEN git lists tracked files that those rules match
    tracked_but_ignored = subprocess.run(["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True,
                                         text=True, check=True).stdout.split()
    # THEN there are none: a generated file in git is rewritten by every run and reviewed by no one
    assert tracked_but_ignored == []
