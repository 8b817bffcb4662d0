"""Tenants: the profile, its settings, and the lookups that name a tenant (API key, phone number, WABA)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.domain.records import SettingsRow, TenantRow


@dataclass
class TenantRepository:
    table: Table

    def create(self, tenant: TenantRow, api_key_hash: str) -> bool:
        """The profile and its three lookups, all or nothing; False when one of them exists."""
        tid = tenant["tenant_id"]
        items = [
            # The key's hash on the profile lets `rotate_api_key` find and delete the old key.
            keys.tenant(tid).item(tenant, {"api_key_hash": api_key_hash}),
            keys.api_key(api_key_hash).item({"tenant_id": tid}),
            keys.phone_number(tenant["phone_number_id"]).item({"tenant_id": tid}),
            keys.waba(tenant["waba_id"]).item({"tenant_id": tid}),
        ]
        return self.table.transact_put_new(items) is None

    def rotate_api_key(self, tenant_id: str, new_hash: str) -> bool:
        """Swap the tenant's API key atomically: the new key works and the old one is gone in
        one transaction, or nothing changed (another rotation won the race)."""
        profile_key = keys.tenant(tenant_id)
        profile = self.table.get(*profile_key, consistent=True)
        if profile is None:
            return False
        old_hash = profile.get("api_key_hash")
        update = {"pk": profile_key.pk, "sk": profile_key.sk, "expression": "SET api_key_hash = :new",
                  "condition": "api_key_hash = :old" if old_hash else "attribute_not_exists(api_key_hash)",
                  "values": {":new": new_hash, **({":old": old_hash} if old_hash else {})}}
        deletes = [{**keys.api_key(old_hash)._asdict(), "condition": "tenant_id = :t", "values": {":t": tenant_id}}] if old_hash else []
        return self.table.transact_put([(keys.api_key(new_hash).item({"tenant_id": tenant_id}), "attribute_not_exists(pk)")],
                                       updates=[update], deletes=deletes) is None

    def list(self, *, limit: int = 100, start_key: dict[str, Any] | None = None) -> tuple[list[TenantRow], dict[str, Any] | None]:
        """One Scan page of tenant profiles (the admin CLI only)."""
        return cast("tuple[list[TenantRow], dict[str, Any] | None]", self.table.scan("sk = :profile AND begins_with(pk, :tenant)", {":profile": keys.PROFILE, ":tenant": keys.TENANT_PREFIX},
                               limit=limit, start_key=start_key))

    def get(self, tenant_id: str) -> TenantRow | None:
        return cast("TenantRow | None", self.table.get(*keys.tenant(tenant_id)))

    def for_api_key(self, api_key_hash: str) -> str | None:
        item = self.table.get(*keys.api_key(api_key_hash))
        return item["tenant_id"] if item else None

    def for_phone_number(self, phone_number_id: str) -> str | None:
        item = self.table.get(*keys.phone_number(phone_number_id))
        return item["tenant_id"] if item else None

    def for_waba(self, waba_id: str) -> str | None:
        item = self.table.get(*keys.waba(waba_id))
        return item["tenant_id"] if item else None

    def get_settings(self, tenant_id: str) -> SettingsRow:
        return cast("SettingsRow", self.table.get(*keys.settings(tenant_id), consistent=True) or {})

    def put_settings(self, tenant_id: str, settings: SettingsRow) -> None:
        self.table.put(keys.settings(tenant_id).item(dynamo_safe(settings)))
