"""Views of reading back (GET /v1/contacts/{phone}/timeline): one item per message, either way."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wa_notify.models_views import TemplateName, View


class TimelineItem(View):
    direction: Literal["inbound", "outbound"]
    kind: str = Field(description="outbound: template or text; inbound: WhatsApp's type (text, button, interactive, reaction, ...)")
    at: str = Field(description="outbound: when it was accepted; inbound: when the customer sent it")
    id: str = Field(description="outbound: our message id (GET /v1/messages/{id}); inbound: WhatsApp's message id")
    status: str | None = Field(default=None, description="outbound: the public status")
    template: TemplateName | None = None
    text: str | None = None
    payload: str | None = Field(default=None, description="inbound: the tapped button's payload")
    emoji: str | None = None
    context_id: str | None = Field(default=None, description="inbound: WhatsApp's id of the message it answers")
    provider_message_id: str | None = None
