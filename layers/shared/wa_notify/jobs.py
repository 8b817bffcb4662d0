"""Queue-message and webhook-entry models, apart from the API models so the queue functions
import only what they validate (cold starts: see docs/decisions.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SendJob(BaseModel):
    """The body of a send-lane SQS message."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(min_length=1, max_length=64)
    message_id: str = Field(pattern=r"^msg_[a-z2-7]{26}$")
    phone_number_id: str = Field(min_length=1, max_length=64)
    to: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    lane: Literal["high", "normal", "bulk"]
    due_by: int | None = Field(default=None, ge=0, description="set by the dispatcher: the end of the minute it released")


class CampaignJob(BaseModel):
    """A campaign's planning (next page) or cancelling job, on a send lane."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["campaign_plan", "campaign_cancel"]
    tenant_id: str = Field(min_length=1, max_length=64)
    campaign_id: str = Field(pattern=r"^cmp_[a-z2-7]{26}$")


class WhatsAppError(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: dict[str, Any] | None = None


class StatusUpdate(BaseModel):
    """One entry of `value.statuses[]` in Meta's messages webhook (untrusted: OWASP API10)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=512)
    status: str = Field(max_length=32)
    timestamp: int | str | None = None
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = Field(default=None, max_length=512)
    pricing: dict[str, Any] | None = None
    errors: list[WhatsAppError] | None = None


class WebhookChange(BaseModel):
    """The body of an events-queue message: one `entry[].changes[]` item and its WABA id."""

    model_config = ConfigDict(extra="allow")

    waba_id: str = ""
    field: str
    value: dict[str, Any]
    received_at: str | None = None
