"""Amazon SNS direct SMS publish, classified like a WhatsApp send: sent, refused, or unknown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

# A refusal: the request was understood and nothing was sent.
DEFINITE_ERRORS = frozenset({"InvalidParameter", "InvalidParameterValue", "OptedOut", "AuthorizationError", "KMSDisabled",
                             "EndpointDisabled", "ValidationException"})


@dataclass(frozen=True)
class SmsResult:
    status: str  # sent | failed | unknown
    provider_message_id: str | None = None
    error: str | None = None


class Sms:
    def __init__(self, client: Any = None) -> None:
        self.client = client or boto3.client("sns")

    def send(self, to: str, text: str, *, sender_id: str | None = None) -> SmsResult:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
        try:
            response = self.client.publish(PhoneNumber=to, Message=text, MessageAttributes=attributes)
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            return SmsResult("failed", error=f"SNS unreachable: {type(exc).__name__}")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in DEFINITE_ERRORS:
                return SmsResult("failed", error=f"{code}: {exc.response.get('Error', {}).get('Message', '')}".strip())
            return SmsResult("unknown", error=f"{code or 'ClientError'}: SNS may have sent it")
        except BotoCoreError as exc:
            return SmsResult("unknown", error=f"{type(exc).__name__}: SNS may have sent it")
        return SmsResult("sent", provider_message_id=response.get("MessageId"))
