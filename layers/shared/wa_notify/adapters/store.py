"""Persistence for tenants, templates, messages and rate buckets: every state change is conditional."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from wa_notify.adapters.dynamo import Table, dynamo_safe, to_attr, to_item
from wa_notify.domain import status as st
from wa_notify.domain.flows import PlanWrite
from wa_notify.domain.ratelimit import Rate, available, lane_limit_us, wait_us
from wa_notify.domain.status import WATERMARK_AHEAD


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def message_pk(tenant_id: str, message_id: str) -> str:
    return f"TENANT#{tenant_id}#MSG#{message_id}"


def template_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}#TPL"


def template_sk(name: str, language: str) -> str:
    return f"{name}#{language}"


def idem_pk(tenant_id: str, key: str) -> str:
    return f"TENANT#{tenant_id}#IDEM#{key}"


def due_shard(message_id: str, shards: int) -> str:
    return f"DUE#{zlib.crc32(message_id.encode()) % shards}"


def _day_expiry(day: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) + 3 * 86_400


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_pk: str) -> dict[str, Any] | None:
    """Cursors are opaque to clients; a forged one for another tenant's partition is refused."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if key["pk"]["S"] != expected_pk or set(key) != {"pk", "sk"} or set(key["sk"]) != {"S"} or len(key["sk"]["S"]) > 1024:
            raise ValueError
        return key
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("cursor is not valid") from exc


