"""Campaigns: the campaign row and its pages of messages, planned page by page against the quota."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.messages import MessageRepository
from wa_notify.adapters.storage.quota import QuotaRepository
from wa_notify.domain import status as st
from wa_notify.domain.outcomes import CampaignPage
from wa_notify.domain.records import CampaignRow, MessageRow

PLANNING, PAUSED_QUOTA, CANCELLED = "planning", "paused_quota", "cancelled"


@dataclass
class CampaignRepository:
    table: Table
    messages: MessageRepository
    quota: QuotaRepository

    def put(self, tenant_id: str, item: CampaignRow) -> None:
        self.table.put_new(keys.campaign(tenant_id, item["id"]).item(dynamo_safe(item)))

    def drop_unplanned(self, tenant_id: str, campaign_id: str) -> bool:
        """Delete a campaign nothing was planned for yet (its planning job could not be queued)."""
        return self.table.delete(*keys.campaign(tenant_id, campaign_id), condition="planned = :zero", values={":zero": 0})

    def get(self, tenant_id: str, campaign_id: str) -> CampaignRow | None:
        return cast("CampaignRow | None", self.table.get(*keys.campaign(tenant_id, campaign_id), consistent=True))

    def stop(self, tenant_id: str, campaign_id: str, at: str) -> CampaignRow | None:
        """Any not-yet-cancelled campaign -> cancelled; None when it already was."""
        ok, item = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = :c, updated_at = :at, cancelled_at = :at",
            condition="attribute_exists(pk) AND #status <> :c", names={"#status": "status"}, values={":c": CANCELLED, ":at": at},
            return_new=True,
        )
        return cast("CampaignRow", item) if ok else None

    def mark(self, tenant_id: str, campaign_id: str, status: str, reason: str, at: str) -> bool:
        """A campaign still planning (or paused) -> `status`, with why."""
        ok, _ = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = :s, reason = :r, updated_at = :at",
            condition="#status IN (:planning, :paused)", names={"#status": "status"},
            values={":s": status, ":r": reason, ":at": at, ":planning": PLANNING, ":paused": PAUSED_QUOTA},
        )
        return ok

    def write_page(self, tenant_id: str, campaign: CampaignRow, messages: list[MessageRow], *,
                   next_cursor: str | None, excluded: int, at: str, quota: tuple[str, int],
                   conversations: dict[str, Any] | None = None) -> CampaignPage:
        """One page of a campaign's messages, the campaign's cursor, the quota count and (with
        `conversations`, numbers.count_conversations) the number's 24 h conversation count, all or nothing."""
        key = keys.campaign(tenant_id, campaign["id"])
        done_status = "scheduled" if messages and messages[0]["status"] == st.SCHEDULED else "sending"
        updates = [{
            "pk": key.pk, "sk": key.sk,
            "expression": "SET #cursor = :next, planned = planned + :n, excluded = excluded + :x, #status = :status, "
                          "updated_at = :at REMOVE reason",
            "condition": "#cursor = :cur AND #status IN (:planning, :paused)",
            "names": {"#status": "status", "#cursor": "cursor"},
            "values": {":next": next_cursor or "", ":n": len(messages), ":x": excluded, ":at": at, ":cur": campaign.get("cursor") or "",
                       ":status": PLANNING if next_cursor is not None else done_status, ":planning": PLANNING, ":paused": PAUSED_QUOTA},
        }]
        if messages:
            updates.append(self.quota.update(tenant_id, quota[0], len(messages), quota[1]))
        # Each message names its campaign for the CampaignIndex (the campaign's pk).
        if messages and conversations is not None:
            updates.append(conversations)
        rows = [(self.messages.row({**m, "campaign_key": key.pk}), "attribute_not_exists(pk)") for m in messages]
        failed = self.table.transact_put(rows, updates=updates)
        if failed is None:
            return CampaignPage.WRITTEN
        refused = [code == "ConditionalCheckFailed" for code in failed[len(messages):]] + [False, False, False]
        if messages and not refused[0] and refused[1]:
            return CampaignPage.OVER_QUOTA
        if messages and not refused[0] and refused[2]:
            return CampaignPage.OVER_LIMIT
        return CampaignPage.CONFLICT

    def messages_of(self, tenant_id: str, campaign_id: str) -> list[tuple[str, str]]:
        """(id, status) of every message planned for the campaign."""
        out: list[tuple[str, str]] = []
        start = None
        while True:
            items, start = self.table.query("campaign_key = :c", {":c": keys.campaign(tenant_id, campaign_id).pk},
                                            index="CampaignIndex", start_key=start)
            out += [(i["id"], i["status"]) for i in items]
            if not start:
                return out
