"""Analytics counters: one item per tenant, UTC day and template, and one per day for inbound activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys


@dataclass
class AnalyticsRepository:
    table: Table

    def add_counters(self, tenant_id: str, day: str, template: tuple[str, str] | None, counts: dict[str, int], expires_at: int) -> None:
        """ADD each count (atomic, no read) to the day's row of `template` (name, language), or to
        the day's inbound activity row when it is None; the row names its day (and template)."""
        if template:
            sk, attributes = keys.template_counters_sk(day, *template), {"day": day, "name": template[0], "language": template[1]}
        else:
            sk, attributes = keys.activity_counters_sk(day), {"day": day}
        names = {f"#c{i}": k for i, k in enumerate(counts)} | {f"#a{i}": k for i, k in enumerate(attributes)}
        values: dict[str, Any] = {f":c{i}": v for i, v in enumerate(counts.values())}
        values |= {f":a{i}": v for i, v in enumerate(attributes.values())} | {":exp": expires_at}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
        sets = ", ".join([*(f"#a{i} = :a{i}" for i in range(len(attributes))), "expires_at = :exp"])
        self.table.update(keys.stats_pk(tenant_id), sk, f"ADD {adds} SET {sets}", names=names, values=values)

    def template_rows(self, tenant_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """Every template's counter rows from `first_day` to `last_day` (UTC days, inclusive)."""
        return self._rows(tenant_id, keys.template_counters_sk(first_day), keys.template_counters_sk(last_day) + keys.TEMPLATE_COUNTERS_DAY_END)

    def activity_rows(self, tenant_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        return self._rows(tenant_id, keys.activity_counters_sk(first_day), keys.activity_counters_sk(last_day))

    def _rows(self, tenant_id: str, first_sk: str, last_sk: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        start = None
        while True:
            items, start = self.table.query("pk = :pk AND sk BETWEEN :a AND :b",
                                            {":pk": keys.stats_pk(tenant_id), ":a": first_sk, ":b": last_sk}, start_key=start)
            rows += items
            if not start:
                return rows
