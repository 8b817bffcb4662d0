"""Templates: one row per name and language; Meta's review arrives later by webhook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.paging import query_page
from wa_notify.domain.records import TemplateRow


@dataclass
class TemplateRepository:
    table: Table

    def put(self, tenant_id: str, item: TemplateRow) -> bool:
        """A new template; False when this name and language exist."""
        return self.table.put_new(keys.template(tenant_id, item["name"], item["language"]).item(dynamo_safe(item)))

    def get(self, tenant_id: str, name: str, language: str) -> TemplateRow | None:
        return cast("TemplateRow | None", self.table.get(*keys.template(tenant_id, name, language), consistent=True))

    def list(self, tenant_id: str, *, name: str | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[TemplateRow], str | None]:
        return cast("tuple[list[TemplateRow], str | None]",
                    query_page(self.table, keys.templates_pk(tenant_id), limit=limit, cursor=cursor,
                               prefix=keys.template_name_prefix(name) if name else None))

    def set_meta(self, tenant_id: str, name: str, language: str, meta_id: str, status: str, category: str) -> None:
        # Only fills the id; a status webhook that already arrived keeps its newer status.
        self.table.update(
            *keys.template(tenant_id, name, language),
            "SET meta_id = :id, category = :cat, #status = if_not_exists(status_source, :status)",
            condition="attribute_exists(pk)",
            names={"#status": "status"},
            values={":id": meta_id, ":status": status, ":cat": category},
        )

    def set_status(self, tenant_id: str, name: str, language: str, status: str, *, at: str, reason: str | None, detail: Any) -> bool:
        ok, _ = self.table.update(
            *keys.template(tenant_id, name, language),
            "SET #status = :status, status_source = :status, status_reason = :reason, status_detail = :detail, updated_at = :at",
            condition="attribute_exists(pk)",
            names={"#status": "status"},
            values={":status": status, ":reason": reason, ":detail": dynamo_safe(detail), ":at": at},
        )
        return ok

    def delete(self, tenant_id: str, name: str, language: str) -> bool:
        return self.table.delete(*keys.template(tenant_id, name, language), condition="attribute_exists(pk)")
