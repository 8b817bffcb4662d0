"""The message status machine.

Statuses only move forward. The rank orders them so that a late or duplicated webhook can
never move a message backward: `read` beats `delivered` whatever the arrival order, and a
`sent` arriving after `failed` is ignored. `delivered`/`read` outrank `failed` because they
are evidence the message reached the phone (Meta's BSPs report `delivered` after `failed`).

Internal states `sending` (a lease is held) and `unknown` (WhatsApp may or may not have
accepted the request) are shown to API clients as `queued` plus `stage`.
"""

from __future__ import annotations

SCHEDULED = "scheduled"
QUEUED = "queued"
SENDING = "sending"
UNKNOWN = "unknown"
ACCEPTED = "accepted"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
FAILED = "failed"
CANCELLED = "cancelled"

RANK: dict[str, int] = {
    SCHEDULED: 0,
    QUEUED: 1,
    SENDING: 2,
    UNKNOWN: 3,
    ACCEPTED: 4,
    SENT: 5,
    FAILED: 6,
    DELIVERED: 7,
    READ: 8,
}
PUBLIC_STATUSES = (ACCEPTED, SCHEDULED, QUEUED, SENT, DELIVERED, READ, FAILED, CANCELLED)
WEBHOOK_STATUSES = (SENT, DELIVERED, READ, FAILED)
CANCELLABLE = (SCHEDULED, QUEUED)
TERMINAL = (READ, CANCELLED)


def public_status(internal: str) -> str:
    """What API clients see: the internal lease and ambiguity states read as `queued`."""
    return QUEUED if internal in (SENDING, UNKNOWN) else internal


def statuses_below(new_status: str) -> list[str]:
    """Every status a message may be in for `new_status` to be a forward move."""
    rank = RANK[new_status]
    return [s for s, r in RANK.items() if r < rank]


def is_forward(current: str, new_status: str) -> bool:
    if current == CANCELLED or new_status not in RANK or current not in RANK:
        return False
    return RANK[current] < RANK[new_status]


def history(events: dict[str, str]) -> list[dict[str, str]]:
    """The status history from the per-status first-seen timestamps, in status order."""
    ordered = sorted(events.items(), key=lambda kv: (RANK.get(kv[0], 99), kv[1]))
    seen: list[dict[str, str]] = []
    for status, at in ordered:
        if status in (SENDING, UNKNOWN):
            continue
        seen.append({"status": status, "at": at})
    return seen


