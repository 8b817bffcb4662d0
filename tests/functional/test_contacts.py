"""Contacts: profile, platform tags, computed activity and value tiers; the timezone feeds quiet hours."""


from datetime import UTC, datetime, timedelta

from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES


def test_put_and_get_a_contact_by_any_phone_format(api):
    # GIVEN a contact written with an encoded + and read back with digits only
    status, body, _ = api.call("PUT", "/v1/contacts/%2B886912345678", {"name": "Ana", "locale": "zh_TW", "timezone": "Asia/Taipei",
                                                                        "tags": ["vip-list"], "attributes": {"annual_spend": 150000}})
    assert status == 200 and body["phone"] == "+886912345678"
    status, body, _ = api.get("/v1/contacts/886912345678")
    # THEN profile, platform tags and computed tags are there
    assert status == 200 and body["name"] == "Ana" and body["tags"] == ["vip-list"]
    assert "tier_vip" in body["computed_tags"] and body["window_open"] is False
    # AND a partial update keeps the other fields
    body = api.call("PUT", "/v1/contacts/+886912345678", {"name": "Ana Lin"})[1]
    assert body["name"] == "Ana Lin" and body["timezone"] == "Asia/Taipei" and body["attributes"] == {"annual_spend": 150000}


def test_a_field_given_as_null_is_cleared_and_one_left_out_is_kept(api):
    # GIVEN a contact with a name, a locale and tags
    api.call("PUT", "/v1/contacts/+886912345678", {"name": "Ana", "locale": "zh_TW", "tags": ["vip"]})
    # WHEN an update names the name as null and says nothing of the rest
    status, body, _ = api.call("PUT", "/v1/contacts/+886912345678", {"name": None, "timezone": "Asia/Taipei"})
    # THEN the name is cleared, the fields not named keep their values, and the null is still a key of the answer
    assert status == 200 and body["name"] is None and "name" in body
    assert body["locale"] == "zh_TW" and body["tags"] == ["vip"] and body["timezone"] == "Asia/Taipei"
    assert api.get("/v1/contacts/+886912345678")[1] == body


def test_contact_validation_and_isolation(api, stack):
    assert api.call("PUT", "/v1/contacts/12", {"name": "x"})[0] == 422
    assert api.call("PUT", "/v1/contacts/+886912345678", {"timezone": "Mars/Base"})[0] == 422
    assert api.call("PUT", "/v1/contacts/+886912345678", {"window_expires_at": "2099-01-01"})[0] == 422  # not settable
    assert api.get("/v1/contacts/+886900000000")[0] == 404
    api.call("PUT", "/v1/contacts/+886912345678", {"name": "Ana"})
    other = stack.create_tenant("other")
    assert api.get("/v1/contacts/+886912345678", key=other["api_key"])[0] == 404


def test_activity_tags_follow_the_last_message(api, stack):
    stack.request("POST", "/_local/sandbox/inbound", body={"from": "+886912345678", "text": "hi"})
    stack.drain()
    assert "active_7d" in api.get("/v1/contacts/+886912345678")[1]["computed_tags"]
    stack.deps.clock = lambda: datetime.now(UTC) + timedelta(days=45)
    assert "inactive_30d" in api.get("/v1/contacts/+886912345678")[1]["computed_tags"]
    stack.deps.clock = lambda: datetime.now(UTC) + timedelta(days=200)
    assert "cold" in api.get("/v1/contacts/+886912345678")[1]["computed_tags"]


def test_list_by_platform_or_computed_tag_with_configurable_tiers(api):
    assert api.call("PUT", "/v1/settings", {"value_tiers": [{"tag": "gold", "min_spend": 5000}, {"tag": "basic", "min_spend": 0}]})[0] == 200
    api.call("PUT", "/v1/contacts/+886912345678", {"tags": ["clinic-a"], "attributes": {"annual_spend": 9000}})
    api.call("PUT", "/v1/contacts/+14155550123", {"tags": ["clinic-b"], "attributes": {"annual_spend": 10}})
    assert [c["phone"] for c in api.get("/v1/contacts?tag=gold")[1]["items"]] == ["+886912345678"]
    assert [c["phone"] for c in api.get("/v1/contacts?tag=clinic-b")[1]["items"]] == ["+14155550123"]
    assert len(api.get("/v1/contacts")[1]["items"]) == 2


