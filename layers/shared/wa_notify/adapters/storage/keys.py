"""Every key of the one table, built here and nowhere else (docs/key-schema.md is this table).

One table, keys prefixed by tenant so that a tenant's rows never share a partition with
another's (see docs/decisions.md). `<tid>` is a tenant id, `<mid>` a message id.

| item type | pk | sk | GSI keys | TTL (`expires_at`) | repository |
|---|---|---|---|---|---|
| tenant profile | TENANT#<tid> | PROFILE | | | tenants |
| tenant settings | TENANT#<tid> | SETTINGS | | | tenants |
| API key (its SHA-256) -> tenant | APIKEY#<sha256> | APIKEY | | | tenants |
| phone number id -> tenant (every number; `removed_at` once removed) | PNID#<pnid> | PNID | | 30 d after removal | tenants, numbers |
| business number (Meta's quality and limit cached; its 24 h conversation count) | TENANT#<tid>#NUMBER | <pnid> | | | numbers |
| WABA id -> tenant | WABA#<waba> | WABA | | | tenants |
| template | TENANT#<tid>#TPL | <name>#<language> | | | templates |
| held by a paused template (ref: MSG#<mid> a message, CMP#<cid> a campaign) | TENANT#<tid>#HOLD#<name>#<language> | <ref> | | 35 d | templates |
| contact (window, opt-out; `erasure_salt` while an erasure runs) | TENANT#<tid>#CONTACT | <phone E.164> | | | contacts |
| erasure receipt (no phone: its salted hash) | TENANT#<tid>#ERASED | ERASED#<phone hash> | | | erasure |
| auto-reply claims | (the contact's `auto_replied` map: rule id -> conversation) | | | | contacts |
| inbound message | TENANT#<tid>#INBOX#<phone> | <at>#<wamid> | ContactIndex (contact_key, listed_at) | 90 d | contacts |
| flow (tombstone when deleted) | TENANT#<tid>#FLOW | <flow name> | | 366 d after deletion | flows |
| event (dedup + answer) | TENANT#<tid>#EVENT#<sha256> | EVENT | | 7 d | flows |
| plan of a key, per flow | TENANT#<tid>#PLAN#<key> | <flow name> | | | flows |
| daily quota counter | TENANT#<tid>#QUOTA | <yyyy-mm-dd> | | its day + 3 d | quota |
| idempotency key | TENANT#<tid>#IDEM#<key> | IDEM | | 24 h (IDEMPOTENCY_TTL_SECONDS) | messages |
| message | TENANT#<tid>#MSG#<mid> | MSG | DueIndex while it needs an action (DUE#<n>, due_at); WamidIndex (wamid); CampaignIndex (campaign_key); ContactIndex (contact_key, listed_at); TimeIndex (tenant_key, listed_at); FailedIndex once failed (failed_key, listed_at) | | messages, leases, dispatch |
| SMS fallback deadline | TENANT#<tid>#MSG#<mid> | FALLBACK | DueIndex (DUE#<n>, due_at) until it is handled | deadline + 7 d | fallback |
| analytics: template day | TENANT#<tid>#STATS | DAY#<yyyy-mm-dd>#TPL#<name>#<language> | | 400 d | analytics |
| analytics: inbound day | TENANT#<tid>#STATS | ACT#<yyyy-mm-dd> | | 400 d | analytics |
| dispatch watermark, per due shard | DISPATCH#<n> | DISPATCH | | | dispatch |
| campaign | TENANT#<tid>#CAMPAIGN#<cid> | CAMPAIGN | (its messages: CampaignIndex campaign_key = its pk) | | campaigns |
| campaign listing (GET /v1/campaigns, newest first) | TENANT#<tid>#CAMPAIGNS | <created_at>#<cid> | | | campaigns |
| GCRA rate bucket | RATE#<scope> | RATE | | | buckets |
| click-tracking token -> (tenant, message, URL) | CLICK#<token> | CLICK | | 400 d | clicks |

Bucket scopes: PNID#<pnid>[#<shard>] (a phone number's pace, sharded above 80/s). One
recipient's pace is WhatsApp's: its 131056 answer is retried with backoff (services/sending.py).

The table's stream (NEW_AND_OLD_IMAGES) is read for four item types (`stream_kind`): messages
past the send, inbound messages once `handled_at` is set (with the `callbacks` they owe),
contacts whose `opt_source` says who changed their opt-out, and templates whose status or
category changed (domain/changes.py).

GSIs: `DueIndex` (due_shard, due_at) holds only rows that need an action at a time (scheduled,
queued, leased and unknown messages, but not an intake's queued message whose job went first;
fallback deadlines; KEYS_ONLY: the dispatcher reads the rows);
`WamidIndex` (wamid) finds a message from a status webhook; `CampaignIndex` (campaign_key, KEYS_ONLY)
lists a campaign's messages;
`ContactIndex` (contact_key = TENANT#<tid>#TO#<phone>, listed_at) holds a contact's messages
and inbound messages (the timeline, `?to=`); `TimeIndex` (tenant_key = TENANT#<tid>#MESSAGES,
listed_at) a tenant's messages by time (`GET /v1/messages`); `FailedIndex` (failed_key =
TENANT#<tid>#FAILED, listed_at) only its failed ones (`?status=failed`). KEYS_ONLY, keys set
once (at creation; failed_key when it fails): no other status change rewrites them.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple


class Key(NamedTuple):
    pk: str
    sk: str

    def item(self, *attributes: Mapping[str, Any]) -> dict[str, Any]:
        """The row: its keys, then the attributes (a later mapping wins over an earlier one)."""
        row: dict[str, Any] = {"pk": self.pk, "sk": self.sk}
        for part in attributes:
            row.update(part)
        return row


# ---- tenants ----------------------------------------------------------------------------------
TENANT_PREFIX = "TENANT#"  # every tenant-owned partition starts with it (the admin CLI's scan)
PROFILE = "PROFILE"


def tenant(tenant_id: str) -> Key:
    return Key(f"TENANT#{tenant_id}", PROFILE)


def settings(tenant_id: str) -> Key:
    return Key(f"TENANT#{tenant_id}", "SETTINGS")


def api_key(key_hash: str) -> Key:
    return Key(f"APIKEY#{key_hash}", "APIKEY")


def phone_number(phone_number_id: str) -> Key:
    return Key(f"PNID#{phone_number_id}", "PNID")


def waba(waba_id: str) -> Key:
    return Key(f"WABA#{waba_id}", "WABA")


def numbers_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#NUMBER"


def number(tenant_id: str, phone_number_id: str) -> Key:
    """One of the tenant's business numbers (the default one has a row only once Meta was asked about it)."""
    return Key(numbers_pk(tenant_id), phone_number_id)


