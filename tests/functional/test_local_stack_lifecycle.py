"""The local stack borrows the process environment while it runs and gives it back on stop():
a test or a script that starts and stops one keeps its own settings (a real endpoint, real
credentials, a secret ARN) for whatever runs next."""

import os

from infra.local.stack import LocalStack


def test_stop_restores_the_environment_start_changed(monkeypatch):
    # GIVEN an environment with values start() overwrites, removes and adds to
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "the-callers-key")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    monkeypatch.setenv("META_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:meta")
    monkeypatch.setenv("GRAPH_API_BASE_URL", "https://graph.facebook.com/v23.0")
    monkeypatch.delenv("META_ACCESS_TOKEN", raising=False)
    before = dict(os.environ)
    # WHEN a local stack starts (and does change it) and stops
    stack = LocalStack().start(serve=False)
    assert os.environ["GRAPH_API_BASE_URL"] != before["GRAPH_API_BASE_URL"]
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
    stack.stop()
    # THEN the environment is exactly what it was
    assert dict(os.environ) == before
