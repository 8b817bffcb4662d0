"""What the store's conditional writes answer, named here so that the services comparing them
need not import the store (which loads boto3). `PlanWrite`, an event's plan write, is in
domain/flows.py for the same reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MessageWrite(enum.Enum):
    """A message's intake write (the message, its idempotency record, its quota count)."""

    WRITTEN = "written"
    DUPLICATE_KEY = "duplicate_key"  # the idempotency key is taken (and not expired)
    OVER_QUOTA = "over_quota"  # the daily quota is spent
    ID_CLASH = "id_clash"  # a message with this id exists (80 random bits: never in practice)


class CampaignPage(enum.Enum):
    """One page of a campaign's messages, its cursor and its quota count, all or nothing."""

    WRITTEN = "written"
    OVER_QUOTA = "over_quota"  # the page would go over today's quota
    OVER_LIMIT = "over_limit"  # its new conversations would go over the number's 24 h messaging limit
    CONFLICT = "conflict"  # written by an earlier delivery of the same job, or the campaign was cancelled


class Watermark(enum.Enum):
    """The dispatcher's claim on a due shard's minute."""

    CLAIMED = "claimed"  # this run advanced the watermark: the range after the old one is its to enqueue
    TAKEN = "taken"  # another run advanced it first
    AHEAD = "ahead"  # it is past this run's minute (the clock was moved, e.g. by /_local/clock):
    #                  that minute is released message by message instead


@dataclass(frozen=True)
class DueClaim:
    outcome: Watermark
    after: int = -1  # with CLAIMED: the previous watermark in ms (-1: the shard's first run)


@dataclass(frozen=True)
class StoredInbound:
    """An inbound message's row after the webhook stored it: `handled` once its effects were done
    (a webhook delivered again then changes nothing); not yet handled, the effects run again."""

    received_at: str
    handled: bool
    resumed: bool = False  # stored by an earlier delivery that failed before it was handled
