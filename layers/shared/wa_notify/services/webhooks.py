"""WhatsApp webhooks: verify first, then queue the changes for the status function."""

from __future__ import annotations

import json
from typing import Any

from wa_notify.domain import signatures
from wa_notify.domain.problems import Malformed, Unauthorized
from wa_notify.services.deps import Deps, iso

STATUSES_PER_JOB = 100  # keeps each SQS message far below the 256 KB limit


def verify_handshake(deps: Deps, mode: str | None, token: str | None, challenge: str | None) -> str:
    import hmac

    expected = deps.credentials.verify_token
    if mode != "subscribe" or not token or not expected or not hmac.compare_digest(token, expected) or challenge is None:
        raise Unauthorized("verify token mismatch")
    return challenge


def ingest(deps: Deps, raw_body: bytes, signature: str | None) -> int:
    """Check X-Hub-Signature-256 over the raw bytes before anything else; queue every change."""
    if not signatures.verify(deps.credentials.app_secret, raw_body, signature):
        raise Unauthorized("missing or wrong X-Hub-Signature-256")
    try:
        payload = json.loads(raw_body)
    except ValueError as exc:
        raise Malformed("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise Malformed("body is not a JSON object")
    received_at = iso(deps.now())
    jobs: list[dict[str, Any]] = []
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict):
                continue
            value = change.get("value") or {}
            base = {"waba_id": str(entry.get("id", "")), "field": change.get("field"), "received_at": received_at}
            statuses = value.get("statuses") or [] if isinstance(value, dict) else []
            if len(statuses) > STATUSES_PER_JOB:
                for start in range(0, len(statuses), STATUSES_PER_JOB):
                    part = {**value, "statuses": statuses[start : start + STATUSES_PER_JOB]}
                    if start:
                        part.pop("messages", None)
                    jobs.append({**base, "value": part})
            else:
                jobs.append({**base, "value": value})
    if jobs and deps.queues.send_events(jobs):
        # Not stored: answer non-200 so Meta delivers it again.
        raise RuntimeError("could not queue webhook changes")
    return len(jobs)