@dataclass
class Store:
    table: Table
    due_shards: int = 4
    _busy_buckets: dict[str, bool] = field(default_factory=dict, repr=False)  # scope -> last seen busy

    # ---- tenants -------------------------------------------------------------------------
    def create_tenant(self, tenant: dict[str, Any], api_key_hash: str) -> bool:
        tid = tenant["tenant_id"]
        items = [
            # The key's hash on the profile lets `rotate_api_key` find and delete the old key.
            {"pk": tenant_pk(tid), "sk": "PROFILE", **tenant, "api_key_hash": api_key_hash},
            {"pk": f"APIKEY#{api_key_hash}", "sk": "APIKEY", "tenant_id": tid},
            {"pk": f"PNID#{tenant['phone_number_id']}", "sk": "PNID", "tenant_id": tid},
            {"pk": f"WABA#{tenant['waba_id']}", "sk": "WABA", "tenant_id": tid},
        ]
        return self.table.transact_put_new(items) is None

    def rotate_api_key(self, tenant_id: str, new_hash: str) -> bool:
        """Swap the tenant's API key atomically: the new key works and the old one is gone in
        one transaction, or nothing changed (another rotation won the race)."""
        profile = self.table.get(tenant_pk(tenant_id), "PROFILE", consistent=True)
        if profile is None:
            return False
        old_hash = profile.get("api_key_hash")
        update = {"pk": tenant_pk(tenant_id), "sk": "PROFILE", "expression": "SET api_key_hash = :new",
                  "condition": "api_key_hash = :old" if old_hash else "attribute_not_exists(api_key_hash)",
                  "values": {":new": new_hash, **({":old": old_hash} if old_hash else {})}}
        deletes = [{"pk": f"APIKEY#{old_hash}", "sk": "APIKEY", "condition": "tenant_id = :t", "values": {":t": tenant_id}}] if old_hash else []
        return self.table.transact_put([({"pk": f"APIKEY#{new_hash}", "sk": "APIKEY", "tenant_id": tenant_id}, "attribute_not_exists(pk)")],
                                       updates=[update], deletes=deletes) is None

    def list_tenants(self, *, limit: int = 100, start_key: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return self.table.scan("sk = :profile AND begins_with(pk, :tenant)", {":profile": "PROFILE", ":tenant": "TENANT#"},
                               limit=limit, start_key=start_key)

    def tenant_for_key(self, api_key_hash: str) -> str | None:
        item = self.table.get(f"APIKEY#{api_key_hash}", "APIKEY")
        return item["tenant_id"] if item else None

    def tenant_for_phone_number(self, phone_number_id: str) -> str | None:
        item = self.table.get(f"PNID#{phone_number_id}", "PNID")
        return item["tenant_id"] if item else None

    def tenant_for_waba(self, waba_id: str) -> str | None:
        item = self.table.get(f"WABA#{waba_id}", "WABA")
        return item["tenant_id"] if item else None

    def get_tenant(self, tenant_id: str) -> dict[str, Any] | None:
        return self.table.get(tenant_pk(tenant_id), "PROFILE")

    # ---- templates -----------------------------------------------------------------------
    def put_template(self, tenant_id: str, item: dict[str, Any]) -> bool:
        return self.table.put_new(
            {"pk": template_pk(tenant_id), "sk": template_sk(item["name"], item["language"]), **dynamo_safe(item)}
        )

    def get_template(self, tenant_id: str, name: str, language: str) -> dict[str, Any] | None:
        return self.table.get(template_pk(tenant_id), template_sk(name, language), consistent=True)

    def list_templates(
        self, tenant_id: str, *, name: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        pk = template_pk(tenant_id)
        if name:
            cond, values = "pk = :pk AND begins_with(sk, :prefix)", {":pk": pk, ":prefix": f"{name}#"}
        else:
            cond, values = "pk = :pk", {":pk": pk}
        items, last = self.table.query(cond, values, limit=limit, start_key=decode_cursor(cursor, pk), consistent=True)
        return items, encode_cursor(last)

    def set_template_meta(self, tenant_id: str, name: str, language: str, meta_id: str, status: str, category: str) -> None:
        # Only fills the id; a status webhook that already arrived keeps its newer status.
        self.table.update(
            template_pk(tenant_id),
            template_sk(name, language),
            "SET meta_id = :id, category = :cat, #status = if_not_exists(status_source, :status)",
            condition="attribute_exists(pk)",
            names={"#status": "status"},
            values={":id": meta_id, ":status": status, ":cat": category},
        )

    def set_template_status(
        self, tenant_id: str, name: str, language: str, status: str, *, at: str, reason: str | None, detail: Any
    ) -> bool:
        ok, _ = self.table.update(
            template_pk(tenant_id),
            template_sk(name, language),
            "SET #status = :status, status_source = :status, status_reason = :reason, status_detail = :detail, updated_at = :at",
            condition="attribute_exists(pk)",
            names={"#status": "status"},
            values={":status": status, ":reason": reason, ":detail": dynamo_safe(detail), ":at": at},
        )
        return ok

    def delete_template(self, tenant_id: str, name: str, language: str) -> bool:
        return self.table.delete(template_pk(tenant_id), template_sk(name, language), condition="attribute_exists(pk)")

    def _message_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """A message row: its keys, and its due-index shard when it has a due time."""
        row = {"pk": message_pk(item["tenant_id"], item["id"]), "sk": "MSG", **dynamo_safe(item)}
        if item.get("due_at") is not None:
            row["due_shard"] = due_shard(item["id"], self.due_shards)
        return row

    def _update_message(self, tenant_id: str, message_id: str, expression: str, **kwargs: Any) -> bool:
        """One conditional transition of a message; False when its condition does not hold."""
        ok, _ = self.table.update(message_pk(tenant_id, message_id), "MSG", expression, **kwargs)
        return ok

    # ---- contacts and inbound ---------------------------------------------------------------
    def get_contact(self, tenant_id: str, phone: str) -> dict[str, Any] | None:
        return self.table.get(f"TENANT#{tenant_id}#CONTACT", phone, consistent=True)

    def put_contact(self, tenant_id: str, phone: str, fields: dict[str, Any], at: str) -> dict[str, Any]:
        """Set the profile fields given, keep the conversation state (window, opt-out, inbound times)."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": dynamo_safe(v) for i, v in enumerate(fields.values())}
        sets = [f"#f{i} = :v{i}" for i in range(len(fields))]
        _, item = self.table.update(
            f"TENANT#{tenant_id}#CONTACT", phone,
            "SET " + ", ".join([*sets, "phone = :phone", "updated_at = :at", "created_at = if_not_exists(created_at, :at)",
                                "auto_replied = if_not_exists(auto_replied, :empty)"]),
            names=names or None, values={**values, ":phone": phone, ":at": at, ":empty": {}}, return_new=True,
        )
        return item or {}

    def set_opt_out(self, tenant_id: str, phone: str, opted_out: bool, at: str, reason: str) -> bool:
        """Opt a contact out of (or back into) marketing; False when it already was."""
        ok, _ = self.table.update(
            f"TENANT#{tenant_id}#CONTACT", phone,
            "SET opted_out = :o, opt_changed_at = :at, opt_reason = :why, phone = :phone, updated_at = :at, "
            "created_at = if_not_exists(created_at, :at), auto_replied = if_not_exists(auto_replied, :empty)",
            condition="attribute_not_exists(opted_out) OR opted_out <> :o",
            values={":o": opted_out, ":at": at, ":why": reason, ":phone": phone, ":empty": {}},
        )
        return ok

    def list_contacts(self, tenant_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        pk = f"TENANT#{tenant_id}#CONTACT"
        items, last = self.table.query("pk = :pk", {":pk": pk}, limit=limit, start_key=decode_cursor(cursor, pk), consistent=True)
        return items, encode_cursor(last)

    def get_settings(self, tenant_id: str) -> dict[str, Any]:
        return self.table.get(tenant_pk(tenant_id), "SETTINGS", consistent=True) or {}

    def put_settings(self, tenant_id: str, settings: dict[str, Any]) -> None:
        self.table.client.put_item(TableName=self.table.name, Item=to_item({"pk": tenant_pk(tenant_id), "sk": "SETTINGS", **dynamo_safe(settings)}))

    def claim_auto_reply(self, tenant_id: str, phone: str, rule_id: str, conversation: str) -> bool:
        """At most one auto-reply per rule per conversation: the first claim wins."""
        ok, _ = self.table.update(
            f"TENANT#{tenant_id}#CONTACT", phone, "SET auto_replied.#rule = :conv",
            condition="attribute_exists(pk) AND (attribute_not_exists(auto_replied.#rule) OR auto_replied.#rule <> :conv)",
            names={"#rule": rule_id}, values={":conv": conversation},
        )
        return ok

    def record_inbound(self, tenant_id: str, phone: str, wamid: str, at: str, window_expires_at: str, item: dict[str, Any], ttl_s: int) -> bool:
        """Store one inbound message (once per wamid: Meta repeats webhooks) and open or extend the
        contact's window. False when this wamid was stored already."""
        stored = self.table.put_new({"pk": f"TENANT#{tenant_id}#INBOX#{phone}", "sk": f"{at}#{wamid}", "wamid": wamid,
                                     "expires_at": ttl_s, **dynamo_safe(item)})
        if not stored:
            return False
        # Keep the latest time only: webhooks arrive in any order.
        self.table.update(
            f"TENANT#{tenant_id}#CONTACT", phone,
            "SET last_inbound_at = :at, window_expires_at = :win, updated_at = :at, created_at = if_not_exists(created_at, :at), "
            "phone = :phone, auto_replied = if_not_exists(auto_replied, :empty), "
            "conversation_started_at = if_not_exists(conversation_started_at, :at)",
            condition="attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
            values={":at": at, ":win": window_expires_at, ":phone": phone, ":empty": {}},
        )
        return True

    def start_conversation(self, tenant_id: str, phone: str, at: str, previous_window: str | None) -> None:
        """A message after the window closed starts a new conversation (auto-replies may go again)."""
        self.table.update(
            f"TENANT#{tenant_id}#CONTACT", phone, "SET conversation_started_at = :at",
            condition="attribute_exists(pk) AND (attribute_not_exists(conversation_started_at) OR :prev < :at)",
            values={":at": at, ":prev": previous_window or ""},
        )

    def inbound_for(self, tenant_id: str, phone: str, limit: int = 50) -> list[dict[str, Any]]:
        items, _ = self.table.query("pk = :pk", {":pk": f"TENANT#{tenant_id}#INBOX#{phone}"}, limit=limit, consistent=True)
        return items

    # ---- flows and events -----------------------------------------------------------------
    def put_flow(self, tenant_id: str, name: str, item: dict[str, Any]) -> None:
        self.table.client.put_item(TableName=self.table.name, Item=to_item({"pk": f"TENANT#{tenant_id}#FLOW", "sk": name, **dynamo_safe(item)}))

    def get_flow(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        return self.table.get(f"TENANT#{tenant_id}#FLOW", name, consistent=True)

    def delete_flow(self, tenant_id: str, name: str) -> bool:
        return self.table.delete(f"TENANT#{tenant_id}#FLOW", name, condition="attribute_exists(pk)")

    def list_flows(self, tenant_id: str, *, limit: int = 100, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        pk = f"TENANT#{tenant_id}#FLOW"
        items, last = self.table.query("pk = :pk", {":pk": pk}, limit=limit, start_key=decode_cursor(cursor, pk), consistent=True)
        return items, encode_cursor(last)

    def get_event(self, tenant_id: str, event_hash: str) -> dict[str, Any] | None:
        return self.table.get(f"TENANT#{tenant_id}#EVENT#{event_hash}", "EVENT", consistent=True)

    def plans_for_key(self, tenant_id: str, key: str) -> list[dict[str, Any]]:
        items, _ = self.table.query("pk = :pk", {":pk": f"TENANT#{tenant_id}#PLAN#{key}"}, consistent=True)
        return items

    def pending_of(self, tenant_id: str, message_ids: list[str]) -> list[str]:
        """Which of these messages are still scheduled or queued (consistent reads, 100 a call)."""
        rows = self.table.batch_get([{"pk": message_pk(tenant_id, m), "sk": "MSG"} for m in message_ids],
                                    projection="id, #status", names={"#status": "status"})
        pending = {r["id"] for r in rows if r.get("status") in (st.SCHEDULED, st.QUEUED)}
        return [m for m in message_ids if m in pending]

    def cancel_update(self, tenant_id: str, message_id: str, at: str, reason: str) -> dict[str, Any]:
        """The transaction part that cancels a message still scheduled or queued; its condition
        fails (and with it the whole write) when the message left those states meanwhile."""
        return {"pk": message_pk(tenant_id, message_id), "sk": "MSG",
                "expression": "SET #status = :cancelled, events.#cancelled = :at, updated_at = :at, cancel_reason = :why "
                              "REMOVE due_shard, due_at",
                "condition": "#status IN (:scheduled, :queued)",
                "names": {"#status": "status", "#cancelled": st.CANCELLED},
                "values": {":cancelled": st.CANCELLED, ":scheduled": st.SCHEDULED, ":queued": st.QUEUED, ":at": at, ":why": reason}}

    def write_plan(
        self, tenant_id: str, event_hash: str, event_record: dict[str, Any], messages: list[dict[str, Any]],
        plans: dict[str, dict[str, Any]], key: str, *, now_s: int, quota: tuple[str, int] | None = None,
        cancels: list[str] = (), at: str = "",
    ) -> PlanWrite:
        """Swap a key's plans in one transaction: the event record, its new messages, the per-flow
        plan records, the quota count and the cancels of the old plans' pending messages, all or
        nothing. A reschedule that fails at any point leaves the old plan exactly as it was."""
        puts: list[tuple[dict[str, Any], str | None]] = [
            ({"pk": f"TENANT#{tenant_id}#EVENT#{event_hash}", "sk": "EVENT", **dynamo_safe(event_record)},
             "attribute_not_exists(pk) OR expires_at < :now"),
        ]
        for item in messages:
            puts.append((self._message_item(item), "attribute_not_exists(pk)"))
        for flow_name, record in plans.items():
            puts.append(({"pk": f"TENANT#{tenant_id}#PLAN#{key}", "sk": flow_name, **dynamo_safe(record)}, None))
        updates = [self.quota_update(tenant_id, quota[0], len(messages), quota[1])] if quota else []
        updates += [self.cancel_update(tenant_id, m, at, "rescheduled") for m in cancels]
        failed = self.table.transact_put(puts, {":now": now_s}, updates=updates)
        if failed is None:
            return PlanWrite.WRITTEN
        if failed[0] == "ConditionalCheckFailed":
            return PlanWrite.DUPLICATE
        if quota and failed[len(puts)] == "ConditionalCheckFailed":
            return PlanWrite.OVER_QUOTA
        # A pending message left scheduled/queued meanwhile (sent, or cancelled by another
        # request), or a conflicting transaction touched one of the items: read again and retry.
        return PlanWrite.STALE

    def cancel_many(self, tenant_id: str, message_ids: list[str], at: str, reason: str) -> bool:
        """Cancel these pending messages together (one transaction per 100): False when one of
        them left scheduled/queued meanwhile, and then none of that transaction's changed."""
        for start in range(0, len(message_ids), 100):
            chunk = message_ids[start : start + 100]
            if self.table.transact_put([], updates=[self.cancel_update(tenant_id, m, at, reason) for m in chunk]) is not None:
                return False
        return True

    # ---- messages: intake ----------------------------------------------------------------
    def quota_update(self, tenant_id: str, day: str, n: int, limit: int) -> dict[str, Any]:
        """The transaction part that counts `n` sends against the tenant's daily quota; its
        condition fails (and with it the whole write) when they would go over."""
        return {"pk": f"TENANT#{tenant_id}#QUOTA", "sk": day, "expression": "ADD used :n SET expires_at = :exp",
                "condition": "attribute_not_exists(used) OR used <= :room",
                "values": {":n": n, ":room": limit - n, ":exp": _day_expiry(day)}}

    def quota_used(self, tenant_id: str, day: str) -> int:
        item = self.table.get(f"TENANT#{tenant_id}#QUOTA", day, consistent=True)
        return int(item["used"]) if item else 0

    def create_message(self, item: dict[str, Any], idempotency: dict[str, Any] | None, *, now_s: int = 0,
                       quota: tuple[str, int] | None = None) -> str | None:
        """Write the message (its idempotency record, its count against the daily quota) atomically.

        None on success; "idempotency" when the key exists already; "quota" when the daily
        quota is spent; "message" on an id clash.
        """
        items = [self._message_item(item)]
        if idempotency:
            items.append({"pk": idem_pk(item["tenant_id"], idempotency["key"]), "sk": "IDEM", **idempotency})
        updates = [self.quota_update(item["tenant_id"], quota[0], 1, quota[1])] if quota else None
        # Message ids are new, so only an expired idempotency record can ever be replaced.
        if updates is None and idempotency is None:
            return None if self.table.put_new(items[0]) else "message"
        failed = self.table.transact_put_new(items, replace_expired_before=now_s, updates=updates)
        if failed is None:
            return None
        if idempotency and len(failed) > 1 and failed[1] == "ConditionalCheckFailed":
            return "idempotency"
        if updates and failed[-1] == "ConditionalCheckFailed":
            return "quota"
        return "message"

    def get_idempotency(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        return self.table.get(idem_pk(tenant_id, key), "IDEM", consistent=True)

    def get_message(self, tenant_id: str, message_id: str) -> dict[str, Any] | None:
        return self.table.get(message_pk(tenant_id, message_id), "MSG", consistent=True)

    def cancel_message(self, tenant_id: str, message_id: str, at: str) -> tuple[bool, dict[str, Any] | None]:
        return self.table.update(
            message_pk(tenant_id, message_id),
            "MSG",
            "SET #status = :cancelled, events.#cancelled = :at, updated_at = :at REMOVE due_shard, due_at",
            condition="#status IN (:scheduled, :queued)",
            names={"#status": "status", "#cancelled": st.CANCELLED},
            values={":cancelled": st.CANCELLED, ":scheduled": st.SCHEDULED, ":queued": st.QUEUED, ":at": at},
            return_new=True,
            return_old_on_failure=True,
        )

    # ---- messages: sending (the lease) ---------------------------------------------------
    def lease(self, tenant_id: str, message_id: str, token: str, lease_until_ms: int, at: str, *, release_by_ms: int = 0) -> dict[str, Any] | None:
        """queued (or due scheduled) -> sending, won by exactly one sender. The message, or None."""
        ok, new = self.table.update(
            message_pk(tenant_id, message_id),
            "MSG",
            "SET #status = :sending, lease_token = :token, lease_until = :until, due_at = :until, updated_at = :at, "
            "events.#queued = if_not_exists(events.#queued, :at)",
            # A scheduled message is leased straight from the dispatcher's job, but never before its minute.
            condition="#status = :queued OR (#status = :scheduled AND due_at <= :minute_end)",
            names={"#status": "status", "#queued": st.QUEUED},
            values={":sending": st.SENDING, ":queued": st.QUEUED, ":scheduled": st.SCHEDULED, ":token": token,
                    ":until": lease_until_ms, ":at": at, ":minute_end": (release_by_ms // 60_000 + 1) * 60_000 - 1},
            return_new=True,
        )
        return new if ok else None

    def release(self, tenant_id: str, message_id: str, token: str, due_ms: int, at: str) -> bool:
        """sending -> queued without an attempt (throttled before the provider call)."""
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :queued, due_at = :due, updated_at = :at REMOVE lease_token, lease_until",
            condition="lease_token = :token",
            names={"#status": "status"},
            values={":queued": st.QUEUED, ":token": token, ":due": due_ms, ":at": at},
        )
        return ok

    def record_accepted(self, tenant_id: str, message_id: str, wamid: str, at: str) -> bool:
        """WhatsApp said yes. Also from `unknown`: a slow answer after our lease was expired is still
        proof of acceptance. Only the one sender that leased the message can get here.

        The rendered request goes too: nothing sends it again, and without it the row is under
        1 KB, so each of the six or so writes still to come (statuses, callback claims) costs
        one write unit instead of two."""
        pk = message_pk(tenant_id, message_id)
        ok, _ = self.table.update(
            pk,
            "MSG",
            "SET #status = :accepted, wamid = :wamid, events.#accepted = :at, attempts = attempts + :one, updated_at = :at "
            "REMOVE lease_token, lease_until, due_shard, due_at, #request",
            condition="#status IN (:sending, :unknown)",
            names={"#status": "status", "#accepted": st.ACCEPTED, "#request": "request"},
            values={":accepted": st.ACCEPTED, ":wamid": wamid, ":at": at, ":one": 1, ":sending": st.SENDING, ":unknown": st.UNKNOWN},
        )
        if not ok:
            # A status webhook beat us to it and already moved the message on: keep its
            # status, just make sure the id and the attempt are recorded.
            self.table.update(
                pk,
                "MSG",
                "SET wamid = if_not_exists(wamid, :wamid), attempts = attempts + :one, events.#accepted = if_not_exists(events.#accepted, :at)",
                condition="attribute_exists(pk)",
                names={"#accepted": st.ACCEPTED},
                values={":wamid": wamid, ":one": 1, ":at": at},
            )
        return ok

    def cancel_leased(self, tenant_id: str, message_id: str, token: str, reason: str, at: str) -> bool:
        """The sender, holding the lease, finds the message must not go (e.g. the contact opted out)."""
        return self._update_message(
            tenant_id, message_id,
            "SET #status = :cancelled, events.#cancelled = :at, cancel_reason = :why, updated_at = :at "
            "REMOVE lease_token, lease_until, due_shard, due_at",
            condition="lease_token = :token",
            names={"#status": "status", "#cancelled": st.CANCELLED},
            values={":cancelled": st.CANCELLED, ":at": at, ":why": reason, ":token": token},
        )

    def record_retry(self, tenant_id: str, message_id: str, token: str, error: dict[str, Any], due_ms: int, at: str) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :queued, last_error = :err, attempts = attempts + :one, due_at = :due, updated_at = :at "
            "REMOVE lease_token, lease_until",
            condition="lease_token = :token",
            names={"#status": "status"},
            values={":queued": st.QUEUED, ":err": dynamo_safe(error), ":one": 1, ":due": due_ms, ":at": at, ":token": token},
        )
        return ok

    def record_failed(self, tenant_id: str, message_id: str, token: str, error: dict[str, Any], at: str) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :failed, #error = :err, events.#failed = :at, attempts = attempts + :one, updated_at = :at "
            "REMOVE lease_token, lease_until, due_shard, due_at",
            condition="lease_token = :token",
            names={"#status": "status", "#error": "error", "#failed": st.FAILED},
            values={":failed": st.FAILED, ":err": dynamo_safe(error), ":one": 1, ":at": at, ":token": token},
        )
        return ok

    def record_unknown(self, tenant_id: str, message_id: str, token: str, reason: str, due_ms: int, at: str) -> bool:
        """The request may have reached WhatsApp: never re-send blindly; wait for a webhook."""
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :unknown, unknown_reason = :reason, attempts = attempts + :one, due_at = :due, updated_at = :at "
            "REMOVE lease_token, lease_until",
            condition="lease_token = :token",
            names={"#status": "status"},
            values={":unknown": st.UNKNOWN, ":reason": reason, ":one": 1, ":due": due_ms, ":at": at, ":token": token},
        )
        return ok

    # ---- messages: statuses from WhatsApp -------------------------------------------------
    def apply_status(
        self,
        tenant_id: str,
        message_id: str,
        new_status: str,
        *,
        at: str,
        wamid: str,
        pricing: dict[str, Any] | None,
        error: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Move forward to `new_status` if it outranks the current one and return the message as it
        is now (free: ALL_NEW costs no extra capacity); else only note when it happened, and None."""
        pk = message_pk(tenant_id, message_id)
        below = st.statuses_below(new_status)
        values: dict[str, Any] = {":new": new_status, ":at": at, ":wamid": wamid}
        values.update({f":b{i}": s for i, s in enumerate(below)})
        sets = ["#status = :new", "events.#new = if_not_exists(events.#new, :at)", "wamid = if_not_exists(wamid, :wamid)", "updated_at = :at"]
        if pricing:
            sets.append("pricing = :pricing")
            values[":pricing"] = dynamo_safe(pricing)
        if error:
            sets.append("#error = :error")
            values[":error"] = dynamo_safe(error)
        names = {"#status": "status", "#new": new_status}
        if error:
            names["#error"] = "error"
        ok, now = self.table.update(
            pk,
            "MSG",
            "SET " + ", ".join(sets) + " REMOVE lease_token, lease_until, due_shard, due_at",
            condition=f"#status IN ({', '.join(f':b{i}' for i in range(len(below)))})",
            names=names,
            values=values,
            return_new=True,
        )
        if ok:
            return now
        # Late or duplicate: the status does not change, but a late `delivered` still gets its
        # timestamp in the history, and pricing (sent with only one status) is kept.
        late_values: dict[str, Any] = {":at": at, ":cancelled": st.CANCELLED}
        late_sets = ["events.#new = :at"]
        if pricing:
            late_sets.append("pricing = if_not_exists(pricing, :pricing)")
            late_values[":pricing"] = dynamo_safe(pricing)
        self.table.update(
            pk,
            "MSG",
            "SET " + ", ".join(late_sets),
            condition="attribute_exists(pk) AND attribute_not_exists(events.#new) AND #status <> :cancelled",
            names={"#new": new_status, "#status": "status"},
            values=late_values,
        )
        return None

    # ---- SMS fallback -----------------------------------------------------------------------
    def put_fallback_deadline(self, tenant_id: str, message_id: str, due_ms: int, expires_at: int) -> None:
        """A due-index entry of its own, so status moves never disturb it: at `due_ms` the
        dispatcher sends the SMS if the message is still unread. (UpdateItem creates it: the
        sender and the dispatcher need no PutItem or DeleteItem.)"""
        self.table.update(message_pk(tenant_id, message_id), "FALLBACK",
                          "SET id = :id, tenant_id = :t, #status = :s, due_shard = :shard, due_at = :due, expires_at = :exp",
                          names={"#status": "status"},
                          values={":id": message_id, ":t": tenant_id, ":s": "fallback_due", ":shard": due_shard(message_id, self.due_shards),
                                  ":due": due_ms, ":exp": expires_at})

    def drop_fallback_deadline(self, tenant_id: str, message_id: str) -> None:
        """Out of the due index; TTL deletes the rest."""
        self.table.update(message_pk(tenant_id, message_id), "FALLBACK", "REMOVE due_shard, due_at", condition="attribute_exists(pk)")

    def claim_fallback(self, tenant_id: str, message_id: str, reason: str, at: str, *, unread_only: bool) -> dict[str, Any] | None:
        """The one conditional write that makes an SMS happen at most once: the message has a
        fallback planned and nobody claimed it; for the unread deadline it must also still be
        unread (accepted, sent or delivered). Returns the message, or None."""
        condition = "attribute_exists(fallback.#text) AND attribute_not_exists(fallback.claimed_at)"
        values: dict[str, Any] = {":at": at, ":reason": reason, ":sending": "sending"}
        if unread_only:
            condition += " AND #status IN (:accepted, :sent, :delivered)"
            values |= {":accepted": st.ACCEPTED, ":sent": st.SENT, ":delivered": st.DELIVERED}
        ok, item = self.table.update(
            message_pk(tenant_id, message_id), "MSG",
            "SET fallback.claimed_at = :at, fallback.reason = :reason, fallback.#fstatus = :sending",
            condition=condition, names={"#text": "text", "#fstatus": "status", **({"#status": "status"} if unread_only else {})},
            values=values, return_new=True,
        )
        return item if ok else None

    def record_fallback(self, tenant_id: str, message_id: str, status: str, at: str, provider_message_id: str | None,
                        error: str | None) -> None:
        sets = ["fallback.#fstatus = :s", "fallback.#at = :at", "updated_at = :at"]
        values: dict[str, Any] = {":s": status, ":at": at}
        if provider_message_id:
            sets.append("fallback.provider_message_id = :pmid")
            values[":pmid"] = provider_message_id
        if error:
            sets.append("fallback.#error = :err")
            values[":err"] = error
        self.table.update(message_pk(tenant_id, message_id), "MSG", "SET " + ", ".join(sets), condition="attribute_exists(fallback.claimed_at)",
                          names={"#fstatus": "status", "#at": f"{status}_at", **({"#error": "error"} if error else {})}, values=values)

    # ---- analytics counters: one item per tenant, UTC day and template (and one per day for inbound)
    def add_counters(self, tenant_id: str, sk: str, counts: dict[str, int], attributes: dict[str, Any], expires_at: int) -> None:
        """ADD each count (atomic, no read); `attributes` are set as they are (name, language, day)."""
        names = {f"#c{i}": k for i, k in enumerate(counts)} | {f"#a{i}": k for i, k in enumerate(attributes)}
        values: dict[str, Any] = {f":c{i}": v for i, v in enumerate(counts.values())}
        values |= {f":a{i}": v for i, v in enumerate(attributes.values())} | {":exp": expires_at}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
        sets = ", ".join([*(f"#a{i} = :a{i}" for i in range(len(attributes))), "expires_at = :exp"])
        self.table.update(f"TENANT#{tenant_id}#STATS", sk, f"ADD {adds} SET {sets}", names=names, values=values)

    def counter_rows(self, tenant_id: str, first_sk: str, last_sk: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        start = None
        while True:
            items, start = self.table.query("pk = :pk AND sk BETWEEN :a AND :b",
                                            {":pk": f"TENANT#{tenant_id}#STATS", ":a": first_sk, ":b": last_sk}, start_key=start)
            rows += items
            if not start:
                return rows

    def claim_callback(self, tenant_id: str, message_id: str, rank: int) -> bool:
        """Claim a status callback before posting it, in one conditional write with no read:
        False when a higher status was already claimed (this one is stale). The same rank may
        claim again, so a retry of a failed post goes through."""
        return self._update_message(
            tenant_id, message_id, "SET callback_rank = :r",
            condition="attribute_exists(pk) AND (attribute_not_exists(callback_rank) OR callback_rank <= :r)", values={":r": rank},
        )

    def record_reply(self, tenant_id: str, message_id: str, reply: dict[str, Any]) -> None:
        """What the customer answered to a message (its latest reply, and a rating if it was one)."""
        sets = ["last_reply = :reply"]
        values: dict[str, Any] = {":reply": dynamo_safe(reply)}
        if reply.get("rating") is not None:
            sets.append("rating = :rating")
            values[":rating"] = reply["rating"]
        self._update_message(tenant_id, message_id, "SET " + ", ".join(sets), condition="attribute_exists(pk)", values=values)

    def message_id_for_wamid(self, wamid: str) -> tuple[str, str] | None:
        items, _ = self.table.query("wamid = :w", {":w": wamid}, index="WamidIndex", limit=1)
        if not items:
            return None
        return items[0]["tenant_id"], items[0]["id"]

    # ---- the due index (dispatcher) --------------------------------------------------------
    def claim_due_range(self, shard: int, through_ms: int) -> int | None:
        """Advance shard's dispatch watermark to `through_ms`: the previous watermark (the range
        (previous, through] is this run's to enqueue), or None when a run got there first."""
        try:
            resp = self.table.client.update_item(
                TableName=self.table.name, Key=to_item({"pk": f"DISPATCH#{shard}", "sk": "DISPATCH"}),
                UpdateExpression="SET through = :t", ConditionExpression="attribute_not_exists(through) OR through < :t",
                ExpressionAttributeValues={":t": to_attr(through_ms)}, ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.table.client.exceptions.ConditionalCheckFailedException as exc:
            old = (exc.response.get("Item") or {}).get("through")
            if old and int(old["N"]) > through_ms + 60_000:
                # The watermark is ahead of this run's minute (the clock was moved, e.g. by
                # /_local/clock): release this minute message by message instead.
                return WATERMARK_AHEAD
            return None
        old = resp.get("Attributes", {}).get("through")
        return int(old["N"]) if old else -1

    def due_in_shard(self, shard: int, through_ms: int, limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = None
        while len(out) < limit:
            items, start = self.table.query(
                "due_shard = :s AND due_at <= :now", {":s": f"DUE#{shard}", ":now": through_ms},
                index="DueIndex", start_key=start,
            )
            out.extend(items)
            if not start:
                break
        return out

    def promote_scheduled(self, tenant_id: str, message_id: str, next_due_ms: int, at: str) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :queued, events.#queued = if_not_exists(events.#queued, :at), due_at = :due, updated_at = :at",
            condition="#status = :scheduled",
            names={"#status": "status", "#queued": st.QUEUED},
            values={":queued": st.QUEUED, ":scheduled": st.SCHEDULED, ":due": next_due_ms, ":at": at},
        )
        return ok

    def claim_stale_queued(self, tenant_id: str, message_id: str, old_due_ms: int, next_due_ms: int) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET due_at = :next",
            condition="#status = :queued AND due_at = :old",
            names={"#status": "status"},
            values={":queued": st.QUEUED, ":old": old_due_ms, ":next": next_due_ms},
        )
        return ok

    def expire_lease(self, tenant_id: str, message_id: str, token: str, due_ms: int, at: str) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :unknown, unknown_reason = :reason, due_at = :due, updated_at = :at REMOVE lease_token, lease_until",
            condition="#status = :sending AND lease_token = :token",
            names={"#status": "status"},
            values={
                ":unknown": st.UNKNOWN,
                ":sending": st.SENDING,
                ":token": token,
                ":due": due_ms,
                ":at": at,
                ":reason": "the sender stopped while holding the lease; the request may have reached WhatsApp",
            },
        )
        return ok

    def give_up_unknown(self, tenant_id: str, message_id: str, error: dict[str, Any], at: str) -> bool:
        ok = self._update_message(
            tenant_id,
            message_id,
            "SET #status = :failed, #error = :err, events.#failed = :at, updated_at = :at REMOVE due_shard, due_at",
            condition="#status = :unknown",
            names={"#status": "status", "#error": "error", "#failed": st.FAILED},
            values={":failed": st.FAILED, ":unknown": st.UNKNOWN, ":err": dynamo_safe(error), ":at": at},
        )
        return ok

    # ---- campaigns -------------------------------------------------------------------------
    def put_campaign(self, tenant_id: str, item: dict[str, Any]) -> None:
        self.table.put_new({"pk": f"TENANT#{tenant_id}#CAMPAIGN#{item['id']}", "sk": "CAMPAIGN", **dynamo_safe(item)})

    def drop_unplanned_campaign(self, tenant_id: str, campaign_id: str) -> bool:
        """Delete a campaign nothing was planned for yet (its planning job could not be queued)."""
        return self.table.delete(f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}", "CAMPAIGN",
                                 condition="planned = :zero", values={":zero": 0})

    def get_campaign(self, tenant_id: str, campaign_id: str) -> dict[str, Any] | None:
        return self.table.get(f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}", "CAMPAIGN", consistent=True)

    def stop_campaign(self, tenant_id: str, campaign_id: str, at: str) -> dict[str, Any] | None:
        """Any not-yet-cancelled campaign -> cancelled; None when it already was."""
        ok, item = self.table.update(
            f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}", "CAMPAIGN", "SET #status = :c, updated_at = :at, cancelled_at = :at",
            condition="attribute_exists(pk) AND #status <> :c", names={"#status": "status"}, values={":c": "cancelled", ":at": at},
            return_new=True,
        )
        return item if ok else None

    def mark_campaign(self, tenant_id: str, campaign_id: str, status: str, reason: str, at: str) -> bool:
        ok, _ = self.table.update(
            f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}", "CAMPAIGN", "SET #status = :s, reason = :r, updated_at = :at",
            condition="#status IN (:planning, :paused)", names={"#status": "status"},
            values={":s": status, ":r": reason, ":at": at, ":planning": "planning", ":paused": "paused_quota"},
        )
        return ok

    def write_campaign_page(self, tenant_id: str, campaign: dict[str, Any], messages: list[dict[str, Any]], *,
                            next_cursor: str | None, excluded: int, at: str, quota: tuple[str, int]) -> str:
        """One page of a campaign's messages, the campaign's cursor and the quota count, all or
        nothing. "ok", "quota" (over today's quota) or "conflict" (the page was written by an
        earlier delivery of the same job, or the campaign was cancelled)."""
        done_status = "scheduled" if messages and messages[0]["status"] == st.SCHEDULED else "sending"
        updates = [{
            "pk": f"TENANT#{tenant_id}#CAMPAIGN#{campaign['id']}", "sk": "CAMPAIGN",
            "expression": "SET #cursor = :next, planned = planned + :n, excluded = excluded + :x, #status = :status, "
                          "updated_at = :at REMOVE reason",
            "condition": "#cursor = :cur AND #status IN (:planning, :paused)",
            "names": {"#status": "status", "#cursor": "cursor"},
            "values": {":next": next_cursor or "", ":n": len(messages), ":x": excluded, ":at": at, ":cur": campaign.get("cursor") or "",
                       ":status": "planning" if next_cursor is not None else done_status, ":planning": "planning", ":paused": "paused_quota"},
        }]
        if messages:
            updates.append(self.quota_update(tenant_id, quota[0], len(messages), quota[1]))
        failed = self.table.transact_put([(self._message_item(m), "attribute_not_exists(pk)") for m in messages], updates=updates)
        if failed is None:
            return "ok"
        if messages and failed[-1] == "ConditionalCheckFailed" and failed[len(messages)] != "ConditionalCheckFailed":
            return "quota"
        return "conflict"

    def campaign_messages(self, tenant_id: str, campaign_id: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        start = None
        while True:
            items, start = self.table.query("campaign_key = :c", {":c": f"TENANT#{tenant_id}#CAMPAIGN#{campaign_id}"},
                                            index="CampaignIndex", start_key=start)
            out += [(i["id"], i["status"]) for i in items]
            if not start:
                return out

    def get_contacts(self, tenant_id: str, phones: list[str]) -> list[dict[str, Any]]:
        return self.table.batch_get([{"pk": f"TENANT#{tenant_id}#CONTACT", "sk": p} for p in phones])

    def contacts_page(self, tenant_id: str, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        pk = f"TENANT#{tenant_id}#CONTACT"
        start = {"pk": {"S": pk}, "sk": {"S": after}} if after else None
        items, last = self.table.query("pk = :pk", {":pk": pk}, limit=limit, start_key=start, consistent=True)
        return items, (last["sk"]["S"] if last else None)

    # ---- rate buckets (GCRA, one conditional write per grant) --------------------------------
    def take_token(self, scope: str, rate: Rate, now_us: int, *, ttl_s: int | None = None, lane: str = "high") -> int:
        """Take one send from the bucket; 0 when granted, else microseconds to wait."""
        granted, wait = self.take_tokens(scope, rate, now_us, n=1, lane=lane, ttl_s=ttl_s)
        return 0 if granted else wait

    def take_tokens(self, scope: str, rate: Rate, now_us: int, *, n: int = 1, lane: str = "high",
                    ttl_s: int | None = None) -> tuple[int, int]:
        """Take up to `n` sends at once for `lane`: (granted, microseconds to wait when none).

        GCRA has two cases, each one conditional write with no read first: the bucket is idle
        (TAT in the past: restart from now) or busy within the lane's share of the burst
        (TAT + n intervals). The case the bucket was last in is tried first, so a steady
        stream costs one write per batch of grants; a refusal returns the old TAT, which
        tells how many could be granted, or how long to wait, without another request.
        """
        pk = f"RATE#{scope}"
        want = max(1, min(n, available(rate, None, now_us, lane)))
        ttl_values = {} if not ttl_s else {":exp": now_us // 1_000_000 + ttl_s}
        extra = ", expires_at = :exp" if ttl_s else ""
        for _ in range(3):
            limit = lane_limit_us(rate, now_us, lane, want)
            idle = ("SET tat = :next" + extra, "attribute_not_exists(tat) OR tat <= :now",
                    {":next": now_us + want * rate.interval_us, ":now": now_us})
            busy = ("SET tat = tat + :i" + extra, "tat > :now AND tat <= :limit",
                    {":i": want * rate.interval_us, ":now": now_us, ":limit": limit})
            retry_with = 0
            for case in ((busy, idle) if self._busy_buckets.get(scope) else (idle, busy)):
                expression, condition, values = case
                ok, old = self.table.update(
                    pk, "RATE", expression, condition=condition, values={**values, **ttl_values}, return_old_on_failure=True
                )
                if ok:
                    self._busy_buckets[scope] = case is busy
                    return want, 0
                tat = int(old["tat"]) if old and "tat" in old else None
                if tat is not None and tat > limit:
                    self._busy_buckets[scope] = True
                    can = available(rate, tat, now_us, lane)
                    if can == 0:
                        return 0, wait_us(rate, tat, now_us, lane)
                    retry_with = min(want - 1, can)
                    break
            if retry_with:
                want = retry_with
        return 0, 1  # lost races on every try: the caller waits the shortest delay and tries again
