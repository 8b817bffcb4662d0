"""Flows and events end to end through the real handlers, with the clock driven by the test."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.functional.test_messages_api import queue_depth


def template(name, body, variables, footer=None):
    components = [{"type": "BODY", "text": body, "example": {"body_text_named_params": [{"param_name": v, "example": "x"} for v in variables]}}]
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    return {"name": name, "language": "en", "category": "UTILITY", "parameter_format": "NAMED", "components": components}


CLINIC_TEMPLATES = [
    template("booking_confirmed", "Hi {{first_name}}, your visit on {{visit_at}} is booked.", ["first_name", "visit_at"]),
    template("visit_reminder", "Reminder {{first_name}}: your visit is on {{visit_at}}.", ["first_name", "visit_at"]),
    template("visit_notice", "Hi {{first_name}}, see you in two hours, at {{visit_at}}, room {{room}}.", ["first_name", "visit_at", "room"]),
    template("visit_changed", "Hi {{first_name}}, your visit moved to {{visit_at}}.", ["first_name", "visit_at"]),
    template("visit_survey", "Thanks {{first_name}}! How was your visit? Reply 1 to 5.", ["first_name"]),
]
CLINIC_FLOW = {
    "trigger": "appointment.booked",
    "cancel_on": ["appointment.cancelled"],
    "reschedule_on": ["appointment.moved"],
    "language": "en",
    "quiet_hours": {"start": "21:00", "end": "08:00"},
    "steps": [
        {"template": "booking_confirmed", "at": "now"},
        {"template": "visit_reminder", "at": {"before": "visit_at", "offset": "PT24H"}},
        {"template": "visit_notice", "at": {"before": "visit_at", "offset": "PT2H"}, "urgent": True},
        {"template": "visit_changed", "at": "now", "on": "reschedule"},
        {"template": "visit_survey", "at": {"after": "visit_at", "offset": "PT3H"}},
    ],
}
TAIPEI = "Asia/Taipei"


@pytest.fixture
def clinic(api):
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    status, body, _ = api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)
    assert status == 201, body
    return api


def booking(visit_local: datetime, key="booking-1", event_type="appointment.booked", to="+886912345678"):
    return {"type": event_type, "key": key, "to": to,
            "data": {"first_name": "Ana", "room": "3B", "visit_at": {"datetime": visit_local.isoformat(), "timezone": TAIPEI}}}


def tomorrow_at(hour, days=2):
    from zoneinfo import ZoneInfo
    return (datetime.now(ZoneInfo(TAIPEI)) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def tick(stack, at):
    stack.request("POST", "/_local/clock", body={"at": at.isoformat()})
    stack.drain()


def texts(stack):
    return [m["text"] for m in stack.sandbox.received()]


def test_flow_crud_and_validation(api, clinic):
    status, body, _ = clinic.get("/v1/flows/clinic_visit")
    assert status == 200 and body["trigger"] == "appointment.booked" and len(body["steps"]) == 5
    assert clinic.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)[0] == 200
    assert clinic.get("/v1/flows")[1]["items"][0]["name"] == "clinic_visit"
    bad = {**CLINIC_FLOW, "steps": [{"template": "nope", "at": "now"},
                                    {"template": "visit_reminder", "at": {"before": "visit_at", "offset": "24 hours"}},
                                    {"template": "visit_reminder", "at": "now", "params": {"no_such_var": "x"}}]}
    status, body, _ = clinic.call("PUT", "/v1/flows/clinic_visit", bad)
    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"steps[0].template", "steps[1].at.offset", "steps[2].params.no_such_var"}
    assert clinic.get("/v1/flows/clinic_visit")[1]["steps"][0]["template"] == "booking_confirmed"  # unchanged
    assert clinic.delete("/v1/flows/clinic_visit")[0] == 204
    assert clinic.get("/v1/flows/clinic_visit")[0] == 404


def test_booking_sends_now_and_each_reminder_in_its_minute(clinic, stack):
    # GIVEN a visit at 10:00 Taipei two days from now
    visit = tomorrow_at(10)
    # WHEN the booking event arrives
    status, body, _ = clinic.post("/v1/events", booking(visit))
    # THEN the confirmation goes now and three messages are scheduled at -24 h, -2 h and +3 h
    assert status == 202
    assert [m["template"] for m in body["messages"]] == ["booking_confirmed", "visit_reminder", "visit_notice", "visit_survey"]
    assert [m["status"] for m in body["messages"]] == ["queued", "scheduled", "scheduled", "scheduled"]
    stack.drain()
    assert len(texts(stack)) == 1 and "is booked" in texts(stack)[0]
    reminder_at = datetime.fromisoformat(body["messages"][1]["send_at"].replace("Z", "+00:00"))
    assert reminder_at.astimezone(UTC) == (visit.replace(tzinfo=__import__("zoneinfo").ZoneInfo(TAIPEI)) - timedelta(hours=24)).astimezone(UTC)
    # a minute early: nothing; in its minute: the reminder, once, even if the tick fires twice
    tick(stack, reminder_at - timedelta(minutes=1))
    assert len(texts(stack)) == 1
    tick(stack, reminder_at)
    tick(stack, reminder_at)
    assert len(texts(stack)) == 2 and texts(stack)[1].startswith("Reminder Ana")
    tick(stack, reminder_at + timedelta(hours=22))
    tick(stack, reminder_at + timedelta(hours=27))
    assert len(texts(stack)) == 4 and "room 3B" in texts(stack)[2] and "How was your visit" in texts(stack)[3]


def test_the_same_event_twice_plans_once(clinic, stack):
    event = booking(tomorrow_at(10))
    first = clinic.post("/v1/events", event)[1]
    again = clinic.post("/v1/events", event)
    assert again[0] == 202 and again[1] == first
    stack.drain()
    assert len(texts(stack)) == 1


def test_a_booking_one_hour_ahead_gets_no_24h_or_2h_reminder(clinic, stack):
    from zoneinfo import ZoneInfo
    visit = (datetime.now(ZoneInfo(TAIPEI)) + timedelta(hours=1)).replace(second=0, microsecond=0, tzinfo=None)
    body = clinic.post("/v1/events", booking(visit))[1]
    assert [m["template"] for m in body["messages"]] == ["booking_confirmed", "visit_survey"]
    assert {s["template"]: s["reason"] for s in body["skipped"]} == {"visit_reminder": "its time has passed", "visit_notice": "its time has passed"}


def test_cancel_event_cancels_everything_pending_and_nothing_goes_out(clinic, stack):
    visit = tomorrow_at(10)
    planned = clinic.post("/v1/events", booking(visit))[1]["messages"]
    stack.drain()
    status, body, _ = clinic.post("/v1/events", {"type": "appointment.cancelled", "key": "booking-1", "to": "+886912345678"})
    assert status == 202 and sorted(body["cancelled"]) == sorted(m["id"] for m in planned[1:])
    tick(stack, datetime.now(UTC) + timedelta(days=4))
    assert len(texts(stack)) == 1  # only the confirmation, sent before the cancel
    assert [clinic.message(m["id"])["status"] for m in planned[1:]] == ["cancelled"] * 3


def test_a_cancel_racing_the_send_never_lets_a_cancelled_message_out(clinic, stack):
    # GIVEN the reminder's minute has come and its job is on the queue, not yet sent
    visit = tomorrow_at(10)
    planned = clinic.post("/v1/events", booking(visit))[1]["messages"]
    stack.drain()
    reminder = planned[1]
    stack.request("POST", "/_local/clock", body={"at": reminder["send_at"]})
    # (released without a write: it reads scheduled until a sender leases it)
    assert clinic.message(reminder["id"])["status"] == "scheduled"
    assert queue_depth(stack, "SendQueueNormal") + queue_depth(stack, "SendQueueHigh") + queue_depth(stack, "SendQueueBulk") == 1
    # WHEN the cancel arrives before the sender runs
    body = clinic.post("/v1/events", {"type": "appointment.cancelled", "key": "booking-1", "to": "+886912345678"})[1]
    stack.drain()
    # THEN it is cancelled and the sender's lease fails: it never reaches the phone
    assert reminder["id"] in body["cancelled"]
    assert clinic.message(reminder["id"])["status"] == "cancelled"
    assert len(texts(stack)) == 1


def test_reschedule_cancels_the_old_plan_sends_a_change_notice_and_replans(clinic, stack):
    visit = tomorrow_at(10)
    old = clinic.post("/v1/events", booking(visit))[1]["messages"]
    stack.drain()
    moved = booking(visit + timedelta(days=1, hours=4), event_type="appointment.moved")
    status, body, _ = clinic.post("/v1/events", moved)
    assert status == 202
    assert sorted(body["cancelled"]) == sorted(m["id"] for m in old[1:])
    assert [m["template"] for m in body["messages"]] == ["visit_reminder", "visit_notice", "visit_changed", "visit_survey"]
    stack.drain()
    assert "moved to" in texts(stack)[-1]
    # the old reminder time passes with nothing sent; the new one sends
    tick(stack, datetime.fromisoformat(old[1]["send_at"].replace("Z", "+00:00")))
    assert len(texts(stack)) == 2
    tick(stack, datetime.fromisoformat(body["messages"][0]["send_at"].replace("Z", "+00:00")))
    assert len(texts(stack)) == 3 and texts(stack)[-1].startswith("Reminder")


def test_quiet_hours_move_a_reminder_and_urgent_steps_keep_their_time(clinic, stack):
    # a 07:30 visit: the -24 h reminder (07:30) moves to 08:00; the urgent -2 h notice stays at 05:30
    visit = tomorrow_at(7).replace(minute=30)
    body = clinic.post("/v1/events", booking(visit))[1]
    from zoneinfo import ZoneInfo
    local = {m["template"]: datetime.fromisoformat(m["send_at"].replace("Z", "+00:00")).astimezone(ZoneInfo(TAIPEI)).strftime("%H:%M")
             for m in body["messages"] if m["send_at"]}
    assert local["visit_reminder"] == "08:00" and local["visit_notice"] == "05:30"


def test_event_with_missing_data_is_422_and_nothing_is_planned_or_cancelled(clinic, stack):
    status, body, _ = clinic.post("/v1/events", {"type": "appointment.booked", "key": "b2", "to": "+886912345678", "data": {"first_name": "Ana"}})
    assert status == 422 and {e["field"] for e in body["errors"]} >= {"data.visit_at"}
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    assert not [i for i in items if i["sk"]["S"] == "MSG"]


def test_events_nobody_listens_to_plan_nothing(clinic):
    status, body, _ = clinic.post("/v1/events", {"type": "order.shipped", "key": "o1", "to": "+886912345678"})
    assert status == 202 and body == {"messages": [], "skipped": [], "cancelled": []}


def test_hostile_flow_input_is_422_not_5xx(clinic):
    for body in ({**CLINIC_FLOW, "steps": [{"template": "x" * 3000, "at": "now"}]}, {**CLINIC_FLOW, "steps": [{"template": {"name": 5}}]},
                 {**CLINIC_FLOW, "quiet_hours": "late"}, '["not", "an", "object"]', {**CLINIC_FLOW, "steps": "many"}):
        status, data, _ = clinic.call("PUT", "/v1/flows/f", body)
        assert status == 422, (body, data)
    assert clinic.call("PUT", "/v1/flows/" + "F" * 300, CLINIC_FLOW)[0] == 422
    assert clinic.get("/v1/flows/" + "f" * 3000)[0] == 404
