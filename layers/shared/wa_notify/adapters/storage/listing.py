"""Reading back (GET /v1/messages, a contact's timeline): pages of ContactIndex, TimeIndex and FailedIndex.

Both indexes are KEYS_ONLY, so a status change never rewrites an entry; a page reads its keys
newest first, then the rows themselves (BatchGetItem), and keeps those `keep` accepts. Filters
other than the index's own key are applied to those rows: a page may then hold fewer than
`limit` items, and `next` carries on where the reading stopped (at most SCAN_BUDGET keys a page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.paging import decode_index_cursor, encode_cursor

SCAN_BUDGET = 500  # index keys one page may read, matching or not
EARLIEST, LATEST = "0000", "9999"  # bounds of an ISO 8601 `listed_at` (sorts as text)

Row = dict[str, Any]


@dataclass
class ListingRepository:
    table: Table

    def messages(self, tenant_id: str, *, to: str | None, since: str | None, until: str | None, cursor: str | None,
                 limit: int, keep: Callable[[Row], bool], failed_only: bool = False) -> tuple[list[Row], str | None]:
        """A tenant's messages newest first: ContactIndex for one recipient (its inbound rows
        skipped), FailedIndex for its failed ones, TimeIndex otherwise."""
        messages_pk = keys.messages_pk_prefix(tenant_id)
        if failed_only and not to:
            return self._page("FailedIndex", ("failed_key", keys.failed_list_key(tenant_id)), (messages_pk,), since, until, cursor,
                              limit, keep)
        if to:
            return self._page("ContactIndex", ("contact_key", keys.contact_list_key(tenant_id, to)), (messages_pk,), since, until,
                              cursor, limit, lambda row: row.get("sk") == keys.MESSAGE_SK and keep(row))
        return self._page("TimeIndex", ("tenant_key", keys.messages_list_key(tenant_id)), (messages_pk,), since, until, cursor,
                          limit, keep)

    def timeline(self, tenant_id: str, phone: str, *, cursor: str | None, limit: int) -> tuple[list[Row], str | None]:
        """One contact's messages (sk MSG) and inbound messages (its inbox rows), newest first."""
        prefixes = (keys.messages_pk_prefix(tenant_id), keys.inbox_pk(tenant_id, phone))
        return self._page("ContactIndex", ("contact_key", keys.contact_list_key(tenant_id, phone)), prefixes, None, None, cursor,
                          limit, lambda row: True)

    def _page(self, index: str, partition: tuple[str, str], pk_prefixes: tuple[str, ...], since: str | None, until: str | None,
              cursor: str | None, limit: int, keep: Callable[[Row], bool]) -> tuple[list[Row], str | None]:
        bounds = (since or EARLIEST, until or LATEST)
        start = decode_index_cursor(cursor, partition, "listed_at", pk_prefixes, bounds)
        condition = f"{partition[0]} = :p AND listed_at BETWEEN :lo AND :hi"
        values = {":p": partition[1], ":lo": bounds[0], ":hi": bounds[1]}
        out: list[Row] = []
        read = 0
        while True:
            entries, last = self.table.query(condition, values, index=index, limit=min(limit, SCAN_BUDGET - read), start_key=start,
                                             newest_first=True)
            read += len(entries)
            rows = {(r["pk"], r["sk"]): r for r in self.table.batch_get([{"pk": e["pk"], "sk": e["sk"]} for e in entries])} if entries else {}
            for entry in entries:
                row = rows.get((entry["pk"], entry["sk"]))  # gone since (TTL, erasure): skipped
                if row is not None and keep(row):
                    out.append(row)
                if len(out) == limit:
                    here = {"pk": entry["pk"], "sk": entry["sk"], partition[0]: partition[1], "listed_at": entry["listed_at"]}
                    more = entry is not entries[-1] or last is not None
                    return out, encode_cursor({k: {"S": v} for k, v in here.items()}) if more else None
            if last is None:
                return out, None
            start = last
            if read >= SCAN_BUDGET:
                return out, encode_cursor(last)
