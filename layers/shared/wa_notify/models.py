"""pydantic models at the HTTP boundary (extra fields refused: OWASP API3 mass assignment)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wa_notify.domain import jsonsafe, moments
from wa_notify.domain.flows import EVENT_TYPE_MAX
from wa_notify.models_checks import distinct_rule_ids, distinct_tiers, own_tags, url_as_given
from wa_notify.models_worded import printable

if TYPE_CHECKING:  # the type of the route decorators' responses= (only the type checker reads it)
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

Scalar = str | int | float | bool | None
# A typed value ({"amount", "currency"}, {"date"}, {"datetime", "timezone"}) is one flat object:
# anything nested is refused by validation, before any lookup.
TypedValue = Annotated[dict[Annotated[str, StringConstraints(max_length=32)], Scalar], Field(max_length=8)]


def _not_bool(value: Any) -> Any:
    """A JSON `true` is not the number 1 (pydantic's lax union would render it "1")."""
    if isinstance(value, bool):
        raise ValueError("must be a string, a number or a typed value, not a boolean")
    return value


# A media or location header (`params.header`, domain/header_media.py): one kind holding one
# flat object, {"image": {"link": "https://..."}}; nothing deeper.
HeaderValue = Annotated[dict[Annotated[str, StringConstraints(max_length=16)], TypedValue], Field(
    max_length=2, title="HeaderMedia", description='params.header of a media or location header template: {"image"|"video"|"document": '
    '{"link": "https://..."} or {"id": "<media id>"}, a document may add "filename"}, or {"location": {"latitude", "longitude", '
    '"name"?, "address"?}}')]


def _one_problem(value: Any, handler: Callable[[Any], Any]) -> Any:
    """A value no member of the union takes is one problem, named by the parameter (not one per
    member, each at a path naming the member's type)."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("param_value", "must be a string, a number, a typed value such as {amount, currency}, "
                                  'or a header object such as {"image": {"link": "https://..."}}') from None


# Refused before the union, so the problem names the parameter, not each member of the union.
ParamValue = Annotated[str | int | float | TypedValue | HeaderValue, WrapValidator(_one_problem), BeforeValidator(_not_bool)]


ISO_DATE_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ][0-9]{2}:[0-9]{2}.*)?", re.DOTALL)


def _iso_text(value: Any) -> Any:
    """Date-times come as ISO 8601 text: lax pydantic would take 123, and the text "123" or
    "20261220", as seconds since 1970 (a reminder sent at once instead of on 2026-12-20)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE_TIME_RE.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time string such as 2026-11-24T09:00:00+08:00")
    return value


def _zone(value: str | None) -> str | None:
    if value is not None and not moments.valid_zone(value):
        raise ValueError(moments.ZONE_PROBLEM)
    return value


# Bounded so that converting it to UTC or storing it can never overflow (year 1 with an offset does).
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(moments.check_range)]


class Strict(BaseModel):
    # defer_build: a model's validator is built on its first use, not at import. The API imports
    # every request model for its routes and serves one route per request: a cold start builds
    # the ones its request needs (import 65 ms shorter, docs/decisions.md).
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _from_field() -> Any:
    return Field(default=None, alias="from", min_length=1, max_length=32,
                 description="the business number it goes from: a phone_number_id or the display number (GET /v1/numbers); "
                             "the tenant's default number when omitted")


class TemplateRef(Strict):
    name: str = Field(min_length=1, max_length=512)
    language: str | None = Field(default=None, min_length=2, max_length=16,
                                 description="omit to use the contact's locale (then its base language, then the first translation)")


READABLE = "must be text the customer can read: not blank, no control characters but line breaks and tabs"


def _readable(value: str | None) -> str | None:
    """A text we send as is (a free-form message, an auto-reply): blank (invisible characters
    only, such as "\u200b") or holding NUL, BEL... would reach the phone as nothing or garbage,
    while a template parameter with them is already refused (rendering's control check)."""
    from wa_notify.domain.rendering import unreadable_text

    if value is not None and unreadable_text(value):
        raise ValueError(READABLE)
    return value


# The length is the string's own constraint (checked before the readable rule), so its 422 says
# "characters", not pydantic's "items" for a constraint on the whole annotated value.
ReadableText = Annotated[str, StringConstraints(max_length=4096), AfterValidator(_readable)]


class MessageRequest(Strict):
    to: str = Field(min_length=3, max_length=32, description="any format phonenumbers parses; stored E.164")
    template: TemplateRef | None = None
    text: ReadableText | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)
    button_params: dict[str, str] = Field(default_factory=dict, max_length=10)
    priority: Literal["high", "normal", "bulk"] = "normal"
    send_at: IsoDateTime | None = None
    metadata: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Any] | None, AfterValidator(jsonsafe.check)] = Field(
        default=None, max_length=50)
    from_: str | None = _from_field()


class MessageAccepted(BaseModel):
    id: str
    status: Literal["queued", "scheduled", "accepted", "sent", "delivered", "read", "failed", "cancelled"]


