"""The template's POWERTOOLS_* settings reach Logger, Metrics and Tracer (issue 13)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_service_name_and_namespace_come_from_the_environment():
    # GIVEN a process whose environment names another service and namespace, as a stage might
    code = ("import json; from wa_notify import observability as o; "
            "print(json.dumps([o.logger.service, o.metrics.namespace, o.metrics.service, o.tracer.service]))")
    env = {"PATH": "/usr/bin:/bin", "POWERTOOLS_SERVICE_NAME": "wa-notify-eu", "POWERTOOLS_METRICS_NAMESPACE": "WaNotifyEu"}
    # WHEN the observability module is imported there
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)  # noqa: S603
    # THEN every one of them uses the environment's values
    assert json.loads(out.stdout) == ["wa-notify-eu", "WaNotifyEu", "wa-notify-eu", "wa-notify-eu"]
