"""Campaigns: the campaign row and its pages of messages, planned page by page against the quota."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.messages import MessageRepository
from wa_notify.adapters.storage.paging import decode_cursor, encode_cursor
from wa_notify.adapters.storage.quota import QuotaRepository
from wa_notify.domain.outcomes import CampaignPage
from wa_notify.domain.records import CampaignRow, MessageRow

PLANNING, PAUSED_QUOTA, CANCELLED, SENDING, COMPLETED = "planning", "paused_quota", "cancelled", "sending", "completed"


@dataclass
class CampaignRepository:
    table: Table
    messages: MessageRepository
    quota: QuotaRepository

    def put(self, tenant_id: str, item: CampaignRow) -> None:
        """The campaign and its listing row (GET /v1/campaigns), together."""
        listing = keys.campaign_listing(tenant_id, item["created_at"], item["id"]).item({"id": item["id"]})
        self.table.transact_put_new([keys.campaign(tenant_id, item["id"]).item(dynamo_safe(item)), listing])

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[builtins.list[CampaignRow], str | None]:
        """A page of campaigns, newest first: the listing rows, then the campaigns (one batch read)."""
        pk = keys.campaigns_pk(tenant_id)
        rows, last = self.table.query("pk = :pk", {":pk": pk}, limit=limit, start_key=decode_cursor(cursor, pk), newest_first=True)
        found = {c["id"]: c for c in self.table.batch_get([keys.campaign(tenant_id, r["id"])._asdict() for r in rows])}
        return [cast("CampaignRow", found[r["id"]]) for r in rows if r["id"] in found], encode_cursor(last)

    def complete(self, tenant_id: str, campaign_id: str, at: str) -> bool:
        """sending -> completed, once every message is planned (planned_all) and has left our hands."""
        ok, _ = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = :done, completed_at = :at, updated_at = :at",
            condition="#status = :sending AND planned_all = :t", names={"#status": "status"},
            values={":done": COMPLETED, ":sending": SENDING, ":t": True, ":at": at})
        return ok

    def drop_unplanned(self, tenant_id: str, campaign_id: str, created_at: str) -> bool:
        """Delete a campaign nothing was planned for yet (its planning job could not be queued)."""
        dropped = self.table.delete(*keys.campaign(tenant_id, campaign_id), condition="planned = :zero", values={":zero": 0})
        if dropped:
            self.table.delete(*keys.campaign_listing(tenant_id, created_at, campaign_id))
        return dropped

    def get(self, tenant_id: str, campaign_id: str) -> CampaignRow | None:
        return cast("CampaignRow | None", self.table.get(*keys.campaign(tenant_id, campaign_id), consistent=True))

    def stop(self, tenant_id: str, campaign_id: str, at: str) -> CampaignRow | None:
        """Any campaign not yet cancelled or completed -> cancelled; None when it was either."""
        ok, item = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = :c, updated_at = :at, cancelled_at = :at",
            condition="attribute_exists(pk) AND NOT #status IN (:c, :done)", names={"#status": "status"},
            values={":c": CANCELLED, ":done": COMPLETED, ":at": at},
            return_new=True,
        )
        return cast("CampaignRow", item) if ok else None

    def mark(self, tenant_id: str, campaign_id: str, status: str, reason: str, at: str) -> bool:
        """A campaign still planning (or paused) -> `status`, with why."""
        ok, _ = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = :s, reason = :r, updated_at = :at",
            condition="#status IN (:planning, :paused, :sending) AND attribute_not_exists(planned_all)", names={"#status": "status"},
            values={":s": status, ":r": reason, ":at": at, ":planning": PLANNING, ":paused": PAUSED_QUOTA, ":sending": SENDING},
        )
        return ok

    def write_page(self, tenant_id: str, campaign: CampaignRow, messages: builtins.list[MessageRow], *,
                   next_cursor: str | None, excluded: dict[str, int], at: str, quota: tuple[str, int],
                   conversations: dict[str, Any] | None = None) -> CampaignPage:
        """One page of a campaign's messages, the campaign's cursor, its exclusions by reason, the
        quota count and (with `conversations`, numbers.count_conversations) the number's 24 h
        conversation count, all or nothing. The campaign is `sending` once a message is planned,
        `planned_all` after its last page (`completed` at once when that planned nothing)."""
        key = keys.campaign(tenant_id, campaign["id"])
        planned = int(campaign.get("planned", 0)) + len(messages)
        status = SENDING if planned else (PLANNING if next_cursor is not None else COMPLETED)
        names = {"#status": "status", "#cursor": "cursor"}
        values: dict[str, Any] = {":next": next_cursor or "", ":n": len(messages), ":x": sum(excluded.values()), ":at": at,
                                  ":cur": campaign.get("cursor") or "", ":status": status, ":planning": PLANNING,
                                  ":paused": PAUSED_QUOTA, ":sending": SENDING}
        sets = ["#cursor = :next", "planned = planned + :n", "excluded = excluded + :x", "#status = :status", "updated_at = :at"]
        if "excluded_by" not in campaign:  # a campaign from before the reasons were counted
            sets.append("excluded_by = :by")
            values[":by"] = dict(excluded)
        else:
            for i, (reason, count) in enumerate(excluded.items()):
                names[f"#r{i}"] = reason
                values[f":x{i}"] = count
                sets.append(f"excluded_by.#r{i} = if_not_exists(excluded_by.#r{i}, :zero) + :x{i}")
                values[":zero"] = 0
        if next_cursor is None:
            sets.append("planned_all = :true")
            values[":true"] = True
        updates = [{
            "pk": key.pk, "sk": key.sk, "expression": "SET " + ", ".join(sets) + " REMOVE reason",
            "condition": "#cursor = :cur AND #status IN (:planning, :paused, :sending) AND attribute_not_exists(planned_all)",
            "names": names, "values": values,
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

    def messages_of(self, tenant_id: str, campaign_id: str) -> builtins.list[tuple[str, str]]:
        """(id, status) of every message planned for the campaign (see messages_page)."""
        out: builtins.list[tuple[str, str]] = []
        start = None
        while True:
            rows, start = self.messages_page(tenant_id, campaign_id, start)
            out += rows
            if not start:
                return out

    def messages_page(self, tenant_id: str, campaign_id: str, start: dict[str, Any] | None,
                      limit: int | None = None) -> tuple[builtins.list[tuple[str, str]], dict[str, Any] | None]:
        """One page of (id, status) of the campaign's messages and where the next starts: their keys
        from CampaignIndex (KEYS_ONLY, so a status change never writes the index), their statuses
        read with BatchGetItem (consistent, 100 a call)."""
        items, nxt = self.table.query("campaign_key = :c", {":c": keys.campaign(tenant_id, campaign_id).pk},
                                      index="CampaignIndex", start_key=start, limit=limit)
        rows = self.table.batch_get([{"pk": i["pk"], "sk": i["sk"]} for i in items],
                                    projection="id, #status", names={"#status": "status"}) if items else []
        return [(r["id"], r["status"]) for r in rows], nxt

    def save_progress(self, tenant_id: str, campaign_id: str, counts: dict[str, int], at: str) -> None:
        """The funnel a count job found, as of `at` (what GET answers for a large campaign)."""
        self.table.update(*keys.campaign(tenant_id, campaign_id), "SET progress = :p, progress_at = :at",
                          condition="attribute_exists(pk)", values={":p": counts, ":at": at})

    def claim_count(self, tenant_id: str, campaign_id: str, at: str, stale_before: str) -> bool:
        """Whether this reader queues the next count job: at most one per campaign per refresh period."""
        ok, _ = self.table.update(*keys.campaign(tenant_id, campaign_id), "SET count_requested_at = :at",
                                  condition="attribute_exists(pk) AND (attribute_not_exists(count_requested_at) OR count_requested_at < :stale)",
                                  values={":at": at, ":stale": stale_before})
        return bool(ok)
