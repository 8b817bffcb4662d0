"""A campaign's funnel (planned, queued, sent, delivered, read, failed, cancelled), read in time
whatever its size.

Counting reads every message of the campaign (their keys from CampaignIndex, their statuses by
BatchGetItem): about a second per 10,000 messages in DynamoDB, more under moto. A campaign of up
to INLINE_MAX messages is counted when read, exact. A larger one answers the funnel a count job
found (`progress_as_of` says when) and queues the next count at most once per REFRESH_SECONDS:
the job runs on the sender (no API timeout), page by page within a time budget, and marks the
campaign completed when the count says so. Reading a 100,000-message campaign stays one GetItem
(the API function's 10 s timeout and API Gateway's 29 s would otherwise turn it into a 5xx).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from wa_notify.domain import status as st
from wa_notify.domain.records import CampaignRow
from wa_notify.observability import logger
from wa_notify.services.deps import Deps, iso

INLINE_MAX = 2_000  # planned messages counted on read
REFRESH_SECONDS = 15  # a large campaign's funnel is at most this much older than its last read (plus the job's run)
JOB_BUDGET_SECONDS = 20.0  # of the sender's 30 s timeout: the rest of a count goes in a follow-up job
KEYS_PER_PAGE = 1_000  # message keys read from CampaignIndex per page (ten BatchGetItem calls)
COUNTED = ("queued", "sent", "delivered", "read", "failed", "cancelled", "total")


def empty() -> dict[str, int]:
    return dict.fromkeys(COUNTED, 0)


def add(counts: dict[str, int], statuses: list[tuple[str, str]]) -> dict[str, int]:
    """Cumulative funnel: `sent` counts everything WhatsApp took, `delivered` includes read;
    `queued` is what has not left (scheduled, queued, being sent)."""
    for _, status in statuses:
        counts["total"] += 1
        if status in (st.SCHEDULED, st.QUEUED, st.SENDING, st.UNKNOWN):
            counts["queued"] += 1
        elif status == st.FAILED:
            counts["failed"] += 1
        elif status == st.CANCELLED:
            counts["cancelled"] += 1
        else:
            counts["sent"] += 1
            counts["delivered"] += status in (st.DELIVERED, st.READ)
            counts["read"] += status == st.READ
    return counts


def is_large(item: CampaignRow) -> bool:
    return int(item.get("planned", 0)) > INLINE_MAX


def count_now(deps: Deps, tenant_id: str, campaign_id: str) -> dict[str, int]:
    return add(empty(), deps.store.campaigns.messages_of(tenant_id, campaign_id))


def snapshot(deps: Deps, tenant_id: str, item: CampaignRow) -> tuple[dict[str, int] | None, str | None]:
    """A large campaign's last counted funnel and when it was counted (None before the first
    count), queuing the next count when it is older than REFRESH_SECONDS."""
    now = deps.now()
    at = item.get("progress_at")
    stale_before = iso(now - timedelta(seconds=REFRESH_SECONDS))
    if (at is None or str(at) < stale_before) and item["status"] not in ("completed",) and \
            deps.store.campaigns.claim_count(tenant_id, item["id"], iso(now), stale_before):
        deps.queues.send("normal", {"kind": "campaign_count", "tenant_id": tenant_id, "campaign_id": item["id"]})
    counts = item.get("progress")
    return ({k: int(v) for k, v in counts.items()} if isinstance(counts, dict) else None), (str(at) if at else None)


def count_job(deps: Deps, job: dict[str, Any]) -> str:
    """Count the campaign's messages page by page within JOB_BUDGET_SECONDS; the rest (with the
    counts so far and where to go on) is a follow-up job. The whole count is saved at the end,
    then the campaign is marked completed when every message has left."""
    from wa_notify.services.campaigns import check_completed

    tenant_id, campaign_id = job["tenant_id"], job["campaign_id"]
    counts = {**empty(), **{k: int(v) for k, v in (job.get("counts") or {}).items() if k in COUNTED}}
    start = job.get("start")
    deadline = time.monotonic() + JOB_BUDGET_SECONDS
    while True:
        rows, start = deps.store.campaigns.messages_page(tenant_id, campaign_id, start, limit=KEYS_PER_PAGE)
        add(counts, rows)
        if not start:
            break
        if time.monotonic() > deadline:
            deps.queues.send("normal", {"kind": "campaign_count", "tenant_id": tenant_id, "campaign_id": campaign_id,
                                        "start": start, "counts": counts})
            return "counting"
    deps.store.campaigns.save_progress(tenant_id, campaign_id, counts, iso(deps.now()))
    item = deps.store.campaigns.get(tenant_id, campaign_id)
    if item is not None:
        check_completed(deps, tenant_id, item, counts)
    logger.info("campaign counted", extra={"campaign_id": campaign_id, **counts})
    return "counted"
