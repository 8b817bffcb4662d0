"""Templates: one row per name and language; Meta's review arrives later by webhook."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe, from_item, to_item
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.paging import query_page
from wa_notify.domain import status as st
from wa_notify.domain.records import TemplateRow

# What an import compares and copies from Meta's copy of a template.
SYNCED = ("category", "parameter_format", "components", "status", "meta_id", "quality", "status_reason", "unsupported")
HOLD_TTL_SECONDS = 35 * 86_400
RECENT_MAX = 2_048  # templates one container remembers (get_recent)


@dataclass
class TemplateRepository:
    table: Table
    # How long `get_recent` may answer from this container's memory (issue 14: intake read the
    # template on every message, one read per message). Writes through this repository forget
    # their row at once; another container's change shows here within this many seconds.
    recent_seconds: float = 2.0
    _recent: dict[tuple[str, str, str], tuple[TemplateRow, float]] = field(default_factory=dict, repr=False)

    def put(self, tenant_id: str, item: TemplateRow) -> bool:
        """A new template; False when this name and language exist."""
        written = self.table.put_new(keys.template(tenant_id, item["name"], item["language"]).item(dynamo_safe(item)))
        self.forget(tenant_id, item["name"], item["language"])
        return written

    def get(self, tenant_id: str, name: str, language: str) -> TemplateRow | None:
        return cast("TemplateRow | None", self.table.get(*keys.template(tenant_id, name, language), consistent=True))

    def get_recent(self, tenant_id: str, name: str, language: str) -> TemplateRow | None:
        """The row as read at most `recent_seconds` ago by this container (a consistent read when
        older or never read; a missing template is not remembered, so a new one is found at once).
        For intake's render, not for decisions that need the stored status now (the sender's gate
        reads again before acting on anything but a sendable status)."""
        key = (tenant_id, name, language)
        now = time.monotonic()
        hit = self._recent.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        item = self.get(tenant_id, name, language)
        if item is None:
            self._recent.pop(key, None)
        else:
            if len(self._recent) >= RECENT_MAX:  # bounded: a container serving many tenants starts over
                self._recent.clear()
            self._recent[key] = (item, now + self.recent_seconds)
        return item

    def forget(self, tenant_id: str, name: str, language: str) -> None:
        """Drop this container's remembered copy (every write of a template row calls it)."""
        self._recent.pop((tenant_id, name, language), None)

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
        self.forget(tenant_id, name, language)

    # ---- import (POST /v1/templates/sync) -------------------------------------------------------
    def import_one(self, tenant_id: str, item: TemplateRow, at: str, current: TemplateRow | None = None) -> str:
        """Meta's copy of one template: `imported` (new here), `updated` (stored, and Meta's copy
        differs) or `unchanged`; `current`: the stored row as read before (None: not seen). The
        update is conditional on the status and category read, so a lifecycle webhook applied in
        between (newer than Meta's list) wins."""
        key = keys.template(tenant_id, item["name"], item["language"])
        safe = dynamo_safe(item)
        if current is None:
            if self.table.put_new(key.item(safe, {"status_source": item["status"], "updated_at": at})):
                self.forget(tenant_id, item["name"], item["language"])
                return "imported"
            current = self.get(tenant_id, item["name"], item["language"])
            if current is None:  # deleted in between: a second put either creates it or finds it again
                return self.import_one(tenant_id, item, at)
        plain = from_item(to_item(safe))  # as it reads back (Decimal -> int), for the comparison
        changed = {f: plain.get(f) for f in SYNCED if current.get(f) != plain.get(f)}  # type: ignore[misc]
        if not changed:
            return "unchanged"
        names = {"#status": "status"} | {f"#f{i}": f for i, f in enumerate(changed)}
        values: dict[str, Any] = {f":f{i}": dynamo_safe(v) for i, v in enumerate(changed.values())}
        values |= {":seen": current["status"], ":cat": current["category"], ":at": at, ":src": item["status"]}
        sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(changed)))
        ok, _ = self.table.update(*key, f"SET {sets}, status_source = :src, updated_at = :at",
                                  condition="#status = :seen AND category = :cat", names=names, values=values)
        self.forget(tenant_id, item["name"], item["language"])
        return "updated" if ok else "unchanged"

    # ---- Meta's lifecycle webhooks ------------------------------------------------------------
    def apply_event(self, tenant_id: str, name: str, language: str, *, at: str, status: str | None = None,
                    category: str | None = None, quality: str | None = None, reason: str | None = None, detail: Any = None) -> bool:
        """One lifecycle change (status, category or quality); False when the template is not
        ours or already says so (Meta's retry of the same webhook changes nothing)."""
        sets, differs = ["updated_at = :at"], []
        names: dict[str, str] = {}
        values: dict[str, Any] = {":at": at}
        for attr, value in (("status", status), ("category", category), ("quality", quality)):
            if value is not None:
                names[f"#{attr}"] = attr
                values[f":{attr}"] = value
                sets.append(f"#{attr} = :{attr}")
                differs.append(f"(attribute_not_exists(#{attr}) OR #{attr} <> :{attr})")
        if not differs:
            return False
        if status is not None:
            sets += ["status_source = :status", "status_reason = :reason", "status_detail = :detail"]
            values |= {":reason": reason, ":detail": dynamo_safe(detail)}
        else:
            # status_source marks template rows for the stream's filter (template.yaml)
            names["#status"] = "status"
            sets.append("status_source = if_not_exists(status_source, #status)")
            if category is not None:
                sets.append("status_reason = :reason")
                values[":reason"] = reason
        ok, _ = self.table.update(*keys.template(tenant_id, name, language), "SET " + ", ".join(sets),
                                  condition="attribute_exists(pk) AND " + (differs[0] if len(differs) == 1 else f"({' OR '.join(differs)})"), names=names, values=values)
        self.forget(tenant_id, name, language)
        return ok

    # ---- what a PAUSED template holds -------------------------------------------------------
    def hold(self, tenant_id: str, name: str, language: str, ref: str, now_s: int) -> None:
        """Remember a held message (MSG#<mid>) or paused campaign (CMP#<cid>) of this template."""
        self.table.put(keys.template_hold(tenant_id, name, language, ref).item({"expires_at": now_s + HOLD_TTL_SECONDS}))

    def holds(self, tenant_id: str, name: str, language: str) -> tuple[str, ...]:
        """What the template holds now (refs not yet released or cancelled)."""
        refs: list[str] = []
        start = None
        while True:
            items, start = self.table.query("pk = :pk", {":pk": keys.template_holds_pk(tenant_id, name, language)},
                                            start_key=start, consistent=True)
            refs += [str(i["sk"]) for i in items if not i.get("done_at")]
            if not start:
                return tuple(refs)

    def drop_hold(self, tenant_id: str, name: str, language: str, ref: str, now_s: int) -> None:
        """Done with: marked so, and left to TTL (an update: the webhook function deletes nothing)."""
        self.table.update(*keys.template_hold(tenant_id, name, language, ref), "SET done_at = :now, expires_at = :now",
                          condition="attribute_exists(pk)", values={":now": now_s})

    def release_message(self, tenant_id: str, message_id: str, held: str, due_ms: int, at: str) -> bool:
        """A message held for `held` (<name>#<language>) is due again at `due_ms` (the dispatcher's
        next minute); False when it is not held any more (sent, cancelled, or released already)."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET due_at = :due, updated_at = :at REMOVE held_for",
            condition="#status = :scheduled AND held_for = :held", names={"#status": "status"},
            values={":scheduled": st.SCHEDULED, ":held": held, ":due": due_ms, ":at": at},
        )
        return ok

    def cancel_message(self, tenant_id: str, message_id: str, held: str, reason: str, at: str) -> bool:
        """A message held for `held` -> cancelled (its template was DISABLED)."""
        ok, _ = self.table.update(
            *keys.message(tenant_id, message_id),
            "SET #status = :cancelled, events.#cancelled = :at, cancel_reason = :why, updated_at = :at REMOVE held_for, due_shard, due_at",
            condition="#status = :scheduled AND held_for = :held", names={"#status": "status", "#cancelled": st.CANCELLED},
            values={":cancelled": st.CANCELLED, ":scheduled": st.SCHEDULED, ":held": held, ":why": reason, ":at": at},
        )
        return ok

    def pause_campaign(self, tenant_id: str, campaign_id: str, reason: str, at: str) -> bool:
        """A campaign still going -> paused_template, remembering the status it resumes to."""
        ok, _ = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET resume_status = #status, #status = :paused, reason = :r, updated_at = :at",
            condition="#status IN (:planning, :quota, :scheduled, :sending)", names={"#status": "status"},
            values={":paused": "paused_template", ":r": reason, ":at": at, ":planning": "planning", ":quota": "paused_quota",
                    ":scheduled": "scheduled", ":sending": "sending"},
        )
        return ok

    def resume_campaign(self, tenant_id: str, campaign_id: str, at: str) -> str | None:
        """paused_template -> the status it had; that status, or None when it was not paused."""
        ok, new = self.table.update(
            *keys.campaign(tenant_id, campaign_id), "SET #status = resume_status, updated_at = :at REMOVE resume_status, reason",
            condition="#status = :paused AND attribute_exists(resume_status)", names={"#status": "status"},
            values={":paused": "paused_template", ":at": at}, return_new=True,
        )
        return str(new["status"]) if ok and new else None

    def delete(self, tenant_id: str, name: str, language: str) -> bool:
        deleted = self.table.delete(*keys.template(tenant_id, name, language), condition="attribute_exists(pk)")
        self.forget(tenant_id, name, language)
        return deleted
