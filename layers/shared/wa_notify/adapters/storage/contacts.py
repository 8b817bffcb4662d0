"""Contacts (profile, 24 h window, opt-out, auto-reply claims) and their inbound messages."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.paging import query_page
from wa_notify.domain.outcomes import StoredInbound
from wa_notify.domain.records import ContactRow, InboundRow

# Every write that may create the contact row gives it these, so any write order leaves a whole row.
_CREATE = "phone = :phone, updated_at = :at, created_at = if_not_exists(created_at, :at), auto_replied = if_not_exists(auto_replied, :empty)"


@dataclass
class ContactRepository:
    table: Table

    def get(self, tenant_id: str, phone: str) -> ContactRow | None:
        return cast("ContactRow | None", self.table.get(*keys.contact(tenant_id, phone), consistent=True))

    def get_many(self, tenant_id: str, phones: list[str]) -> list[ContactRow]:
        return cast("list[ContactRow]", self.table.batch_get([keys.contact(tenant_id, p)._asdict() for p in phones]))

    def put(self, tenant_id: str, phone: str, fields: dict[str, Any], at: str) -> ContactRow:
        """Set the profile fields given, keep the conversation state (window, opt-out, inbound times)."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": dynamo_safe(v) for i, v in enumerate(fields.values())}
        sets = [f"#f{i} = :v{i}" for i in range(len(fields))]
        _, item = self.table.update(
            *keys.contact(tenant_id, phone),
            "SET " + ", ".join([*sets, _CREATE]),
            names=names or None, values={**values, ":phone": phone, ":at": at, ":empty": {}}, return_new=True,
        )
        return cast("ContactRow", item or {})

    def name_if_unnamed(self, tenant_id: str, phone: str, name: str, at: str) -> bool:
        """The customer's WhatsApp profile name as the contact's name, only while it has none (a
        name the platform set is never replaced)."""
        ok, _ = self.table.update(*keys.contact(tenant_id, phone), "SET #n = :n, name_source = :src, updated_at = :at",
                                  condition="attribute_exists(pk) AND (attribute_not_exists(#n) OR attribute_type(#n, :null))",
                                  names={"#n": "name"}, values={":n": name, ":src": "whatsapp_profile", ":at": at, ":null": "NULL"})
        return bool(ok)

    def set_opt_out(self, tenant_id: str, phone: str, opted_out: bool, at: str, reason: str, *, source: str,
                    unless_changed_since: bool = False) -> bool:
        """Opt a contact out of (or back into) marketing; False when it already was. `source`
        (reply, 131050, user_preferences, api) says who changed it: the stream reports a
        customer's change to the platform, not the platform's own. `unless_changed_since`: not
        when a later change is recorded (a webhook that arrives late never undoes a newer choice)."""
        condition = "(attribute_not_exists(opted_out) OR opted_out <> :o)"
        if unless_changed_since:
            condition += " AND (attribute_not_exists(opt_changed_at) OR opt_changed_at <= :at)"
        ok, _ = self.table.update(
            *keys.contact(tenant_id, phone),
            "SET opted_out = :o, opt_changed_at = :at, opt_reason = :why, opt_source = :src, " + _CREATE,
            condition=condition,
            values={":o": opted_out, ":at": at, ":why": reason, ":src": source, ":phone": phone, ":empty": {}},
        )
        return ok

    def list(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[ContactRow], str | None]:
        return cast("tuple[list[ContactRow], str | None]", query_page(self.table, keys.contacts_pk(tenant_id), limit=limit, cursor=cursor))

    def page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[builtins.list[ContactRow], str | None]:
        """Contacts after the phone `after`, and the phone to continue from (campaign planning)."""
        pk = keys.contacts_pk(tenant_id)
        start = {"pk": {"S": pk}, "sk": {"S": after}} if after else None
        items, last = self.table.query("pk = :pk", {":pk": pk}, limit=limit, start_key=start, consistent=True)
        return cast("builtins.list[ContactRow]", items), (last["sk"]["S"] if last else None)

    def claim_auto_reply(self, tenant_id: str, phone: str, rule_id: str, conversation: str) -> bool:
        """At most one auto-reply per rule per conversation: the first claim wins."""
        ok, _ = self.table.update(
            *keys.contact(tenant_id, phone), "SET auto_replied.#rule = :conv",
            condition="attribute_exists(pk) AND (attribute_not_exists(auto_replied.#rule) OR auto_replied.#rule <> :conv)",
            names={"#rule": rule_id}, values={":conv": conversation},
        )
        return ok

    def record_inbound(self, tenant_id: str, phone: str, wamid: str, at: str, window_expires_at: str, item: InboundRow,
                       ttl_s: int) -> StoredInbound:
        """Store one inbound message (once per wamid: Meta repeats webhooks) and open or extend the
        contact's window. A repeat reads the row back: handled, or stored by a webhook that
        failed before it was handled (then its effects run again)."""
        key = keys.inbound(tenant_id, phone, at, wamid)
        resumed = False
        # In ContactIndex beside the contact's messages (the timeline), by the time it was sent.
        listed = {"contact_key": keys.contact_list_key(tenant_id, phone), "listed_at": at}
        if not self.table.put_new(key.item({"wamid": wamid, "expires_at": ttl_s}, dynamo_safe(item), listed)):
            row = self.table.get(*key, consistent=True, attributes=("handled_at",))
            if row is None or row.get("handled_at"):
                return StoredInbound(at, handled=True)
            resumed = True
        # Keep the latest time only: webhooks arrive in any order.
        self.table.update(
            *keys.contact(tenant_id, phone),
            "SET last_inbound_at = :at, window_expires_at = :win, conversation_started_at = if_not_exists(conversation_started_at, :at), "
            + _CREATE,
            condition="attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
            values={":at": at, ":win": window_expires_at, ":phone": phone, ":empty": {}},
        )
        return StoredInbound(at, handled=False, resumed=resumed)

    def mark_inbound_handled(self, tenant_id: str, phone: str, at: str, wamid: str, handled_at: str,
                             callbacks: builtins.list[dict[str, Any]]) -> None:
        """The message's effects are done: the callbacks it owes go with this change (the stream
        posts them), once, because only the first mark changes the row."""
        self.table.update(*keys.inbound(tenant_id, phone, at, wamid), "SET handled_at = :h, callbacks = :cb",
                          condition="attribute_exists(pk) AND attribute_not_exists(handled_at)",
                          values={":h": handled_at, ":cb": dynamo_safe(callbacks)})

    def start_conversation(self, tenant_id: str, phone: str, at: str, previous_window: str | None) -> None:
        """A message after the window closed starts a new conversation (auto-replies may go again)."""
        self.table.update(
            *keys.contact(tenant_id, phone), "SET conversation_started_at = :at",
            condition="attribute_exists(pk) AND (attribute_not_exists(conversation_started_at) OR :prev < :at)",
            values={":at": at, ":prev": previous_window or ""},
        )

    def inbound_for(self, tenant_id: str, phone: str, limit: int = 50) -> builtins.list[InboundRow]:
        items, _ = self.table.query("pk = :pk", {":pk": keys.inbox_pk(tenant_id, phone)}, limit=limit, consistent=True)
        return cast("builtins.list[InboundRow]", items)