# ---- templates ----------------------------------------------------------------------------------
def templates_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#TPL"


def template(tenant_id: str, name: str, language: str) -> Key:
    return Key(templates_pk(tenant_id), f"{name}#{language}")


def template_name_prefix(name: str) -> str:
    """Every language of one template name."""
    return f"{name}#"


def template_holds_pk(tenant_id: str, name: str, language: str) -> str:
    """What a PAUSED template holds: read back when it is APPROVED (released) or DISABLED (cancelled)."""
    return f"TENANT#{tenant_id}#HOLD#{name}#{language}"


def template_hold(tenant_id: str, name: str, language: str, ref: str) -> Key:
    """`ref` is MSG#<mid> (a held message) or CMP#<cid> (a paused campaign)."""
    return Key(template_holds_pk(tenant_id, name, language), ref)


# ---- contacts and inbound ----------------------------------------------------------------------
def contacts_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#CONTACT"


def contact(tenant_id: str, phone: str) -> Key:
    return Key(contacts_pk(tenant_id), phone)


ERASED_SK_PREFIX = "ERASED#"


def erasure(tenant_id: str, phone_hash: str) -> Key:
    """The receipt of one erasure: its change raises `contact.erased` (the stream, sk prefix)."""
    return Key(f"TENANT#{tenant_id}#ERASED", ERASED_SK_PREFIX + phone_hash)


def inbox_pk(tenant_id: str, phone: str) -> str:
    return f"TENANT#{tenant_id}#INBOX#{phone}"


def inbound(tenant_id: str, phone: str, at: str, wamid: str) -> Key:
    """Sorted by time within a contact's inbox; the wamid keeps a repeat of one message one row."""
    return Key(inbox_pk(tenant_id, phone), f"{at}#{wamid}")


# ---- flows, events, plans ------------------------------------------------------------------------
def flows_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#FLOW"


def flow(tenant_id: str, name: str) -> Key:
    return Key(flows_pk(tenant_id), name)


def event(tenant_id: str, event_hash: str) -> Key:
    return Key(f"TENANT#{tenant_id}#EVENT#{event_hash}", "EVENT")


def plans_pk(tenant_id: str, key: str) -> str:
    return f"TENANT#{tenant_id}#PLAN#{key}"


def plan(tenant_id: str, key: str, flow_name: str) -> Key:
    return Key(plans_pk(tenant_id, key), flow_name)


