"""The table's stream: what each stored change owes, done once the change is stored.

Callbacks, analytics counters and the SMS-fallback triggers follow the writes (domain/changes.py
says what each change means), so the webhook, the sender and the API only change items, and
nothing they stored can lose its side effects: a batch that fails is delivered again.

Records of one shard are handled in order and the first one that fails stops the batch: it and
every later record are reported failed, so Lambda resumes exactly there (it checkpoints at the
lowest failed sequence number) and no later change of the same message overtakes it. Only our
own outages fail a record (DynamoDB, SQS, SNS); a platform's failing URL does not (its callback
goes to the retry queue).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wa_notify.domain import changes
from wa_notify.observability import logger, metrics, record_outcome
from wa_notify.services import analytics, callbacks
from wa_notify.services.deps import Deps, parse_iso


@dataclass(frozen=True)
class StreamChange:
    """One stream record: its sequence number (what a failure reports), keys and images."""

    sequence_number: str
    keys: Mapping[str, Any]
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


def handle_batch(deps: Deps, records: Iterable[StreamChange]) -> dict[str, list[dict[str, str]]]:
    """Apply each change in order; the first failure and everything after it are reported. The
    callbacks owed by the records handled go out together at the end (callbacks.send_all: tenants
    side by side, so one platform's slow URL holds up no other), before the batch is answered."""
    pending = list(records)
    owed: list[tuple[str, changes.Callback]] = []
    failures: list[dict[str, str]] = []
    try:
        for i, change in enumerate(pending):
            try:
                effects = apply(deps, change)
            except Exception:  # noqa: BLE001 - whatever failed, the stream must resume at this record
                logger.exception("stream record failed; it and the records after it will be delivered again",
                                 extra={"sequence_number": change.sequence_number, "remaining": len(pending) - i})
                metrics.add_metric(name="StreamRecordFailed", unit="Count", value=1)
                failures = [{"itemIdentifier": c.sequence_number} for c in pending[i:]]
                break
            owed += [(effects.tenant_id, callback) for callback in effects.callbacks]
        callbacks.send_all(deps, owed)
    except Exception:  # noqa: BLE001 - the retry queue failed: deliver the whole batch again (ids dedupe)
        logger.exception("callbacks could not be posted or queued; the batch will be delivered again")
        return {"batchItemFailures": [{"itemIdentifier": c.sequence_number} for c in pending]}
    finally:
        analytics.flush(deps)  # the counters of the records handled, one write per tenant, day and template
    return {"batchItemFailures": failures}


def effects_of(change: StreamChange) -> changes.Effects:
    """What one stream record owes, its item told apart by its keys."""
    from wa_notify.adapters.storage.keys import stream_kind

    kind = stream_kind(str(change.keys.get("pk", "")), str(change.keys.get("sk", "")))
    if kind is None:
        return changes.Effects()
    return changes.of(kind[0], kind[1], change.old, change.new)


def apply(deps: Deps, change: StreamChange) -> changes.Effects:
    effects = effects_of(change)
    if not effects:
        return effects
    tenant_id = effects.tenant_id
    if effects.unread_deadline:
        message_id, accepted_at, minutes = effects.unread_deadline
        from wa_notify.services import fallback

        fallback.schedule_unread_deadline(deps, tenant_id, message_id, parse_iso(accepted_at), minutes)
    if effects.sms_undeliverable:
        from wa_notify.services import fallback

        fallback.send(deps, tenant_id, effects.sms_undeliverable, fallback.REASON_UNDELIVERABLE)
    # Counted last: a record that failed above is delivered again, and counted then, once.
    for at, template, counts in effects.counts:
        if at:
            analytics.count(tenant_id, at, template, **counts)
    if effects.inbound_at:
        analytics.count_inbound(tenant_id, effects.inbound_at)
    # The statuses' outcome metrics: counted here, not by each webhook invocation, so a batch's
    # go out as one EMF line per tenant, template and outcome (observability.record_outcome).
    for name, outcome, code in effects.outcomes:
        record_outcome(tenant_id, name, outcome, code=code)
    return effects
