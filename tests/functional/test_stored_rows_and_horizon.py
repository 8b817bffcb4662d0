"""Issue 12, section 2: one horizon (a year) for send_at and flow steps; strings, numbers and
plain formats still work after the strict types; a stored row that does not read never breaks a
listing, a campaign or an event."""

from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.adapters.storage import keys

from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES, TAIPEI, booking, tomorrow_at
from tests.functional.test_hostile_values import CAMPAIGN, HOURS, MSG, PHONE


@pytest.fixture
def clinic(api):
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    assert api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] == 201
    return api


def test_strings_numbers_and_plain_formats_still_work(clinic, stack):
    # GIVEN the shop's template
    clinic.approved_template()
    # WHEN params are a string, an int, a float and typed values, and the number is written with separators
    params = {"order_id": "A-1", "first_name": 1580, "total": {"amount": "12.5", "currency": "USD"},
              "eta": {"datetime": "2030-03-14T10:00", "timezone": TAIPEI}}
    status, data, _ = clinic.post("/v1/messages", {**MSG, "to": "+886 (912) 345-678", "params": params})
    assert status == 202, data
    status, data, _ = clinic.post("/v1/templates/order_shipped/preview",
                                  {"language": "en_US", "params": {**params, "first_name": 2.5}, "button_params": {"0": "X"}})
    # THEN each renders in the template's language
    assert status == 200 and "Hi 2.5, your order of $12.50" in data["body"], data
    # AND settings take integers where integers are due, contacts a real zone
    assert clinic.call("PUT", "/v1/settings", {"throughput_per_second": 20, "value_tiers": [{"tag": "gold", "min_spend": 5000}],
                                               "business_hours": {**HOURS, "timezone": TAIPEI, "days": [1, 2]}})[0] == 200
    assert clinic.call("PUT", f"/v1/contacts/{PHONE}", {"timezone": "America/Argentina/ComodRivadavia", "opted_out": False})[0] == 200
    # AND send_at as ISO text with an offset still schedules
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    status, data, _ = clinic.post("/v1/messages", {**MSG, "send_at": later})
    assert status == 202 and data["status"] == "scheduled", data


def test_a_step_more_than_a_year_ahead_is_skipped_with_its_reason(clinic, stack):
    # GIVEN the clinic's flow and a visit 400 days ahead (the confirmation goes now, the reminders would be past the horizon)
    visit = tomorrow_at(10, days=400)
    # WHEN the booking arrives
    status, body, _ = clinic.post("/v1/events", booking(visit))
    # THEN the confirmation is planned and each timed step is skipped with the one-year rule as the reason
    assert status == 202, body
    assert [m["template"] for m in body["messages"]] == ["booking_confirmed"]
    reasons = {s["template"]: s["reason"] for s in body["skipped"]}
    assert set(reasons) == {"visit_reminder", "visit_notice", "visit_survey"}
    assert all("more than a year ahead" in r for r in reasons.values()), reasons
    # AND a message's send_at obeys the same rule
    late = (datetime.now(UTC) + timedelta(days=366)).isoformat()
    clinic.approved_template()
    status, data, _ = clinic.post("/v1/messages", {**MSG, "send_at": late})
    assert status == 422 and "more than a year ahead" in data["errors"][0]["message"]


def put_raw(stack, item):
    from wa_notify.adapters.dynamo import to_item

    table = stack.deps.store.table
    table.client.put_item(TableName=table.name, Item=to_item(item))


def test_one_malformed_contact_row_never_breaks_the_listing(api, stack, caplog):
    # GIVEN two contacts and, beside them, a contact row without a phone (written straight into the table)
    tenant = stack.dev_tenant["tenant_id"]
    for phone in ("+886912345678", "+886912345679"):
        assert api.call("PUT", f"/v1/contacts/{phone}", {"name": "Ana", "tags": ["vip"]})[0] == 200
    put_raw(stack, {**keys.contact(tenant, "+886912345670")._asdict(), "name": "no phone", "tags": ["vip"]})
    # WHEN the contacts are listed, with and without a tag
    status, body, _ = api.get("/v1/contacts")
    tagged = api.get("/v1/contacts?tag=vip")[1]
    # THEN the two good ones are there and the bad row is skipped with a warning (its phone masked)
    assert status == 200, body
    assert [c["phone"] for c in body["items"]] == ["+886912345678", "+886912345679"] == [c["phone"] for c in tagged["items"]]
    warnings = [r for r in caplog.records if r.getMessage() == "stored row skipped: it does not read"]
    assert warnings and "886912345670" not in repr([vars(r) for r in warnings])
    # AND a campaign to the tag plans the two and leaves the bad row out
    api.approved_template()
    status, created, _ = api.post("/v1/campaigns", {**CAMPAIGN, "segment": {"tag": "vip"}})
    assert status == 202, created
    stack.drain()
    assert sorted(m["request"]["to"] for m in stack.sandbox.messages) == ["+886912345678", "+886912345679"]


def test_malformed_template_and_flow_rows_never_break_their_listings_or_events(clinic, stack):
    # GIVEN the clinic's templates and flow, plus a template row without components and a stored
    # flow whose trigger no longer validates (saved before event types were bounded)
    tenant = stack.dev_tenant["tenant_id"]
    put_raw(stack, {**keys.template(tenant, "broken", "en")._asdict(), "name": "broken", "language": "en", "status": "APPROVED"})
    put_raw(stack, {**keys.flow(tenant, "legacy")._asdict(), "name": "legacy", "trigger": "t" * 300,
                    "steps": [{"template": "booking_confirmed", "language": "en", "at": "now"}]})
    # WHEN templates and flows are listed and a booking arrives
    templates = clinic.get("/v1/templates")
    flows = clinic.get("/v1/flows")
    status, body, _ = clinic.post("/v1/events", booking(tomorrow_at(10)))
    # THEN the listings answer with the good rows, and the event runs the good flow
    assert templates[0] == 200 and "broken" not in [t["name"] for t in templates[1]["items"]], templates
    assert len(templates[1]["items"]) == len(CLINIC_TEMPLATES)
    assert flows[0] == 200 and "clinic_visit" in [f["name"] for f in flows[1]["items"]], flows
    assert status == 202 and body["messages"][0]["template"] == "booking_confirmed", body
