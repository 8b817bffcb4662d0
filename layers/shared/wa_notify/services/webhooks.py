"""WhatsApp webhooks: verify first, then apply every change before answering 200.

Meta is already a durable, retrying queue for its webhooks (7 days of retries for anything
but a 200), so the changes are applied here and a failure answers 5xx: nothing is queued in
between. What the changes owe the platform follows the writes through the table's stream."""

from __future__ import annotations

from typing import Any

from wa_notify.domain import jsonbody, signatures
from wa_notify.domain.problems import DomainError, Unauthorized
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, iso


def verify_handshake(deps: Deps, mode: str | None, token: str | None, challenge: str | None) -> str:
    expected = deps.credentials.verify_token
    if mode != "subscribe" or not token or not expected or not signatures.same_secret(token, expected) or challenge is None:
        raise Unauthorized("verify token mismatch")
    return challenge


def ingest(deps: Deps, raw_body: bytes, signature: str | None) -> int:
    """Check X-Hub-Signature-256 over the raw bytes before anything else, then apply every usable
    change; returns how many changes were applied. An outage raises (the caller answers 5xx and
    Meta delivers the same webhook again; every write is conditional, so applying twice is safe).

    What is signed is acknowledged: Meta delivers a refused webhook again and again, and the same
    bytes would be refused each time. Parts that are not what Meta documents are dropped here with
    a warning, never failed on every retry."""
    if not signatures.verify(deps.credentials.app_secret, raw_body, signature):
        raise Unauthorized("missing or wrong X-Hub-Signature-256")
    try:
        payload = jsonbody.loads(raw_body.decode("utf-8"))
    except DomainError as exc:  # too deep, too long an integer, NaN, lone surrogates
        _dropped([f"{p.field or 'the body'}: {p.message}" for p in exc.problems] or [exc.detail])
        return 0
    except ValueError as exc:  # not UTF-8, not JSON
        _dropped([f"the body: {exc.__class__.__name__}: {jsonbody.printable(str(exc))[:200]}"])
        return 0
    from wa_notify.jobs import WebhookChange
    from wa_notify.services import statuses

    received_at = iso(deps.now())
    changes, dropped = usable_changes(payload)
    if dropped:
        _dropped(dropped)
    for waba_id, field, value in changes:
        statuses.apply_change(deps, WebhookChange(waba_id=waba_id, field=field, value=value, received_at=received_at))
    return len(changes)


def usable_changes(payload: Any) -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """`entry[].changes[]` as (waba id, field, value), keeping only the shapes Meta documents, and
    a line for each part left out. Lists of statuses and messages keep their objects only."""
    dropped: list[str] = []
    out: list[tuple[str, str, dict[str, Any]]] = []
    if not isinstance(payload, dict):
        return out, ["the body is not a JSON object"]
    entries = payload.get("entry") or []
    if not isinstance(entries, list):
        return out, ["entry is not a list"]
    for i, entry in enumerate(entries):
        changes = entry.get("changes") or [] if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            dropped.append(f"entry[{i}]" + (" is not an object" if not isinstance(entry, dict) else ".changes is not a list"))
            continue
        waba_id = entry.get("id")
        waba_id = str(waba_id) if isinstance(waba_id, (str, int)) and not isinstance(waba_id, bool) else ""
        for j, change in enumerate(changes):
            where = f"entry[{i}].changes[{j}]"
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or not isinstance(change.get("field"), str):
                dropped.append(f"{where} is not an object with a string field and an object value")
                continue
            if not isinstance(value.get("metadata", {}), dict):
                dropped.append(f"{where}.value.metadata is not an object")
                continue
            value = dict(value)
            for key in ("statuses", "messages"):
                if key not in value:
                    continue
                items = value[key] if isinstance(value[key], list) else None
                if items is None:
                    dropped.append(f"{where}.value.{key} is not a list")
                    del value[key]
                    continue
                value[key] = [item for item in items if isinstance(item, dict)]
                if len(value[key]) < len(items):
                    dropped.append(f"{where}.value.{key}: {len(items) - len(value[key])} item(s) not objects")
            out.append((waba_id, change["field"], value))
    return out, dropped


def _dropped(reasons: list[str]) -> None:
    metrics.add_metric(name="WebhookPartsDropped", unit="Count", value=len(reasons))
    logger.warning("signed webhook: malformed parts acknowledged and dropped", extra={"dropped": reasons[:20], "count": len(reasons)})
