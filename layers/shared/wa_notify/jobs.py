"""Queue-message and webhook-entry models, apart from the API models so the queue functions
import only what they validate (cold starts: see docs/decisions.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Json, Tag, ValidationError, ValidatorFunctionWrapHandler, WrapValidator


class SendJob(BaseModel):
    """The body of a send-lane SQS message."""

    model_config = ConfigDict(extra="forbid")

    # Jobs queued before `kind` existed have none: they are send jobs (see LaneJob).
    kind: Literal["send"] = "send"
    tenant_id: str = Field(min_length=1, max_length=64)
    message_id: str = Field(pattern=r"^msg_[a-z2-7]{26}$")
    phone_number_id: str = Field(min_length=1, max_length=64)
    to: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    lane: Literal["high", "normal", "bulk"]
    due_by: int | None = Field(default=None, ge=0, description="set by the dispatcher: the end of the minute it released")
    created_ms: int | None = Field(default=None, ge=0, description="when the message was made (epoch ms): its row may follow the job")


class CampaignJob(BaseModel):
    """A campaign's planning (next page) or cancelling job, on a send lane."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["campaign_plan", "campaign_cancel", "campaign_count"]
    tenant_id: str = Field(min_length=1, max_length=64)
    campaign_id: str = Field(pattern=r"^cmp_[a-z2-7]{26}$")
    # A count job's continuation (services/campaign_progress): where to go on, and the counts so far.
    start: dict[str, Any] | None = None
    counts: dict[str, int] | None = None


def _lane_job_kind(value: Any) -> str | None:
    """The union member a send-lane body is: by its `kind`, wherever the key sits in the JSON.
    No `kind` is a send job (the producers write none); an unknown or non-text kind matches no
    member, so the record fails (and reaches the DLQ after its redrives)."""
    kind = value.get("kind", "send") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind in ("campaign_plan", "campaign_cancel", "campaign_count"):
        return "campaign"
    return kind if kind == "send" else None


# Everything that travels on a send lane. A callable discriminator rather than
# Field(discriminator="kind"): that one requires the key, and the send jobs have none.
LaneJob = Annotated[Annotated[SendJob, Tag("send")] | Annotated[CampaignJob, Tag("campaign")], Discriminator(_lane_job_kind)]


class LaneRecord(BaseModel):
    """An SQS record of a send lane as `BatchProcessor(model=...)` parses it: the body is JSON of
    a LaneJob. Only the fields we read: Powertools' own SqsRecordModel would do, but importing
    it loads every parser model (about 40 event sources), 12-38 ms more on each cold start."""

    messageId: str  # noqa: N815 - the SQS record's own name, which Powertools reads to report a failure
    body: Json[LaneJob]


class CallbackEvent(BaseModel):
    """What the platform receives: one event, signed (services/callbacks.py)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    created_at: str
    data: dict[str, Any] = Field(default_factory=dict)


class CallbackJob(BaseModel):
    """The body of a callback-queue message: the event, its tenant and its delivery attempt
    (re-queued with the last error; parked in the DLQ with when)."""

    model_config = ConfigDict(extra="allow")

    tenant_id: str = Field(min_length=1, max_length=64)
    event: CallbackEvent
    attempt: int = Field(default=1, ge=1)


class CallbackRecord(BaseModel):
    """A callback-queue SQS record as `BatchProcessor(model=...)` parses it (see LaneRecord)."""

    messageId: str  # noqa: N815 - the SQS record's own name, which Powertools reads to report a failure
    body: Json[CallbackJob]


def _odd_is_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """An optional part of another shape than expected reads as absent: the status it belongs
    to still applies (a `failed` status whose `error_data` is a string once dropped the whole
    status, and the message stayed `accepted` for ever)."""
    try:
        return handler(value)
    except ValidationError:
        return None


def _odd_errors_unknown(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`errors` of another shape: one error nobody could read, so a failed status still fails."""
    try:
        return handler(value)
    except ValidationError:
        return [WhatsAppError()]


class WhatsAppError(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: Annotated[int | None, WrapValidator(_odd_is_none)] = None
    title: Annotated[str | None, WrapValidator(_odd_is_none)] = None
    message: Annotated[str | None, WrapValidator(_odd_is_none)] = None
    # Meta documents {messaging_product, details}; a plain string is seen too (reference §1.6).
    error_data: Annotated[dict[str, Any] | str | None, WrapValidator(_odd_is_none)] = None

    @property
    def details(self) -> str | None:
        data = self.error_data
        if isinstance(data, str):
            return data[:1000] or None
        details = (data or {}).get("details")
        return details[:1000] if isinstance(details, str) else None  # not another type's repr


class StatusUpdate(BaseModel):
    """One entry of `value.statuses[]` in Meta's messages webhook (untrusted: OWASP API10).
    `id` and `status` must be what Meta documents; an odd optional part reads as absent."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=512)
    status: str = Field(max_length=32)
    timestamp: Annotated[int | str | None, WrapValidator(_odd_is_none)] = None
    recipient_id: Annotated[str | None, WrapValidator(_odd_is_none)] = None
    biz_opaque_callback_data: Annotated[str | None, Field(max_length=512), WrapValidator(_odd_is_none)] = None
    pricing: Annotated[dict[str, Any] | None, WrapValidator(_odd_is_none)] = None
    errors: Annotated[list[WhatsAppError] | None, WrapValidator(_odd_errors_unknown)] = None


class WebhookChange(BaseModel):
    """One `entry[].changes[]` item of a webhook and its WABA id, as the webhook function applies it."""

    model_config = ConfigDict(extra="allow")

    waba_id: str = ""
    field: str
    value: dict[str, Any]
    received_at: str | None = None
