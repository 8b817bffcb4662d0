"""Schemathesis against the running stack: generated requests from docs/openapi.json never get a
5xx, and every answer's status, content type and body conform to the documented contract."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.e2e


def test_generated_requests_conform_and_never_5xx(base_url, tmp_path):
    # a tenant of its own, so the generated requests touch nothing the other tests use
    info = httpx.post(f"{base_url}/_local/tenants", json={"name": "fuzz"}).json()
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    httpx.post(f"{base_url}/v1/templates", json=template, headers={"Authorization": f"Bearer {info['api_key']}"})
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or pytest.fail("schemathesis not installed")
    # Schemathesis keeps a cache (crash files naming the URL, so this run's port) and an examples
    # database, relative to where it runs and to any schemathesis.toml up to the repository root:
    # its own config file pins both under tmp_path, so nothing is written into the tree.
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[cache]\ndirectory = "{tmp_path / "cache"}"\n\n[generation]\ndatabase = "{tmp_path / "examples.db"}"\n')
    result = subprocess.run(
        [st, "--config-file", str(config), "run", str(ROOT / "docs/openapi.json"), "--url", base_url,
         "-H", f"Authorization: Bearer {info['api_key']}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--max-examples", "25", "--seed", "20261123", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert (tmp_path / "cache").is_dir(), "schemathesis ignored the config file that keeps its cache out of the tree"
