"""Erasure of a contact: every write of services/erasure.py, each conditional so that a run
stopped half way and run again finishes the job (docs/key-schema.md lists what holds a phone).

Order (services/erasure.py): the salt is kept on the contact row (`erasure_salt`) until the end,
so a rerun hashes the phone the same way; the contact row goes last, after the receipt.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, cast

from wa_notify.adapters.dynamo import Table, dynamo_safe
from wa_notify.adapters.storage import keys
from wa_notify.domain import erasure as rules
from wa_notify.domain.records import CampaignRow, MessageRow
from wa_notify.domain.wire import stored_request


@dataclass
class ErasureRepository:
    table: Table

    def begin(self, tenant_id: str, phone: str, salt: str, at: str) -> str:
        """The salt of this erasure: the one a run that stopped half way kept on the contact row,
        else `salt` (the row is created when the contact had none)."""
        _, item = self.table.update(
            *keys.contact(tenant_id, phone),
            "SET erasure_salt = if_not_exists(erasure_salt, :salt), erasure_started_at = if_not_exists(erasure_started_at, :at), "
            "phone = :phone",
            values={":salt": salt, ":at": at, ":phone": phone}, return_new=True,
        )
        return str((item or {}).get("erasure_salt") or salt)

    def message_ids(self, tenant_id: str, phone: str) -> builtins.list[str]:
        """Every message of the tenant to `phone`: its ContactIndex partition (KEYS_ONLY; the
        contact's inbound rows share it and are skipped), page by page. The cost is the
        contact's own entries, not the table's."""
        out: builtins.list[str] = []
        start: dict[str, Any] | None = None
        prefix = keys.message(tenant_id, "").pk
        while True:
            entries, start = self.table.query("contact_key = :c", {":c": keys.contact_list_key(tenant_id, phone)}, index="ContactIndex",
                                              start_key=start)
            out += [str(e["pk"]).removeprefix(prefix) for e in entries if e.get("sk") == keys.MESSAGE_SK and str(e["pk"]).startswith(prefix)]
            if not start:
                return out

    def scrub_message(self, row: MessageRow, phone: str, hashed: str, at: str) -> bool:
        """Rewrite one message row to its erased form (domain/erasure.scrub), only while it still
        names `phone`; False when it did not any more."""
        sets, removes = rules.scrub(row, hashed)
        sets["erased_at"] = at
        names = {f"#s{i}": k for i, k in enumerate(sets)} | {f"#r{i}": k for i, k in enumerate(removes)} | {"#to": "to"}
        values = {f":s{i}": dynamo_safe(v) for i, v in enumerate(sets.values())} | {":phone": phone}
        expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
        if removes:
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        ok, _ = self.table.update(*keys.message(row["tenant_id"], row["id"]), expression, condition="#to = :phone",
                                  names=names, values=values)
        return ok

    def delete_click_tokens(self, row: MessageRow) -> None:
        """The click-token rows of a message (their URLs may carry the customer's data), each only
        while it names this message."""
        tokens = list(row.get("click_tokens") or []) + rules.click_tokens_in(stored_request(row.get("request")))
        for token in dict.fromkeys(tokens):
            self.table.delete(*keys.click_token(str(token)), condition="message_id = :m AND tenant_id = :t",
                              values={":m": row["id"], ":t": row["tenant_id"]})

    def inbound_keys(self, tenant_id: str, phone: str) -> builtins.list[str]:
        """The sort keys of the contact's inbound messages (its inbox partition, all of it)."""
        out: builtins.list[str] = []
        start: dict[str, Any] | None = None
        while True:
            items, start = self.table.query("pk = :pk", {":pk": keys.inbox_pk(tenant_id, phone)}, start_key=start, consistent=True)
            out += [str(i["sk"]) for i in items]
            if not start:
                return out

    def delete_inbound(self, tenant_id: str, phone: str, sk: str) -> None:
        self.table.delete(keys.inbox_pk(tenant_id, phone), sk)

    def scrub_campaign(self, tenant_id: str, campaign_id: str, phone: str) -> None:
        """Take the phone out of a campaign's explicit segment and out of its planning cursor
        (replaced by a key that sorts just before it: planning resumes at the same place)."""
        key = keys.campaign(tenant_id, campaign_id)
        row = cast("CampaignRow | None", self.table.get(*key, consistent=True))
        if row is None:
            return
        contacts = (row.get("segment") or {}).get("contacts")
        if isinstance(contacts, list) and phone in contacts:
            kept = [c for c in contacts if c != phone]
            self.table.update(*key, "SET #seg.contacts = :kept", condition="#seg.contacts = :was", names={"#seg": "segment"},
                              values={":kept": kept, ":was": contacts})
        if row.get("cursor") == phone:
            self.table.update(*key, "SET #cursor = :before", condition="#cursor = :phone", names={"#cursor": "cursor"},
                              values={":before": just_before(phone), ":phone": phone})

    def write_receipt(self, tenant_id: str, hashed: str, at: str, messages: int) -> None:
        """The erasure's receipt (its first write raises `contact.erased`); a rerun leaves it.
        `handled_at` lets it through the stream filter of handled inbound messages (template.yaml:
        one filter fewer, under Lambda's default quota of five)."""
        self.table.put_new(keys.erasure(tenant_id, hashed).item({"phone_hash": hashed, "erased_at": at, "handled_at": at,
                                                                 "messages": messages}))

    def finish(self, tenant_id: str, phone: str, salt: str) -> None:
        """The contact row goes last, with the salt: nothing stored links the hash to the phone."""
        self.table.delete(*keys.contact(tenant_id, phone), condition="erasure_salt = :salt", values={":salt": salt})


def just_before(phone: str) -> str:
    """A string that sorts right before `phone` with no E.164 number between them."""
    return phone[:-1] + chr(ord(phone[-1]) - 1) + "~" if phone else phone
