"""The table's rows as the code reads and writes them: one TypedDict per item type of
docs/key-schema.md (and the nested shapes worth naming).

TypedDicts, not models: a row from DynamoDB is already a dict, so typing it costs nothing per
read (no validation, no copy, nothing at import on a cold start), and mypy still checks every
key a service reads or writes (docs/decisions.md). `total=False` keeps `.get` natural for
attributes a row may lack; `Required[...]` marks what every row of the type has once written.
`pk` and `sk` are on every stored row but not Required: the services build a row without its
keys and the repository adds them (`keys.<item>(...).item(row)`).

Numbers are `int` (`adapters.dynamo.from_item` turns integral Decimals into int). Values that
are free-form by nature (Meta's components and rendered request, the platform's metadata and
attributes, pricing as WhatsApp sends it) stay `Any` / `dict[str, Any]`.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict

# ---- nested shapes ----------------------------------------------------------------------------

class MessageTemplateRef(TypedDict, total=False):
    """The template a message (or a campaign) sends. Every ref has name and language; they are not
    Required so that `message.get("template") or {}` (a text message has none) types as a ref."""

    name: str
    language: str
    category: str
    language_reason: str  # why this translation (domain/languages.py); absent on older rows


class ErrorInfo(TypedDict, total=False):
    """Why a send failed (`error`) or will be retried (`last_error`)."""

    code: int | str | None
    title: str | None
    details: Any
    advice: str  # what the platform should do, for the codes whatsapp_errors.ADVICE knows


class LastReply(TypedDict, total=False):
    """What the customer answered to a message."""

    at: str
    text: str | None
    payload: str | None
    action: str | None
    rating: int | None


class FallbackPlan(TypedDict, total=False):
    """An SMS fallback kept on the message (domain/fallback.plan), then its claim and outcome."""

    text: Required[str]
    unread_minutes: int | None
    sender_id: str
    claimed_at: str
    reason: str
    status: str  # sending, sent, failed
    sending_at: str
    sent_at: str
    failed_at: str
    provider_message_id: str
    error: str


class FlowRef(TypedDict, total=False):
    """The flow step that planned a message."""

    name: Required[str]
    step: int
    key: str
    event: str
    moved_from: str | None


class Billing(TypedDict, total=False):
    category: str  # service, utility, marketing, authentication
    type: str  # free_customer_service, regular
    billable: bool


class CampaignSegment(TypedDict, total=False):
    tag: str
    contacts: list[str]


class SendWindow(TypedDict, total=False):
    start: str | None
    end: str | None


class EventResponse(TypedDict, total=False):
    """What an event answered (kept with the event, replayed on a repeat)."""

    messages: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    cancelled: list[str]


# ---- tenants ----------------------------------------------------------------------------------

class TenantRow(TypedDict, total=False):
    """The tenant profile (keys.tenant)."""

    pk: str
    sk: str
    tenant_id: Required[str]
    name: str
    phone_number_id: Required[str]
    waba_id: Required[str]
    created_at: str
    api_key_hash: str
    daily_quota: int  # an operator sets it on the profile (README: Quota); nothing in the code writes it


class TenantLookupRow(TypedDict, total=False):
    """Which tenant an API key, a phone number id or a WABA names (keys.api_key, phone_number, waba)."""

    pk: str
    sk: str
    tenant_id: Required[str]


class SettingsRow(TypedDict, total=False):
    """The tenant's settings (keys.settings): what it set (SettingsRequest), merged field by field."""

    pk: str
    sk: str
    throughput_per_second: int | None
    callback_url: str | None
    callback_secret: str | None
    value_tiers: list[dict[str, Any]] | None
    reply_actions: dict[str, Any] | None
    rating_replies: dict[str, int] | None
    auto_replies: list[dict[str, Any]] | None
    business_hours: dict[str, Any] | None
    out_of_hours_reply: dict[str, Any] | None
    sms_fallback: dict[str, Any] | None
    track_clicks: bool | None
    click_key: str  # the tenant's HMAC key for click tokens (domain/clicks.py), made when tracking is first on
    default_language: str | None
    updated_at: str


