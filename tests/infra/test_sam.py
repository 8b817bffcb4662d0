"""The SAM CLI checks the template (lint) and builds it offline; both must succeed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.test_layer import boto_pairing_problems, built_layer

ROOT = Path(__file__).parents[2]
LAYER_MAX_MB = 60  # issue 19's bound; the layer held 87 MB (105 MB on disk) with botocore and the full phonenumbers
pytestmark = pytest.mark.infra


def sam() -> str:
    return shutil.which("sam", path=str(Path(sys.executable).parent)) or shutil.which("sam") or pytest.fail("sam CLI not installed")


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([sam(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_sam_validate_lint_is_clean():
    result = run("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_succeeds(tmp_path):
    result = run("build", "--build-dir", str(tmp_path / "build"), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = tmp_path / "build" / "SharedLayer" / "python"
    assert (layer / "wa_notify" / "__init__.py").exists()
    assert any(layer.glob("pydantic_core/*aarch64*.so")), "arm64 wheels expected for the arm64 functions"
    assert (tmp_path / "build" / "SenderFunction" / "app.py").exists()
    # the built layer pairs no botocore with the runtime's boto3 (issue 19), and stays within 60 MB unzipped
    assert boto_pairing_problems(built_layer(layer)) == []
    assert not (layer / "botocore").exists() and not (layer / "phonenumbers" / "geodata").exists()
    unzipped_mb = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file()) / 2**20
    assert unzipped_mb <= LAYER_MAX_MB, f"the layer holds {unzipped_mb:.1f} MB unzipped"


def test_cfn_lint_with_the_serverless_rules_is_clean():
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or pytest.fail("cfn-lint not installed")
    result = subprocess.run([cfn_lint, "--append-rules", "cfn_lint_serverless.rules", "--", "template.yaml"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
