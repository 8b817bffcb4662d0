"""pydantic models of the HTTP API's answers (the requests are in wa_notify.models).

The services build them from stored rows and the routes return them, so the OpenAPI document
has a response schema for each. Every field is always serialized, null included (Powertools
dumps without exclude_none), exactly as the dicts these replaced: a client that reads a key
whose value is null keeps finding it. Values read back from DynamoDB are loose (an integral
float comes back an int): numbers and stored free-form data stay `Any`, so that validating a
view never turns 1000 into 1000.0. Meta's template components and a flow as it was PUT are
free-form JSON: their containers are typed, their contents `dict[str, Any]`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use (models.Strict says why)


class TemplateName(View):
    name: str
    language: str


class MessageTemplate(TemplateName):
    language_reason: str | None = Field(default=None, description="why this translation, e.g. contact locale pt_PT, nearest translation")


class CampaignTemplate(View):
    name: str
    language: str | None = Field(description="null: each contact's locale picks the translation")


class MessageFallbackView(View):
    channel: Literal["sms"]
    reason: str | None
    status: str | None
    at: str
    provider_message_id: str | None
    error: Any


class MessageView(View):
    """GET/DELETE /v1/messages/{message_id}."""

    id: str
    to: str
    template: MessageTemplate | None
    text: str | None
    status: str = Field(description="the public status")
    stage: str = Field(description="the internal stage (sending, unknown, ...)")
    priority: str
    send_at: str | None
    history: list[dict[str, Any]] = Field(description="{status, at, channel} in order; an SMS fallback adds its reason")
    error: Any
    last_error: Any
    provider_message_id: str | None
    pricing: Any
    billing: Any
    metadata: Any
    flow: Any
    campaign: str | None
    reply: Any
    rating: Any
    attempts: int
    created_at: str
    fallback: MessageFallbackView | None
    cancel_reason: str | None = Field(default=None, description="why it was cancelled (template_disabled: Meta disabled its template)")
    held_for: str | None = Field(default=None, description="<name>#<language> while its template is PAUSED: held, sent when approved again")
    clicks: list[dict[str, Any]] = Field(default_factory=list, description="[{url, at}] of its tracked links, first 50 (click tracking)")
    click_count: int = Field(default=0, description="every click, the ones past the first 50 included")


class ContactView(View):
    phone: str
    name: str | None
    locale: str | None
    timezone: str | None
    tags: list[str]
    computed_tags: list[str]
    attributes: dict[str, Any]
    last_inbound_at: str | None
    window_open: bool
    window_expires_at: str | None
    opted_out: bool
    created_at: str | None
    updated_at: str | None


class SettingsView(View):
    throughput_per_second: int
    daily_quota: int
    quota_used_today: int
    callback_url: str | None
    callback_secret: str | None
    value_tiers: list[dict[str, Any]] | None
    reply_actions: dict[str, str] | None
    rating_replies: dict[str, int] | None = None
    auto_replies: list[dict[str, Any]] | None
    business_hours: dict[str, Any] | None
    out_of_hours_reply: str | None
    sms_fallback: dict[str, Any] | None
    track_clicks: bool = False
    default_language: str | None = None
    updated_at: str | None


class CampaignProgress(View):
    planned: int
    queued: int = Field(description="not yet handed to WhatsApp: scheduled (e.g. waiting for send_window.start) or queued")
    sent: int
    delivered: int
    read: int
    failed: int
    cancelled: int
    as_of: str | None = Field(default=None, description=(
        "a campaign of more than 2,000 messages is counted in the background: when this funnel was counted "
        "(null: counted for this answer, or not yet counted)"))


class CampaignView(View):
    id: str
    name: str | None
    template: CampaignTemplate
    segment: dict[str, Any] = Field(description="{tag} or {contacts: how many}")
    send_window: dict[str, Any] | None
    status: Literal["planning", "sending", "completed", "cancelled", "paused_quota", "paused_template"]
    progress: CampaignProgress | None = Field(description="the funnel (null in GET /v1/campaigns: GET the campaign for it)")
    excluded_opted_out: int
    excluded: dict[str, int] = Field(description="contacts left out, by reason: opted_out, no_translation, missing:<contact path>")
    reason: str | None
    created_at: str
    updated_at: str | None


class Rejection(View):
    reason: Any
    detail: Any


class TemplateView(View):
    name: str
    language: str
    category: str
    parameter_format: str
    status: str
    id: str | None
    rejection: Rejection | None
    parameters: list[dict[str, Any]]
    components: list[dict[str, Any]] = Field(description="Meta's components, as registered")
    created_at: str | None
    quality: str | None = Field(default=None, description="Meta's quality score: GREEN, YELLOW, RED or UNKNOWN")
    unsupported: str | None = Field(default=None, description="imported from Meta in a form wa-notify cannot send yet: why "
                                    "(sends of it answer 409)")
    # Only when the template has several translations and none was asked for: absent otherwise.
    languages: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)
    click_targets: dict[str, str] | None = Field(default=None, description=(
        "click tracking: button index -> your URL, for URL buttons Meta holds as <api>/r/{{1}} (registered while tracking was on)"))


class TemplateSyncView(View):
    """POST /v1/templates/sync: what the import found at Meta."""

    imported: int = Field(description="new here")
    updated: int = Field(description="stored already; Meta's copy differed and replaced it")
    unchanged: int
    items: list[TemplateView] = Field(description="the templates imported or updated by this run")
    complete: bool = Field(default=True, description="false: the run stopped before the API function's time ran out; "
                           "POST again with ?cursor=<next> to carry on")
    next: str | None = Field(default=None, description="where the next run carries on (`complete` false only)")


class Page[T](View):
    items: list[T]
    next: str | None


class FlowPage(Page[dict[str, Any]]):
    """A page of flows, each as it was PUT (its fields, name, created_at, updated_at): free-form."""


class PreviewView(View):
    header: str | None
    header_media: dict[str, Any] | None = Field(
        default=None, description='a media or location header as sent: {"type": "image", "image": {"link": "https://..."}}')
    body: str
    footer: str | None
    buttons: list[dict[str, Any]]
    request: dict[str, Any] = Field(description="the exact Cloud API request")


class TemplateReportRow(View):
    template: TemplateName
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int
    clicked: int = Field(default=0, description="messages whose tracked links were clicked (each message once)")
    delivery_rate: float | None
    read_rate: float | None
    failure_rate: float | None
    reply_rate: float | None
    click_rate: float | None = Field(default=None, description="clicked / sent")
    median_time_to_read_seconds: int | None


class TemplatesReport(View):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    items: list[TemplateReportRow]
    next: str | None


class ActivityReport(View):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    timezone: str
    weekdays: list[str]
    hours: list[int]
    counts: list[list[int]]
    total: int


class NumberView(View):
    phone_number_id: str
    display_phone_number: str | None
    waba_id: str
    throughput_per_second: Any = Field(description="the pace wa-notify keeps for this number (messages per second)")
    quality_rating: str | None = Field(description="Meta's: GREEN, YELLOW, RED or UNKNOWN (cached up to 10 minutes)")
    messaging_limit: str | None = Field(description="Meta's tier of business-initiated conversations per 24 h: TIER_250, TIER_1K, "
                                                    "TIER_10K, TIER_100K or TIER_UNLIMITED (cached up to 10 minutes)")
    default: bool


class NumbersView(View):
    items: list[NumberView]
