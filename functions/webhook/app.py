"""WhatsApp webhook function, on a Lambda function URL: GET handshake; POST signed changes,
applied before the 200 (any failure answers 5xx and Meta delivers the webhook again)."""

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

PATH = "/webhooks/whatsapp"  # the function URL answers every path; Meta is given this one (WebhookUrl)


def raw_body(event: dict[str, Any]) -> bytes:
    """The exact bytes Meta signed: never re-serialize JSON before checking the signature."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
             errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body = problem_body(status, title, detail, errors or [])
    return {"statusCode": status, "headers": {"Content-Type": PROBLEM_JSON, **(headers or {})}, "body": json.dumps(body)}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    http = event.get("requestContext", {}).get("http", {})
    method, path = http.get("method", "GET"), event.get("rawPath") or http.get("path") or "/"
    if path.rstrip("/") != PATH:
        return _problem(404, "Not found", f"no route {method} {path[:200]}")
    if method not in ("GET", "POST"):
        return _problem(405, "Method not allowed", f"{PATH} answers GET and POST", {"Allow": "GET, POST"})
    deps = get_deps()
    try:
        if method == "GET":
            q = event.get("queryStringParameters") or {}
            challenge = webhooks.verify_handshake(deps, q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"))
            return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": challenge}
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        applied = webhooks.ingest(deps, raw_body(event), headers.get("x-hub-signature-256"))
    except DomainError as exc:
        if exc.status == 401:
            metrics.add_metric(name="WebhookSignatureRejected", unit="Count", value=1)
            logger.warning("webhook rejected", extra={"reason": exc.detail})
        return _problem(exc.status, exc.title, exc.detail, errors=[p.as_dict() for p in exc.problems])
    except Exception:  # noqa: BLE001 - any failure of ours must be a non-200 so that Meta retries
        # Our outage (DynamoDB throttled, a timeout), never Meta's data: not a 200, so Meta
        # delivers the same webhook again (for up to 7 days); what was applied is applied once.
        logger.exception("webhook not applied; Meta will deliver it again")
        metrics.add_metric(name="WebhookFailed", unit="Count", value=1)
        return _problem(503, "Service unavailable", "the webhook could not be applied; deliver it again", {"Retry-After": "1"})
    # Nothing counted on the happy path: what it applied is counted where the stream follows it
    # (outcome metrics per tenant and template, one EMF line per batch), Lambda counts invocations.
    logger.debug("webhook applied", extra={"changes": applied})
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "OK"}