# ---- templates and contacts -------------------------------------------------------------------

class TemplateRow(TypedDict, total=False):
    """A template, one per name and language (keys.template)."""

    pk: str
    sk: str
    name: Required[str]
    language: Required[str]
    category: Required[str]
    parameter_format: str
    components: list[dict[str, Any]]  # Meta's, as registered
    status: Required[str]
    status_source: str
    status_reason: str | None
    status_detail: Any
    meta_id: str
    quality: str | None  # Meta's quality score: GREEN, YELLOW, RED or UNKNOWN
    unsupported: str | None  # imported as Meta holds it, in a form we cannot send: why (sends answer 409)
    click_targets: dict[str, str]  # button index -> the platform's URL, for buttons Meta holds as <api>/r/{{1}}
    created_at: str
    updated_at: str


class ContactRow(TypedDict, total=False):
    """A contact (keys.contact): the profile and the conversation state."""

    pk: str
    sk: str
    phone: str  # on every stored row; not Required, so `get(...) or {}` (no such contact) is a ContactRow
    name: str | None
    locale: str | None
    timezone: str | None
    tags: list[str] | None
    attributes: dict[str, Any] | None
    opted_out: bool
    opt_changed_at: str
    opt_reason: str
    opt_source: str  # reply, 131050, api
    last_inbound_at: str
    window_expires_at: str
    conversation_started_at: str
    auto_replied: dict[str, str]  # rule id -> the conversation it replied in
    created_at: str
    updated_at: str


# `from` is a keyword: the functional form.
InboundRow = TypedDict("InboundRow", {
    "pk": str,
    "sk": str,
    "wamid": Required[str],
    "expires_at": int,
    "from": str,
    "received_at": str,
    "type": str,  # domain inbound_summary: text, button, interactive, reaction, ...
    "text": str | None,
    "payload": str | None,
    "context_id": str | None,
    "emoji": str | None,
    "handled_at": str,
    "callbacks": list[dict[str, Any]],  # the events the stream posts once handled
}, total=False)
"""An inbound message (keys.inbound)."""


# ---- flows --------------------------------------------------------------------------------------

class FlowRow(TypedDict, total=False):
    """A flow (keys.flow): the FlowRequest as given, with its times (a tombstone once deleted)."""

    pk: str
    sk: str
    name: Required[str]
    trigger: str
    cancel_on: list[str] | None
    reschedule_on: list[str] | None
    language: str | None
    default_language: str | None
    priority: str
    quiet_hours: dict[str, Any] | None
    steps: list[dict[str, Any]]
    acknowledge: dict[str, str] | None
    description: str | None
    created_at: str
    updated_at: str
    deleted_at: str
    expires_at: int


class EventRow(TypedDict, total=False):
    """An event (keys.event), recorded once with its answer."""

    pk: str
    sk: str
    type: Required[str]
    key: Required[str]
    response: EventResponse
    created_at: str
    expires_at: int
    body_hash: str  # the event's body, for an Idempotency-Key reused with another one (409)


class PlanRow(TypedDict, total=False):
    """What one flow planned for a key (keys.plan; sk: the flow's name)."""

    pk: str
    sk: str
    message_ids: Required[list[str]]
    event_type: str
    event_hash: str
    updated_at: str


# ---- messages -----------------------------------------------------------------------------------

class IdempotencyRow(TypedDict, total=False):
    """An Idempotency-Key's record (keys.idempotency)."""

    pk: str
    sk: str
    key: Required[str]
    tenant_id: str
    message_id: Required[str]
    body_hash: Required[str]
    created_at: str
    expires_at: int