class EventRequest(Strict):
    # The type is what flows' triggers, cancel_on and reschedule_on name; the key is the flow_key its
    # messages are listed by (GET /v1/messages?flow_key=, printable text only).
    type: Annotated[str, printable()] = Field(
        min_length=1, max_length=EVENT_TYPE_MAX, description="the business event, e.g. appointment.booked")
    key: Annotated[str, printable(": GET /v1/messages?flow_key= lists its messages by it")] = Field(
        min_length=1, max_length=200, description="what the event is about (a booking id): cancels and reschedules match on it")
    to: str = Field(min_length=3, max_length=32)
    data: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)
    timezone: Annotated[str | None, AfterValidator(_zone)] = Field(
        default=None, max_length=moments.ZONE_MAX, description="the recipient's IANA time zone, for quiet hours")
    from_: str | None = _from_field()


class PlannedMessage(BaseModel):
    id: str
    status: str
    send_at: str | None
    flow: str
    step: int
    template: str


class EventAccepted(BaseModel):
    messages: list[PlannedMessage]
    skipped: list[dict[str, Any]]
    cancelled: list[str]


Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]  # printable: a NUL tag matches nothing


def _one_line(value: str | None) -> str | None:
    """A contact's name fills template parameters ({"contact": "name"}), where WhatsApp refuses
    control characters and line breaks: stored anyway, the contact would be excluded from every
    campaign that names it (`invalid:params.<name>`) with nothing said when it was saved. Direction
    overrides are refused as template parameters refuse them (domain/rendering.whitespace_problem)."""
    if value is not None and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("cannot contain control characters or line breaks (it fills template parameters)")
    from wa_notify.domain.template_text import reads_backwards

    if value is not None and reads_backwards(value):
        raise ValueError("cannot contain direction overrides (U+202D, U+202E): they make the text read backwards")
    return value


def _known_locale(value: str | None) -> str | None:
    """A locale or default language picks a template translation: one CLDR knows, as every code Meta
    accepts for a template is ("xx_XX" would match no translation, ever)."""
    from wa_notify.domain.languages import known_language

    if value is not None and not known_language(value):
        raise ValueError(f"{value!r} is not a language Meta accepts for templates (codes such as en, en_US, pt_BR, fil, zh_HK)")
    return value


KnownLocale = Annotated[str | None, AfterValidator(_known_locale)]


class ContactRequest(Strict):
    name: Annotated[str | None, AfterValidator(_one_line)] = Field(default=None, max_length=200)
    locale: KnownLocale = Field(default=None, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="e.g. zh_TW: picks the template translation")
    timezone: Annotated[str | None, AfterValidator(_zone)] = None
    tags: Annotated[list[Tag] | None, AfterValidator(own_tags)] = Field(default=None, max_length=50)
    attributes: Annotated[dict[Tag, str | int | float | bool | None] | None, AfterValidator(jsonsafe.check)] = Field(default=None, max_length=50)
    opted_out: StrictBool | None = Field(default=None, description="marketing opt-out; false opts the contact back in")


class ValueTier(Strict):
    tag: Tag
    min_spend: Annotated[StrictFloat, AfterValidator(jsonsafe.check)] = Field(ge=0, le=1e12)


class AutoReplyRule(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    keywords: list[Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_readable)]] = Field(min_length=1, max_length=20)
    reply: ReadableText = Field(min_length=1)


class BusinessHours(Strict):
    timezone: Annotated[str, AfterValidator(_zone)] = "UTC"
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    days: list[Annotated[StrictInt, Field(ge=1, le=7)]] = Field(default=[1, 2, 3, 4, 5], max_length=7,
                                                                description="ISO weekdays, 1 = Monday ([]: never open)")

    @model_validator(mode="after")
    def _some_hours(self) -> BusinessHours:
        # Equal start and end could mean open all day or never: say which by other means.
        if self.start == self.end:
            raise ValueError("start and end are the same time: give the hours the business answers, e.g. 09:00 to 18:00")
        if len(set(self.days)) < len(self.days):
            raise ValueError("days lists a weekday twice")
        return self


class SmsFallback(Strict):
    enabled: StrictBool = Field(default=False, description="send utility and authentication messages by SMS (Amazon SNS) when WhatsApp cannot deliver them")
    unread_minutes: dict[Annotated[str, StringConstraints(min_length=1, max_length=512)], Annotated[StrictInt, Field(ge=1, le=10_080)]] = Field(
        default_factory=dict, max_length=100,
        description="template name -> minutes after sending: still unread then, the SMS goes too (e.g. a one-time code: 5)")
    sender_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*$", max_length=11,
                                  description="alphanumeric sender ID where the destination country allows one")


def _reply_key(value: str) -> str:
    """A reply_actions key is compared as a reply is (conversation.normalized_reply): one with no
    letter or digit ("👍", "!!!", NUL) could never match, so it is refused instead of stored."""
    from wa_notify.domain.conversation import normalized_reply

    if not normalized_reply(value) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must hold a letter or digit (replies are matched ignoring case, accents, punctuation and emoji) "
                         "and no control characters")
    return value


