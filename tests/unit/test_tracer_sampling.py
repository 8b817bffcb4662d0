"""The X-Ray SDK is loaded on the first sampled invocation only (observability.LazyTracer)."""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys
from wa_notify.observability import tracer

@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    return {"ok": True}

answers = [handler({}, None) for _ in range(2)]
print(json.dumps({"answers": answers, "xray_loaded": "aws_xray_sdk" in sys.modules}))
"""


def run_child(sampled: int) -> dict:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "ApiFunction", "POWERTOOLS_TRACE_DISABLED": "false",
           "_X_AMZN_TRACE_ID": f"Root=1-6744b7c2-3f9d2a1b7c8e4f5a6b7c8d9e;Parent=4a7b9c2d1e3f5a6b;Sampled={sampled}",
           "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_unsampled_invocation_never_loads_the_xray_sdk():
    # GIVEN a PassThrough function's invocations, which Lambda marks Sampled=0
    # WHEN they are served
    result = run_child(sampled=0)
    # THEN they are answered, and the X-Ray SDK was never imported (no patching on a cold start)
    assert result == {"answers": [{"ok": True}, {"ok": True}], "xray_loaded": False}


def test_a_sampled_invocation_is_traced():
    # GIVEN an invocation Lambda sampled (an Active function's first request of a second)
    # WHEN it is served
    result = run_child(sampled=1)
    # THEN Powertools' Tracer (the X-Ray SDK) wraps it
    assert result == {"answers": [{"ok": True}, {"ok": True}], "xray_loaded": True}
