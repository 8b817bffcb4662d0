"""Hostile values (issue 12, section 2): each is a 4xx problem+json naming the field, with
nothing written; never a 5xx. Time zones, out-of-range dates, non-string date-times, booleans
taken as numbers, odd phone numbers, unbounded flow event types (the one-year horizon and
stored rows that do not read: test_stored_rows_and_horizon.py)."""

import time

import pytest
from wa_notify.services import statuses, tenants

from infra.local.stack import LocalStack
from tests.functional.conftest import Api, load_event
from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, TAIPEI, booking, tomorrow_at

MSG = load_event("api/create_message.json")
P = MSG["params"]
LONG_ZONE = "A" * 300  # zoneinfo answers a name over 255 characters with OSError, not ZoneInfoNotFoundError
YEAR_ONE = "0001-01-01T00:00:00+01:00"  # converting it to UTC overflows
PHONE = "+886912345678"
CAMPAIGN = {"template": "order_shipped", "language": "en_US", "segment": {"contacts": [PHONE]},
            "params": P, "button_params": {"0": "X1"}}
HOURS = {"start": "09:00", "end": "18:00"}


def rows(stack):
    table = stack.deps.store.table
    return sorted(map(repr, table.client.scan(TableName=table.name, ConsistentRead=True)["Items"]))


@pytest.fixture(scope="module")
def world():
    """One stack for every case (each writes nothing, which each case checks): a tenant with the
    shop's template, the clinic's flow and templates, and one contact."""
    tenants.clear_key_cache()
    statuses._tenant_by_pnid.clear()
    stack = LocalStack().start(serve=False)
    api = Api(stack, stack.dev_tenant["api_key"])
    api.approved_template()
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    assert api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] == 201
    assert api.call("PUT", f"/v1/contacts/{PHONE}", {"name": "Ana", "tags": ["vip"]})[0] == 200
    yield api, stack
    stack.stop()


def event(**data):
    body = booking(tomorrow_at(10))
    return {**body, "data": {**body["data"], **data}}


CASES = [
    # time-zone names over 255 characters, everywhere a zone is taken, and unknown zones
    ("POST", "/v1/messages", {**MSG, "params": {**P, "eta": {"datetime": "2030-01-01T10:00", "timezone": LONG_ZONE}}}, "params.eta"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "eta": {"datetime": "2030-01-01T10:00", "timezone": "America"}}}, "params.eta"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "params": {**P, "eta": {"datetime": "2030-01-01T10:00", "timezone": LONG_ZONE}}}, "params.eta"),
    ("POST", "/v1/templates/order_shipped/preview", {"language": "en_US", "params": {**P, "eta": {"datetime": "2030-01-01T10:00", "timezone": LONG_ZONE}},
                                                     "button_params": {"0": "X"}}, "params.eta"),
    ("PUT", f"/v1/contacts/{PHONE}", {"timezone": LONG_ZONE}, "timezone"),
    ("PUT", "/v1/settings", {"business_hours": {**HOURS, "timezone": LONG_ZONE}}, "business_hours.timezone"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": LONG_ZONE}}, "quiet_hours.timezone"),
    ("POST", "/v1/events", {**event(), "timezone": "Mars/Base"}, "timezone"),
    ("POST", "/v1/events", event(visit_at={"datetime": tomorrow_at(10).isoformat(), "timezone": LONG_ZONE}), "data.visit_at"),
    ("GET", "/v1/analytics/activity?timezone=America", None, "timezone"),
    # dates out of range
    ("POST", "/v1/messages", {**MSG, "send_at": YEAR_ONE}, "send_at"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "eta": {"datetime": YEAR_ONE, "timezone": "UTC"}}}, "params.eta"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "send_window": {"start": YEAR_ONE}}, "send_window.start"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "send_window": {"end": "9999-12-31T23:59:59-12:00"}}, "send_window.end"),
    ("POST", "/v1/events", event(visit_at=YEAR_ONE), "data.visit_at"),
    ("POST", "/v1/events", event(visit_at={"datetime": "0001-01-01T00:00", "timezone": TAIPEI}), "data.visit_at"),
    ("POST", "/v1/events", event(visit_at="9999-12-31T20:00:00+00:00"), "data.visit_at"),
    # date-times are ISO 8601 text, not numbers
    ("POST", "/v1/messages", {**MSG, "send_at": 123}, "send_at"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "send_window": {"start": int(time.time()) + 3600}}, "send_window.start"),
    # ... nor numbers in text: lax pydantic reads "20261220" as seconds since 1970 (sent at once)
    ("POST", "/v1/messages", {**MSG, "send_at": "20261220"}, "send_at"),
    ("POST", "/v1/messages", {**MSG, "send_at": "123"}, "send_at"),
    ("POST", "/v1/messages", {**MSG, "send_at": "-5"}, "send_at"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "send_window": {"start": "20261220"}}, "send_window.start"),
    # booleans are not numbers nor strings (and numbers are not booleans)
    ("PUT", "/v1/settings", {"throughput_per_second": True}, "throughput_per_second"),
    ("PUT", "/v1/settings", {"value_tiers": [{"tag": "gold", "min_spend": True}]}, "value_tiers[0].min_spend"),
    ("PUT", "/v1/settings", {"business_hours": {**HOURS, "days": [True]}}, "business_hours.days[0]"),
    ("PUT", "/v1/settings", {"sms_fallback": {"unread_minutes": {"otp": True}}}, "sms_fallback.unread_minutes.otp"),
    ("PUT", "/v1/settings", {"rotate_callback_secret": 1}, "rotate_callback_secret"),
    ("PUT", f"/v1/contacts/{PHONE}", {"opted_out": 1}, "opted_out"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "first_name": True}}, "params.first_name"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "params": {**P, "order_id": False}}, "params.order_id"),
    ("POST", "/v1/events", event(first_name=True), "data.first_name"),
    # guards: refused before issue 12 already (by rendering or pydantic), kept beside their class
    ("POST", "/v1/messages", {**MSG, "params": {**P, "total": {"amount": True, "currency": "USD"}}}, "params.total"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "total": {"amount": 1, "currency": "usd"}}}, "params.total"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "total": {"amount": "NaN", "currency": "USD"}}}, "params.total"),
    ("POST", "/v1/messages", {**MSG, "params": {**P, "eta": {"date": "2024-02-30"}}}, "params.eta"),
    ("POST", "/v1/messages", {**MSG, "send_at": True}, "send_at"),
    ("PUT", f"/v1/contacts/{PHONE}", {"timezone": "zone.tab"}, "timezone"),
    # phone numbers: one +, digits and separators only
    ("POST", "/v1/messages", {**MSG, "to": "++886912345678"}, "to"),
    ("POST", "/v1/messages", {**MSG, "to": "+886912345678 ext. 5"}, "to"),
    ("POST", "/v1/messages", {**MSG, "to": "tel:+886912345678"}, "to"),
    ("POST", "/v1/events", {**event(), "to": "++886912345678"}, "to"),
    ("PUT", "/v1/contacts/++886912345678", {"name": "Ana"}, "phone"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "segment": {"contacts": ["++886912345678"]}}, "segment.contacts[0]"),
    ("POST", "/v1/templates/order_shipped/preview", {"language": "en_US", "params": P, "button_params": {"0": "X"}, "to": "++886912345678"}, "to"),
    # reply_actions keys that could never match a reply (compared without case, accents, punctuation, emoji)
    ("PUT", "/v1/settings", {"reply_actions": {"\U0001F44D": "opt_out"}}, "reply_actions.\U0001F44D.[key]"),
    ("PUT", "/v1/settings", {"reply_actions": {"!!!": "opt_out"}}, "reply_actions.!!!.[key]"),
    ("PUT", "/v1/settings", {"reply_actions": {"STOP\u0000": "opt_out"}}, "reply_actions.STOP\u0000.[key]"),
    # tags are printable (a NUL tag segment planned nothing and was stored)
    ("POST", "/v1/campaigns", {**CAMPAIGN, "segment": {"tag": "\u0000"}}, "segment.tag"),
    ("PUT", f"/v1/contacts/{PHONE}", {"tags": ["vip\u0007"]}, "tags[0]"),
    # flows: event types are bounded like an event's type, and never empty
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "trigger": "t" * 200_000}, "trigger"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "trigger": "t" * 101}, "trigger"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "cancel_on": [" "]}, "cancel_on"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "cancel_on": ""}, "cancel_on"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "reschedule_on": ["x" * 101]}, "reschedule_on"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "reschedule_on": False}, "reschedule_on"),
    # event types are printable: a flow waiting for "booked\u0000" waits for an event nobody can see or type
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "trigger": "appointment.booked\u0000"}, "trigger"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "trigger": "appointment\u200b.booked"}, "trigger"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "cancel_on": ["appointment.cancelled\u202e"]}, "cancel_on"),
    ("PUT", "/v1/flows/f", {**CLINIC_FLOW, "reschedule_on": ["moved\n"]}, "reschedule_on"),
    ("POST", "/v1/events", {**event(), "type": "appointment.booked\u0000"}, "type"),
    ("POST", "/v1/events", {**event(), "type": "\u200bappointment.booked"}, "type"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES, ids=[f"{c[0]} {c[1][:24]} {c[3]} {i}" for i, c in enumerate(CASES)])