# ---- quota and idempotency -----------------------------------------------------------------------
def quota(tenant_id: str, day: str) -> Key:
    return Key(f"TENANT#{tenant_id}#QUOTA", day)


def idempotency(tenant_id: str, key: str) -> Key:
    return Key(f"TENANT#{tenant_id}#IDEM#{key}", "IDEM")


# ---- messages ----------------------------------------------------------------------------------
MESSAGE_SK = "MSG"


def message(tenant_id: str, message_id: str) -> Key:
    return Key(f"TENANT#{tenant_id}#MSG#{message_id}", MESSAGE_SK)


def messages_pk_prefix(tenant_id: str) -> str:
    """Where every message's pk starts (a listing's cursor must name one of them)."""
    return f"TENANT#{tenant_id}#MSG#"


def contact_list_key(tenant_id: str, phone: str) -> str:
    """ContactIndex partition: one contact's messages and inbound messages, by `listed_at`."""
    return f"TENANT#{tenant_id}#TO#{phone}"


def messages_list_key(tenant_id: str) -> str:
    """TimeIndex partition: every message of a tenant, by `listed_at` (its created_at)."""
    return f"TENANT#{tenant_id}#MESSAGES"


def failed_list_key(tenant_id: str) -> str:
    """FailedIndex partition: a tenant's failed messages only (`failed_key`, set when one fails)."""
    return f"TENANT#{tenant_id}#FAILED"


def stream_kind(pk: str, sk: str) -> tuple[str, str] | None:
    """(kind, tenant id) of an item whose changes the stream handler reads: `message`, `inbound`,
    `contact`, `template` or `erasure`; None for every other item."""
    if not pk.startswith("TENANT#"):
        return None
    tenant_id, _, rest = pk.removeprefix("TENANT#").partition("#")
    if sk == MESSAGE_SK and rest.startswith("MSG#"):
        return "message", tenant_id
    if rest.startswith("INBOX#"):
        return "inbound", tenant_id
    if rest == "CONTACT":
        return "contact", tenant_id
    if rest == "TPL":
        return "template", tenant_id
    if rest == "ERASED":
        return "erasure", tenant_id
    return None


def fallback_deadline(tenant_id: str, message_id: str) -> Key:
    """Beside its message (same pk), so that status moves of the message never disturb it."""
    return Key(f"TENANT#{tenant_id}#MSG#{message_id}", "FALLBACK")


def due_shard(message_id: str, shards: int) -> str:
    """The DueIndex partition of a message: spread over `shards` by a stable hash of its id."""
    return due_shard_of(zlib.crc32(message_id.encode()) % shards)


def due_shard_of(shard: int) -> str:
    return f"DUE#{shard}"


def dispatch_watermark(shard: int) -> Key:
    return Key(f"DISPATCH#{shard}", "DISPATCH")


# ---- analytics -------------------------------------------------------------------------------------
def stats_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#STATS"


def template_counters_sk(day: str, name: str = "", language: str = "") -> str:
    """A template's counters for a UTC day; without a name, where a day's rows start."""
    return f"DAY#{day}#TPL#{name}#{language}" if name else f"DAY#{day}"


TEMPLATE_COUNTERS_DAY_END = "#~"  # after every template's row of a day ("~" sorts after names)


def activity_counters_sk(day: str) -> str:
    return f"ACT#{day}"


# ---- campaigns -----------------------------------------------------------------------------------
def campaign(tenant_id: str, campaign_id: str) -> Key:
    """Its pk is also its messages' `campaign_key` (CampaignIndex)."""
    return Key(f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}", "CAMPAIGN")


def campaign_listing(tenant_id: str, created_at: str, campaign_id: str) -> Key:
    """One row per campaign, sorted by creation time: GET /v1/campaigns reads it newest first.
    (An id's base32 text does not sort as its time does: digits sort before letters.)"""
    return Key(campaigns_pk(tenant_id), f"{created_at}#{campaign_id}")


def campaigns_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#CAMPAIGNS"


# ---- click tracking --------------------------------------------------------------------------------
def click_token(token: str) -> Key:
    """Found from the token alone (GET /r/{token} has no tenant): like an API key, not tenant-prefixed."""
    return Key(f"CLICK#{token}", "CLICK")


# ---- GCRA rate buckets ------------------------------------------------------------------------------
def bucket(scope: str) -> Key:
    return Key(f"RATE#{scope}", "RATE")


def number_scope(phone_number_id: str, shard: int | None = None) -> str:
    """A phone number's pace; above one bucket's throughput it is split over shards."""
    return f"PNID#{phone_number_id}" if shard is None else f"PNID#{phone_number_id}#{shard}"

