"""Flows, the events that trigger them (recorded once, with their answer) and each key's plans."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.messages import MessageRepository
from wa_notify.adapters.storage.paging import query_page
from wa_notify.adapters.storage.quota import QuotaRepository
from wa_notify.domain.flows import PlanWrite
from wa_notify.domain.records import EventRow, FlowRow, MessageRow, PlanRow


@dataclass
class FlowRepository:
    table: Table
    messages: MessageRepository
    quota: QuotaRepository

    def put(self, tenant_id: str, name: str, item: FlowRow) -> None:
        """Create or replace the flow `name`."""
        self.table.put(keys.flow(tenant_id, name).item(dynamo_safe(item)))

    def get(self, tenant_id: str, name: str) -> FlowRow | None:
        return cast("FlowRow | None", self.table.get(*keys.flow(tenant_id, name), consistent=True))

    def delete(self, tenant_id: str, name: str, at: str, expires_at: int) -> bool:
        """Mark the flow deleted (a tombstone): it triggers nothing more, but the plans it made
        stay reachable by its cancel_on and reschedule_on events until `expires_at` (TTL), after
        which none of them can still be pending. False when there is no live flow of that name."""
        ok, _ = self.table.update(*keys.flow(tenant_id, name), "SET deleted_at = :at, expires_at = :exp",
                                  condition="attribute_exists(pk) AND attribute_not_exists(deleted_at)",
                                  values={":at": at, ":exp": expires_at})
        return ok

    def list(self, tenant_id: str, *, limit: int = 100, cursor: str | None = None) -> tuple[list[FlowRow], str | None]:
        return cast("tuple[list[FlowRow], str | None]", query_page(self.table, keys.flows_pk(tenant_id), limit=limit, cursor=cursor))

    def get_event(self, tenant_id: str, event_hash: str) -> EventRow | None:
        return cast("EventRow | None", self.table.get(*keys.event(tenant_id, event_hash), consistent=True))

    def plans_for_key(self, tenant_id: str, key: str) -> builtins.list[PlanRow]:
        """The plan of each flow the key triggered (sk: the flow's name)."""
        items, _ = self.table.query("pk = :pk", {":pk": keys.plans_pk(tenant_id, key)}, consistent=True)
        return cast("builtins.list[PlanRow]", items)

    def claim_acknowledgement(self, tenant_id: str, key: str, flow_name: str, action: str, at: str) -> bool:
        """Whether a customer's tap of `action` on this key's plan is the one to acknowledge: the
        first of its action (a second Cancel changes nothing), and no confirm or reschedule after
        the customer cancelled. A webhook retried after the claim does not claim again."""
        condition = "attribute_exists(pk) AND attribute_not_exists(#done)"
        if action != "cancel":
            condition += " AND attribute_not_exists(acknowledged_cancel)"
        ok, _ = self.table.update(*keys.plan(tenant_id, key, flow_name), "SET #done = :at", condition=condition,
                                  names={"#done": f"acknowledged_{action}"}, values={":at": at})
        return ok

    def write_plan(
        self, tenant_id: str, event_hash: str, event_record: EventRow, messages: builtins.list[MessageRow],
        plans: dict[str, PlanRow], key: str, *, now_s: int, quota: tuple[str, int] | None = None,
        cancels: Sequence[str] = (), at: str = "", seen_plans: dict[str, PlanRow] | None = None,
        supersedes: str | None = None,
    ) -> PlanWrite:
        """Swap a key's plans in one transaction: the event record, its new messages, the per-flow
        plan records, the quota count and the cancels of the old plans' pending messages, all or
        nothing. A reschedule that fails at any point leaves the old plan exactly as it was.
        The event record is new, or replaces the one created at `supersedes` (the same body
        applied before another event changed the key): of two requests doing so, one writes.

        Each plan record is written only if it is still the one the caller read (`seen_plans`,
        by flow; absent: there was none), so two different events for one key cannot both plan
        from the same view: the second reads again (STALE)."""
        values: dict[str, Any] = {":now": now_s}
        record_condition = "attribute_not_exists(pk) OR expires_at < :now"
        if supersedes is not None:
            record_condition += " OR created_at = :superseded"
            values[":superseded"] = supersedes
        puts: builtins.list[tuple[dict[str, Any], str | None]] = [
            (keys.event(tenant_id, event_hash).item(dynamo_safe(event_record)), record_condition),
        ]
        for item in messages:
            puts.append((self.messages.row(item), "attribute_not_exists(pk)"))
        for n, (flow_name, record) in enumerate(plans.items()):
            seen = (seen_plans or {}).get(flow_name)
            if seen is None:
                condition = "attribute_not_exists(pk)"
            elif seen.get("event_hash"):
                condition = f"event_hash = :plan{n}x"
                values[f":plan{n}x"] = seen["event_hash"]
            else:  # written before plans carried their event's hash
                condition = f"attribute_not_exists(event_hash) AND updated_at = :plan{n}x"
                values[f":plan{n}x"] = seen["updated_at"]
            puts.append((keys.plan(tenant_id, key, flow_name).item(dynamo_safe({**record, "event_hash": event_hash})), condition))
        updates = [self.quota.update(tenant_id, quota[0], len(messages), quota[1])] if quota else []
        updates += [self.messages.cancel_update(tenant_id, m, at, "rescheduled") for m in cancels]
        failed = self.table.transact_put(puts, values, updates=updates)
        if failed is None:
            return PlanWrite.WRITTEN
        if failed[0] == "ConditionalCheckFailed":
            return PlanWrite.DUPLICATE
        if quota and failed[len(puts)] == "ConditionalCheckFailed":
            return PlanWrite.OVER_QUOTA
        # A pending message left scheduled/queued meanwhile (sent, or cancelled by another
        # request), or a conflicting transaction touched one of the items: read again and retry.
        return PlanWrite.STALE
