"""Click tracking: a token item per tracked URL (written at intake, before the send), and the
clicks appended to their message in one conditional UpdateItem each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys
from wa_notify.domain.records import ClickTokenRow


@dataclass
class ClickRepository:
    table: Table

    def put_links(self, tenant_id: str, message_id: str, links: list[tuple[str, str]], expires_at: int) -> None:
        """One PutItem per token. A token is derived from the message (domain/clicks.py), so a
        resumed intake writes the same items again: unconditional puts of identical rows."""
        for token, url in links:
            self.table.put(keys.click_token(token).item({"tenant_id": tenant_id, "message_id": message_id, "url": url,
                                                         "expires_at": expires_at}))

    def link(self, token: str) -> ClickTokenRow | None:
        return cast("ClickTokenRow | None", self.table.get(*keys.click_token(token)))

    def record(self, tenant_id: str, message_id: str, url: str, at: str, max_clicks: int) -> bool:
        """Append {url, at} to the message's `clicks` (at most `max_clicks` kept; beyond them only
        `click_count` grows) and set `clicked_at` on the first; False when the message is gone.
        One UpdateItem, two only past `max_clicks`."""
        pk, sk = keys.message(tenant_id, message_id)
        ok, _ = self.table.update(
            pk, sk, "SET clicks = list_append(if_not_exists(clicks, :none), :click), clicked_at = if_not_exists(clicked_at, :at) "
            "ADD click_count :one",
            condition="attribute_exists(pk) AND (attribute_not_exists(clicks) OR size(clicks) < :max)",
            values={":none": [], ":click": [{"url": url, "at": at}], ":at": at, ":one": 1, ":max": max_clicks})
        if ok:
            return True
        ok, _ = self.table.update(pk, sk, "ADD click_count :one", condition="attribute_exists(pk)", values={":one": 1})
        return ok
