"""Cold starts stay lean: heavy libraries load on first use, never when a handler module is
imported. The bench times this (cold_import_ms); this test names the modules, so it fails the
moment one of them is imported eagerly again."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each is loaded lazily on purpose: X-Ray SDK (the Tracer, built on the first call), boto3 (the
# first AWS call), httpx (the first provider or callback post), Swagger UI (the first docs
# request), phonenumbers and Babel (the first number or localized parameter).
LAZY = ("aws_xray_sdk", "boto3", "httpx", "aws_lambda_powertools.event_handler.openapi.swagger_ui", "phonenumbers", "babel")


@pytest.mark.parametrize("function", ["api", "webhook", "sender", "callback", "dispatcher"])
def test_importing_a_handler_loads_none_of_the_lazy_libraries(function):
    # GIVEN a fresh interpreter, as in a Lambda cold start
    code = f"import sys, json, functions.{function}.app; print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    # WHEN only the handler module is imported
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)  # noqa: S603
    # THEN none of the lazy libraries is loaded yet
    assert json.loads(out.stdout) == []