def test_a_hostile_value_is_a_4xx_naming_its_field_and_writes_nothing(world, method, path, body, field):
    # GIVEN a tenant with the shop's template, the clinic's flow and templates, and one contact
    api, stack = world
    before = rows(stack)
    # WHEN the hostile value is sent
    status, data, headers = api.call(method, path, body)
    # THEN a 4xx problem naming the field, and the table is exactly as it was
    assert 400 <= status < 500, data
    assert headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in data["errors"]], data
    assert rows(stack) == before



@pytest.mark.parametrize("number", [1e-320, 1e200, 10**42], ids=["underflow", "overflow", "42 digits"])
def test_a_number_dynamodb_cannot_hold_is_never_a_5xx(world, number):
    # GIVEN a campaign whose param is a number DynamoDB cannot store as a number (1e-320 underflows
    # its 38-digit decimal, 1e200 and 42 digits overflow it): it used to fail the write with a 500
    api, stack = world
    body = {**CAMPAIGN, "params": {**P, "order_id": number}}
    # WHEN it is created
    status, data, _ = api.call("POST", "/v1/campaigns", body)
    # THEN it is refused as a 4xx naming the param, or taken: never a 5xx
    assert status < 500, data
    if status >= 400:
        assert "params.order_id" in [e["field"] for e in data["errors"]], data


def test_numbers_dynamodb_cannot_hold_are_stored_as_their_json_text():
    # GIVEN values beyond DynamoDB's number type (38 digits, magnitudes 1e-130..1e126)
    from decimal import Decimal

    from wa_notify.adapters.dynamo import dynamo_safe, to_item

    # WHEN they are made safe for a write
    safe = dynamo_safe({"tiny": 1e-320, "huge": 1e200, "long": 10**42, "fine": 0.1, "int": 7})
    # THEN the ones it cannot hold keep their JSON text, the rest are numbers, and each serializes
    assert safe == {"tiny": "1e-320", "huge": "1e+200", "long": str(10**42), "fine": Decimal("0.1"), "int": 7}
    assert to_item(safe)["tiny"] == {"S": "1e-320"} and to_item(safe)["fine"] == {"N": "0.1"}