class MessageRow(TypedDict, total=False):
    """A message (keys.message), in DueIndex (due_shard, due_at) while something is due,
    WamidIndex (wamid), CampaignIndex (campaign_key)."""

    pk: str
    sk: str
    id: Required[str]
    tenant_id: Required[str]
    to: Required[str]
    phone_number_id: str
    template: MessageTemplateRef | None
    text: str | None
    priority: Required[str]
    request: Any  # the rendered Cloud API request until WhatsApp accepts it: a dict to write, packed when read (domain/wire.py)
    status: Required[str]
    events: dict[str, str]  # status -> when
    attempts: int
    metadata: Any
    send_at: str | None
    created_at: Required[str]
    updated_at: str
    due_at: int
    due_shard: str
    billing: Billing
    fallback: FallbackPlan
    flow: FlowRef
    campaign: str
    campaign_key: str
    wamid: str
    lease_token: str
    lease_until: int
    error: ErrorInfo
    last_error: ErrorInfo
    unknown_reason: str
    cancel_reason: str
    held_for: str  # <name>#<language>: parked (scheduled) while that template is PAUSED
    cancelled_by: str
    pricing: dict[str, Any]  # as WhatsApp sends it
    last_reply: LastReply
    rating: int
    not_after: int  # epoch ms: a campaign message not sent by its window's end is cancelled
    pair_refusals: int  # WhatsApp's per-recipient pace refused it this many times (no attempt)
    clicks: list[dict[str, str]]  # [{url, at}] of its tracked links (the first MAX_CLICKS)
    clicked_at: str  # the first click (the stream's message.clicked)
    click_count: int
    click_tokens: list[str]  # its click-tracking tokens (keys.click_token), for an erasure to find


class MessageExtras(TypedDict, total=False):
    """What a caller of services/messages.build_item adds to the message row it builds."""

    billing: Billing
    fallback: FallbackPlan
    flow: FlowRef
    campaign: str
    not_after: int


class FallbackDeadlineRow(TypedDict, total=False):
    """An SMS fallback's unread deadline (keys.fallback_deadline), in DueIndex until handled."""

    pk: str
    sk: str
    id: Required[str]
    tenant_id: Required[str]
    status: Required[str]  # "fallback_due", as the dispatcher reads it
    due_shard: str
    due_at: int
    expires_at: int


# ---- campaigns ----------------------------------------------------------------------------------

class CampaignRow(TypedDict, total=False):
    """A campaign (keys.campaign); its messages name it in CampaignIndex."""

    pk: str
    sk: str
    id: Required[str]
    tenant_id: Required[str]
    name: str | None
    template: Required[MessageTemplateRef]
    params: Any
    button_params: Any
    segment: Required[CampaignSegment]
    send_window: SendWindow
    status: Required[str]
    planned: int
    excluded: int
    excluded_by: dict[str, int]  # contacts left out, by reason (opted_out, no_translation, missing:<path>, invalid:<field>)
    planned_all: bool  # its last page is planned; then `completed` once every message left our hands
    completed_at: str
    cursor: str
    reason: str
    created_at: Required[str]
    updated_at: str
    cancelled_at: str
    phone_number_id: str  # the number it goes from (`from`); absent: the tenant's default


class ClickTokenRow(TypedDict, total=False):
    """A click-tracking token (keys.click_token): where it leads, and whose message it counts on."""

    pk: str
    sk: str
    tenant_id: str
    message_id: str
    url: str
    expires_at: int


class NumberRow(TypedDict, total=False):
    """A business number a tenant added besides its default (keys.number)."""

    phone_number_id: str
    display_phone_number: str | None
    waba_id: str
    added_at: str
    quality_rating: str | None  # Meta's, cached (GREEN, YELLOW, RED, UNKNOWN)
    messaging_limit: str | None  # Meta's tier, cached (TIER_250 ... TIER_UNLIMITED)
    meta_checked_at: int  # epoch seconds of the last read from Meta
    limit_window_start: int  # epoch ms: the current 24 h window of business-initiated conversations
    limit_used: int  # conversations counted in it
