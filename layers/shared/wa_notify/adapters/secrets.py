"""Writing tenants' WhatsApp credentials to Secrets Manager (the admin CLI); reading goes
through Powertools Parameters in `credentials`."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from wa_notify.adapters.credentials import tenant_secret_name


class TenantSecrets:
    def __init__(self, prefix: str, client: Any = None) -> None:
        self.prefix = prefix
        self.client = client or boto3.client("secretsmanager")

    def put(self, tenant_id: str, value: dict[str, Any]) -> str:
        """Create the tenant's secret, or store a new version of it; returns its ARN."""
        name, body = tenant_secret_name(self.prefix, tenant_id), json.dumps(value)
        try:
            return self.client.create_secret(Name=name, SecretString=body, Description=f"wa-notify WhatsApp credentials of {tenant_id}",
                                              Tags=[{"Key": "project", "Value": "wa-notify"}])["ARN"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            return self.client.put_secret_value(SecretId=name, SecretString=body)["ARN"]

    def get(self, tenant_id: str) -> dict[str, Any]:
        """The tenant's stored credentials; {} when it has none."""
        try:
            value = self.client.get_secret_value(SecretId=tenant_secret_name(self.prefix, tenant_id))["SecretString"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            return {}
        data = json.loads(value)
        return data if isinstance(data, dict) else {}

    def delete(self, tenant_id: str) -> None:
        """Undo a `put` whose tenant could not be created (no recovery window: nothing used it)."""
        self.client.delete_secret(SecretId=tenant_secret_name(self.prefix, tenant_id), ForceDeleteWithoutRecovery=True)
