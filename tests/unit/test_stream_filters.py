"""The stream mapping's FilterCriteria (template.yaml) against recorded-looking stream records.

Lambda drops a record no filter matches, for good and silently: a mistyped pattern would lose
callbacks, counters and SMS fallbacks without an error anywhere. Each pattern is matched here
with moto's EventBridge matcher (the same pattern language) against records shaped as DynamoDB
Streams delivers them (DynamoDB JSON images, NEW_AND_OLD_IMAGES), and every record that owes
something according to domain/changes.py must pass."""

import json
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from moto.events.models import EventPattern
from wa_notify.adapters.storage import keys
from wa_notify.services.changes import StreamChange, effects_of

from infra.local.provision import load_template

MAPPING = load_template()["Resources"]["CallbackFunction"]["Properties"]["Events"]["Changes"]["Properties"]
PATTERNS = [f["Pattern"] for f in MAPPING["FilterCriteria"]["Filters"]]
TENANT = "t_1"
_to_ddb, _from_ddb = TypeSerializer(), TypeDeserializer()


def ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _to_ddb.serialize(v) for k, v in item.items()}


def record(event_name: str, pk: str, sk: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """One stream record as Lambda hands it over (the part the filters see is `dynamodb`)."""
    keys = {"pk": pk, "sk": sk}
    data: dict[str, Any] = {"ApproximateCreationDateTime": 1764576000, "Keys": ddb(keys), "SequenceNumber": "4100000000012345678901",
                            "SizeBytes": 420, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        data["NewImage"] = ddb({**keys, **new})
    if old is not None:
        data["OldImage"] = ddb({**keys, **old})
    return {"eventID": "c81e728d9d4c2f636f067f89cc14862c", "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": data,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/wa-notify-dev-Table/stream/2026-12-01T00:00:00.000"}


def passes(rec: dict[str, Any]) -> bool:
    return any(EventPattern.load(pattern).matches_event(rec) for pattern in PATTERNS)


def owes_something(rec: dict[str, Any]) -> bool:
    data = rec["dynamodb"]
    image = {k: {n: _from_ddb.deserialize(v) for n, v in data[k].items()} if k in data else None for k in ("Keys", "OldImage", "NewImage")}
    return bool(effects_of(StreamChange("1", image["Keys"], image["OldImage"], image["NewImage"])))


MSG_PK = keys.message(TENANT, "msg_01").pk
TEMPLATE = {"name": "appointment_reminder", "language": "en_US"}
QUEUED = {"id": "msg_01", "tenant_id": TENANT, "status": "queued", "to": "+886912345678", "template": TEMPLATE,
          "events": {"queued": "2026-12-01T08:00:00.000Z"}, "updated_at": "2026-12-01T08:00:00.000Z"}
SENDING = {**QUEUED, "status": "sending", "lease_token": "l1", "updated_at": "2026-12-01T08:00:01.000Z"}
ACCEPTED = {**QUEUED, "status": "accepted", "wamid": "wamid.HBgM", "events": {**QUEUED["events"], "accepted": "2026-12-01T08:00:02.000Z"}}
DELIVERED = {**ACCEPTED, "status": "delivered", "events": {**ACCEPTED["events"], "delivered": "2026-12-01T08:00:05.000Z"}}
INBOX_PK = keys.inbox_pk(TENANT, "+886912345678")
INBOUND = {"wamid": "wamid.IN1", "received_at": "2026-12-01T08:01:00.000Z", "text": "STOP", "expires_at": 1767168000}
CONTACT_PK = keys.contacts_pk(TENANT)
CONTACT = {"phone": "+886912345678", "name": "Ana", "opted_out": False, "last_inbound_at": "2026-12-01T08:01:00.000Z"}

TEMPLATE_ROW = {"name": "appointment_reminder", "language": "en_US", "category": "UTILITY"}
PASSING = {
    "template status changed by Meta (issue 15)": record("MODIFY", *keys.template(TENANT, "appointment_reminder", "en_US"),
                                                         {**TEMPLATE_ROW, "status": "PAUSED", "status_source": "PAUSED"},
                                                         {**TEMPLATE_ROW, "status": "APPROVED", "status_source": "APPROVED"}),
    "template category changed by Meta": record("MODIFY", *keys.template(TENANT, "appointment_reminder", "en_US"),
                                                {**TEMPLATE_ROW, "status": "APPROVED", "category": "MARKETING", "status_source": "APPROVED"},
                                                {**TEMPLATE_ROW, "status": "APPROVED", "status_source": "APPROVED"}),
    "message MODIFY to delivered": record("MODIFY", MSG_PK, "MSG", DELIVERED, ACCEPTED),
    "message MODIFY sending -> accepted": record("MODIFY", MSG_PK, "MSG", ACCEPTED, SENDING),
    "message MODIFY to failed": record("MODIFY", MSG_PK, "MSG", {**SENDING, "status": "failed", "error": {"code": 131026}}, SENDING),
    "inbound MODIFY once handled": record("MODIFY", INBOX_PK, f"{INBOUND['received_at']}#wamid.IN1",
                                          {**INBOUND, "handled_at": "2026-12-01T08:01:00.200Z", "callbacks": []}, INBOUND),
    "first click while the sender's acceptance is not stored yet (message.clicked)": record(
        "MODIFY", MSG_PK, "MSG", {**SENDING, "clicked_at": "2026-12-01T08:00:03.000Z", "clicks": [{"url": "https://a.example", "at": "x"}]},
        SENDING),
    "contact opted out by a reply": record("MODIFY", CONTACT_PK, "+886912345678",
                                           {**CONTACT, "opted_out": True, "opt_source": "reply", "opt_changed_at": "2026-12-01T08:01:00.100Z"},
                                           CONTACT),
    "message cancelled (message.cancelled)": record("MODIFY", MSG_PK, "MSG", {**QUEUED, "status": "cancelled", "cancel_reason": "customer"},
                                                    QUEUED),
    "SMS fallback sent (message.fallback)": record("MODIFY", MSG_PK, "MSG", {**DELIVERED, "fallback": {"text": "t", "status": "sent"}},
                                                   {**DELIVERED, "fallback": {"text": "t", "status": "sending"}}),
    "erasure receipt (contact.erased)": record("INSERT", *keys.erasure(TENANT, "erased:0123abcd"),
                                               {"phone_hash": "erased:0123abcd", "erased_at": "2026-12-01T08:02:00.000Z",
                                                "handled_at": "2026-12-01T08:02:00.000Z"}),
}
DROPPED = {
    "message INSERT queued": record("INSERT", MSG_PK, "MSG", QUEUED),
    "message MODIFY queued -> sending": record("MODIFY", MSG_PK, "MSG", SENDING, QUEUED),
    "message scheduled": record("INSERT", MSG_PK, "MSG", {**QUEUED, "status": "scheduled"}),
    "an SMS-fallback deadline beside its message": record("INSERT", MSG_PK, "FALLBACK", {"id": "msg_01", "status": "due", "due_at": 1}),
    "message removed by its TTL": record("REMOVE", MSG_PK, "MSG", None, DELIVERED),
    "inbound INSERT before it is handled": record("INSERT", INBOX_PK, f"{INBOUND['received_at']}#wamid.IN1", INBOUND),
    "contact never opted in or out": record("MODIFY", CONTACT_PK, "+886912345678", CONTACT, {**CONTACT, "last_inbound_at": "x"}),
    "template registered or imported (no old image)": record("INSERT", *keys.template(TENANT, "appointment_reminder", "en_US"),
                                                             {**TEMPLATE_ROW, "status": "PENDING"}),
    "Meta's first decision on a template registered here": record("MODIFY", *keys.template(TENANT, "appointment_reminder", "en_US"),
                                                                  {**TEMPLATE_ROW, "status": "APPROVED", "status_source": "APPROVED"},
                                                                  {**TEMPLATE_ROW, "status": "PENDING"}),
    "a contact row an erasure marks (its salt), then deletes": record("MODIFY", CONTACT_PK, "+886912345678",
                                                                      {**CONTACT, "erasure_salt": "s"}, CONTACT),
    "an erasure receipt's TTL or a rerun's no-op": record("REMOVE", *keys.erasure(TENANT, "erased:0123abcd"), None,
                                                         {"phone_hash": "erased:0123abcd", "erased_at": "2026-12-01T08:02:00.000Z"}),
    "template's Meta id filled in at registration": record("MODIFY", *keys.template(TENANT, "appointment_reminder", "en_US"),
                                                          {**TEMPLATE_ROW, "status": "PENDING", "meta_id": "1"},
                                                          {**TEMPLATE_ROW, "status": "PENDING"}),
}


def test_the_mapping_has_exactly_the_four_item_kinds_as_valid_json_patterns():
    # GIVEN the stream mapping's filters in template.yaml
    # WHEN they are parsed as JSON
    parsed = [json.loads(p) for p in PATTERNS]
    # THEN there are five (messages, clicked messages, inbound and erasure receipts, contacts, templates):
    # Lambda's default quota is five filters per event source mapping (ten only on request), and a
    # deploy over it fails; each on the record's `dynamodb` part only (what DynamoDB mappings filter on)
    assert len(parsed) == 5 and all(set(p) == {"dynamodb"} for p in parsed)
    assert all(len(p) <= 4096 for p in PATTERNS)


def test_changes_that_owe_something_pass_the_filters():
    for name, rec in PASSING.items():
        # GIVEN a change that owes a callback, a counter or an SMS
        # WHEN Lambda applies the mapping's filters
        # THEN it reaches the function
        assert passes(rec), name


def test_changes_that_owe_nothing_are_dropped_before_any_invocation():
    for name, rec in DROPPED.items():
        # GIVEN a change nothing follows (an intake or lease write, another item kind)
        # WHEN Lambda applies the mapping's filters
        # THEN no invocation is paid for it
        assert not passes(rec), name


def test_the_filters_never_drop_a_change_the_domain_derives_effects_from():
    # GIVEN every recorded-looking change above
    for name, rec in {**PASSING, **DROPPED}.items():
        # WHEN domain/changes.py says it owes something
        # THEN the filters let it through (a dropped one would be lost silently)
        if owes_something(rec):
            assert passes(rec), name
    # AND the passing examples are not vacuous: most of them do owe something
    assert sum(owes_something(r) for r in PASSING.values()) >= 4