def _one_rating_per_reply(value: dict[str, int] | None) -> dict[str, int] | None:
    """Two rating_replies keys a reply cannot tell apart ("Not happy", "not-happy!") must not rate differently."""
    from wa_notify.domain.conversation import normalized_reply

    seen: dict[str, tuple[str, int]] = {}
    for key, stars in (value or {}).items():
        earlier = seen.setdefault(normalized_reply(key), (key, stars))
        if earlier[1] != stars:
            raise ValueError(f"{earlier[0]!r} and {key!r} are the same reply (compared ignoring case, accents and punctuation) "
                             "with different ratings")
    return value


class SettingsRequest(Strict):
    callback_url: Annotated[HttpUrl | None, BeforeValidator(url_as_given)] = Field(
        default=None, description="receives statuses, replies, ratings, escalations and opt-outs, signed")
    rotate_callback_secret: StrictBool = False
    value_tiers: Annotated[list[ValueTier] | None, AfterValidator(distinct_tiers)] = Field(default=None, max_length=10)
    reply_actions: dict[Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_reply_key)],
                        Literal["cancel", "confirm", "reschedule", "opt_out"]] | None = Field(
        default=None, max_length=50, description="button payload or label -> what it does to the flow it answers, or opt_out (out of marketing)")
    rating_replies: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_reply_key)],
                                   Annotated[StrictInt, Field(ge=1, le=5)]] | None, AfterValidator(_one_rating_per_reply)] = Field(
        default=None, max_length=50, description=(
            "button payload or label -> the rating 1-5 it stands for (\"Not happy\": 1), beside digits, stars and faces; below 3 escalates"))
    auto_replies: Annotated[list[AutoReplyRule] | None, AfterValidator(distinct_rule_ids)] = Field(default=None, max_length=20)
    business_hours: BusinessHours | None = None
    out_of_hours_reply: ReadableText | None = None
    sms_fallback: SmsFallback | None = None
    default_language: KnownLocale = Field(default=None, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description=(
        "the translation for contacts whose locale no translation matches (messages, flows and campaigns that omit the language)"))
    track_clicks: StrictBool | None = Field(default=None, description=(
        "URLs in body params, and URL buttons of templates registered while on, go out as <api>/r/<token>: clicks are recorded"))
    throughput_per_second: StrictInt | None = Field(default=None, ge=1, le=1000, description=(
        "your number's WhatsApp throughput (80/s by default; 1,000/s once Meta upgraded it): all sends are paced to it"))


class CampaignSegment(Strict):
    tag: Tag | None = Field(default=None, description="every contact with this tag")
    contacts: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] | None = Field(
        default=None, max_length=10_000, description="these phone numbers (any format phonenumbers parses)")


class SendWindow(Strict):
    start: IsoDateTime | None = Field(default=None, description="not before (default: now)")
    end: IsoDateTime | None = Field(default=None, description="what has not left by then is cancelled")


class CampaignRequest(Strict):
    name: Annotated[str, printable(": it names the campaign in lists and the dashboard")] | None = Field(default=None, max_length=128)
    template: str = Field(min_length=1, max_length=512)
    language: str | None = Field(default=None, min_length=2, max_length=16, description="omit: each contact's locale picks the translation")
    segment: CampaignSegment
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)
    button_params: dict[str, str] = Field(default_factory=dict, max_length=10)
    send_window: SendWindow | None = None
    from_: str | None = _from_field()


class PreviewRequest(Strict):
    language: str = Field(min_length=2, max_length=16)
    params: dict[str, ParamValue] = Field(default_factory=dict, max_length=100)
    button_params: dict[str, str] = Field(default_factory=dict, max_length=10)
    to: str | None = Field(default=None, max_length=32)


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """application/problem+json (RFC 9457) with every problem listed by field."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] = Field(default_factory=list)


def problem_responses(*codes: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for the error statuses a route can answer."""
    titles = {400: "Malformed request", 401: "No or unknown API key", 404: "Not found", 409: "Conflict (state or idempotency)",
              413: "Payload too large", 415: "The body is not application/json", 422: "Semantically invalid: every problem listed",
              429: "Over the daily quota: Retry-After says when it resets", 502: "WhatsApp did not accept the request"}
    return {code: {"description": titles[code], "content": {"application/problem+json": {"model": Problem}}} for code in codes}


# ---- responses: in wa_notify.models_views; queue and webhook boundaries: in wa_notify.jobs ------------
from wa_notify.jobs import SendJob, StatusUpdate, WebhookChange, WhatsAppError  # noqa: E402, F401
from wa_notify.models_views import (  # noqa: E402, F401
    ActivityReport,
    CampaignProgress,
    CampaignView,
    ContactView,
    FlowPage,
    MessageFallbackView,
    MessageView,
    NumbersView,
    NumberView,
    Page,
    PreviewView,
    Rejection,
    SettingsView,
    TemplateName,
    TemplateReportRow,
    TemplatesReport,
    TemplateView,
)