def test_the_contacts_timezone_sets_the_quiet_hours(api, stack):
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)
    # GIVEN a contact in New York and a visit at 07:30 New York time, given as an absolute time
    api.call("PUT", "/v1/contacts/+14155550123", {"timezone": "America/New_York"})
    from zoneinfo import ZoneInfo
    visit = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=3)).replace(hour=7, minute=30, second=0, microsecond=0)
    event = {"type": "appointment.booked", "key": "ny-1", "to": "+14155550123",
             "data": {"first_name": "Bo", "room": "1", "visit_at": visit.astimezone(UTC).isoformat()}}
    body = api.post("/v1/events", event)[1]
    reminder = next(m for m in body["messages"] if m["template"] == "visit_reminder")
    # THEN the -24 h reminder (07:30 New York, quiet) moved to 08:00 New York time
    local = datetime.fromisoformat(reminder["send_at"].replace("Z", "+00:00")).astimezone(ZoneInfo("America/New_York"))
    assert local.strftime("%H:%M") == "08:00"


def test_settings_change_only_what_the_request_names_down_into_nested_objects(api, stack):
    # GIVEN settings with value tiers and business hours whose weekdays were left to their default
    api.call("PUT", "/v1/settings", {"value_tiers": [{"tag": "gold", "min_spend": 1000.0}],
                                     "business_hours": {"start": "09:00", "end": "17:00"}})
    # WHEN an update names only the out-of-hours reply, then another clears the tiers with null
    api.call("PUT", "/v1/settings", {"out_of_hours_reply": "We open at 9"})
    kept = api.get("/v1/settings")[1]
    status, cleared, _ = api.call("PUT", "/v1/settings", {"value_tiers": None})
    # THEN the first keeps the tiers, the second clears them (the key stays, null)
    assert kept["value_tiers"] == [{"tag": "gold", "min_spend": 1000}] and kept["out_of_hours_reply"] == "We open at 9"
    assert status == 200 and cleared["value_tiers"] is None and cleared["out_of_hours_reply"] == "We open at 9"
    # AND a default the caller did not write (business_hours.days) was not stored
    assert cleared["business_hours"] == {"start": "09:00", "end": "17:00"}


def test_settings_generate_a_callback_secret_once(api):
    first = api.call("PUT", "/v1/settings", {"callback_url": "https://platform.example.com/hooks/wa"})[1]
    assert first["callback_secret"].startswith("whsec_")
    again = api.call("PUT", "/v1/settings", {"value_tiers": []})[1]
    assert again["callback_secret"] == first["callback_secret"] and again["callback_url"] == "https://platform.example.com/hooks/wa"
    rotated = api.call("PUT", "/v1/settings", {"rotate_callback_secret": True})[1]
    assert rotated["callback_secret"] != first["callback_secret"]
    assert api.call("PUT", "/v1/settings", {"callback_url": "not a url"})[0] == 422


def test_the_contacts_locale_picks_the_translation(api, stack, message_body):
    from tests.functional.conftest import load_event

    english = load_event("api/create_template.json")
    api.approved_template(english)
    chinese = {**load_event("api/create_template.json"), "language": "zh_TW"}
    chinese["components"][1]["text"] = "{{first_name}}您好，您的訂單 {{total}} 已出貨，預計 {{eta}} 送達。".replace("{{first_name}}您好", "您好 {{first_name}}")
    chinese["components"][2]["text"] = "幸運灌木"
    api.approved_template(chinese)
    api.call("PUT", "/v1/contacts/+886912345678", {"locale": "zh_TW"})
    body = {**message_body, "template": {"name": "order_shipped"}}
    message_id = api.post("/v1/messages", body)[1]["id"]
    assert api.message(message_id)["template"]["language"] == "zh_TW"
    stack.drain()
    assert "NT$1,580.00" not in stack.sandbox.received()[0]["text"] and "$1,580.00" in stack.sandbox.received()[0]["text"]
    # a customer without a locale gets the first translation; a missing template is still a 422
    assert api.message(api.post("/v1/messages", {**body, "to": "+14155550123"})[1]["id"])["template"]["language"] == "en_US"
    assert api.post("/v1/messages", {**body, "template": {"name": "nope"}})[0] == 422
