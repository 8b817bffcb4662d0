"""WhatsApp webhook function: GET handshake, POST signed changes -> events queue, 200 fast."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.domain.problems import DomainError
from wa_notify.http import PROBLEM_JSON, problem_body
from wa_notify.observability import logger, metrics, tracer
from wa_notify.services import webhooks
from wa_notify.services.deps import get_deps


def raw_body(event: dict[str, Any]) -> bytes:
    """The exact bytes Meta signed: never re-serialize JSON before checking the signature."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def _problem(exc: DomainError) -> dict[str, Any]:
    body = problem_body(exc.status, exc.title, exc.detail, [p.as_dict() for p in exc.problems])
    return {"statusCode": exc.status, "headers": {"Content-Type": PROBLEM_JSON}, "body": json.dumps(body)}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    deps = get_deps()
    try:
        if method == "GET":
            q = event.get("queryStringParameters") or {}
            challenge = webhooks.verify_handshake(deps, q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"))
            return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": challenge}
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        queued = webhooks.ingest(deps, raw_body(event), headers.get("x-hub-signature-256"))
    except DomainError as exc:
        if exc.status == 401:
            metrics.add_metric(name="WebhookSignatureRejected", unit="Count", value=1)
            logger.warning("webhook rejected", extra={"reason": exc.detail})
        return _problem(exc)
    metrics.add_metric(name="WebhookChangesQueued", unit="Count", value=queued)
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "OK"}
