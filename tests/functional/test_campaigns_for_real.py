"""Campaigns a marketer would run (issue 16): params from the contact, computed-tag segments,
each contact's translation, exclusions counted by reason, a listing, and a status that ends."""

import time
from datetime import UTC, datetime, timedelta

from wa_notify.services import campaigns

from tests.functional.test_flows_and_events import template

COME_BACK = {"first_name": {"contact": "name", "default": "there"}, "city": {"contact": "attributes.city"}}


def come_back_templates(api, languages=("en_US", "pt_BR")):
    for language in languages:
        api.approved_template({**template("we_miss_you", f"[{language}] Hi {{{{first_name}}}}, {{{{city}}}} misses you: 10% off this week.",
                                          ["first_name", "city"]), "category": "MARKETING", "language": language})


def contact(api, phone, **fields):
    status, body, _ = api.call("PUT", f"/v1/contacts/{phone}", fields)
    assert status == 200, body


def months_later(stack, days=45):
    later = datetime.now(UTC) + timedelta(days=days)
    stack.deps.clock = lambda: later


def test_the_re_activation_campaign_is_one_call(api, stack):
    # GIVEN contacts that have not written for 45 days: a pt_PT one, one without a name, one without
    # a city, an opted-out one, and a zh_TW one while the tenant's default is it (no such translation)
    come_back_templates(api)
    contact(api, "+351912345678", name="Rui", locale="pt_PT", attributes={"city": "Porto"})
    contact(api, "+14155550001", locale="en_US", attributes={"city": "Austin"})
    contact(api, "+14155550002", name="Bo", locale="en_US")
    contact(api, "+14155550003", name="Cy", locale="en_US", attributes={"city": "Reno"}, opted_out=True)
    contact(api, "+886912345678", name="Ana", locale="zh_TW", attributes={"city": "Taipei"})
    api.call("PUT", "/v1/settings", {"default_language": "it"})
    months_later(stack)
    # WHEN one call sends the campaign to the computed tag inactive_30d, language and params from each contact
    status, created, _ = api.post("/v1/campaigns", {"name": "Come back", "template": "we_miss_you", "segment": {"tag": "inactive_30d"},
                                                    "params": COME_BACK})
    assert status == 202, created
    assert created["template"] == {"name": "we_miss_you", "language": None}
    stack.drain()
    # THEN each reachable contact got its translation and its own values
    texts = {"+" + m["to"].lstrip("+"): m["text"] for m in stack.sandbox.received()}
    assert texts == {"+351912345678": "[pt_BR] Hi Rui, Porto misses you: 10% off this week.",
                     "+14155550001": "[en_US] Hi there, Austin misses you: 10% off this week."}
    # AND the others are counted by reason, and the campaign completed
    body = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert body["excluded"] == {"missing:attributes.city": 1, "opted_out": 1, "no_translation": 1}, body
    assert body["status"] == "completed" and body["progress"]["planned"] == 2
    message = api.message(campaigns.campaign_message_id(created["id"], "+351912345678"))
    assert message["template"]["language_reason"] == "contact locale pt_PT, nearest translation"


def test_a_computed_tag_segment_plans_its_contacts(api, stack):
    # GIVEN two contacts created 45 days ago (so computed inactive_30d), one of them with a value tier
    come_back_templates(api, ("en_US",))
    contact(api, "+14155550001", name="Al", attributes={"city": "Austin", "annual_spend": 5000})
    contact(api, "+14155550002", name="Bo", attributes={"city": "Boise"})
    months_later(stack)
    body = {"template": "we_miss_you", "language": "en_US", "params": COME_BACK}
    # WHEN campaigns go to inactive_30d and to a value tier
    inactive = api.post("/v1/campaigns", {**body, "segment": {"tag": "inactive_30d"}})[1]
    tier = api.get("/v1/contacts/+14155550001")[1]["computed_tags"][-1]
    valued = api.post("/v1/campaigns", {**body, "segment": {"tag": tier}})[1]
    stack.drain()
    # THEN they planned what GET /v1/contacts?tag= lists (before the fix inactive_30d planned 0)
    listed = {c["phone"] for c in api.get("/v1/contacts?tag=inactive_30d")[1]["items"]}
    assert api.get(f"/v1/campaigns/{inactive['id']}")[1]["progress"]["planned"] == len(listed) == 2
    assert api.get(f"/v1/campaigns/{valued['id']}")[1]["progress"]["planned"] == 1


def test_status_is_sending_while_pages_remain_and_completed_at_the_end(api, stack, monkeypatch):
    # GIVEN five tagged contacts and pages of two
    monkeypatch.setattr(campaigns, "PAGE_SIZE", 2)
    come_back_templates(api, ("en_US",))
    for i in range(5):
        contact(api, f"+1415555000{i}", name=f"C{i}", tags=["vip"], attributes={"city": "Lima"})
    created = api.post("/v1/campaigns", {"template": "we_miss_you", "segment": {"tag": "vip"}, "params": COME_BACK})[1]
    assert created["status"] == "planning"
    tenant = stack.dev_tenant["tenant_id"]
    # WHEN the first page is planned
    assert campaigns.plan_page(stack.deps, tenant, created["id"]) == "planned"
    # THEN the campaign is sending (its first messages are on their way), not planning
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["status"] == "sending"
    # WHEN everything is sent
    stack.drain()
    # THEN it is completed, with every message counted
    body = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert body["status"] == "completed" and body["progress"]["planned"] == 5 and body["progress"]["sent"] == 5
    # AND a completed campaign cannot be cancelled any more (409), it stays completed
    status, problem, _ = api.delete(f"/v1/campaigns/{created['id']}")
    assert status == 409 and "completed" in problem["detail"]
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["status"] == "completed"


def test_a_contact_value_the_template_refuses_is_excluded_not_a_failed_page(api, stack):
    # GIVEN two tagged contacts, one whose city holds a newline (a body parameter may not)
    come_back_templates(api, ("en_US",))
    contact(api, "+14155550001", name="Al", tags=["vip"], attributes={"city": "Austin"})
    contact(api, "+14155550002", name="Bo", tags=["vip"], attributes={"city": "Bo\nise"})
    # WHEN the campaign runs
    created = api.post("/v1/campaigns", {"template": "we_miss_you", "segment": {"tag": "vip"}, "params": COME_BACK})[1]
    stack.drain()
    # THEN the other contact got it and this one is counted with why
    body = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert body["progress"]["planned"] == 1 and body["status"] == "completed"
    assert body["excluded"] == {"invalid:params.city": 1}, body


def test_campaigns_are_listed_newest_first_with_a_cursor(api, stack):
    # GIVEN three campaigns
    come_back_templates(api, ("en_US",))
    contact(api, "+14155550001", name="Al", tags=["vip"], attributes={"city": "Austin"})
    ids = []
    for i in range(3):
        time.sleep(0.002)  # ids are time-ordered to the millisecond
        ids.append(api.post("/v1/campaigns", {"template": "we_miss_you", "segment": {"tag": "vip"}, "params": COME_BACK, "name": f"c{i}"})[1]["id"])
    stack.drain()
    # WHEN they are listed two at a time
    first = api.get("/v1/campaigns?limit=2")[1]
    second = api.get(f"/v1/campaigns?limit=2&cursor={first['next']}")[1]
    # THEN newest first, all of them once, the sent ones completed
    assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
    assert {c["status"] for c in first["items"] + second["items"]} == {"completed"}
    # AND a forged cursor is a 422, another tenant sees none of them
    assert api.get("/v1/campaigns?cursor=bm9wZQ")[0] == 422
    other = stack.create_tenant("other")
    assert api.get("/v1/campaigns", key=other["api_key"])[1]["items"] == []


def test_bad_contact_params_are_422(api, stack):
    come_back_templates(api, ("en_US",))
    # GIVEN contact params naming no known field, or with an unknown key
    for params, field in [({**COME_BACK, "city": {"contact": "phone"}}, "params.city.contact"),
                          ({**COME_BACK, "city": {"contact": "name", "fallback": "x"}}, "params.city")]:
        # WHEN a campaign is created with them
        status, problem, _ = api.post("/v1/campaigns", {"template": "we_miss_you", "segment": {"tag": "vip"}, "params": params})
        # THEN 422 naming the param
        assert status == 422 and field in {e["field"] for e in problem["errors"]}, problem


def test_a_paused_translation_pauses_a_campaign_without_language_and_approval_resumes_it(api, stack):
    # GIVEN a pt_PT and an en_US contact, and the pt_BR translation paused by Meta
    come_back_templates(api)
    contact(api, "+351912345678", name="Rui", locale="pt_PT", tags=["vip"], attributes={"city": "Porto"})
    contact(api, "+14155550001", name="Al", locale="en_US", tags=["vip"], attributes={"city": "Austin"})

    def meta(event):
        status, _, _ = stack.request("POST", "/_local/sandbox/template_event", body={"name": "we_miss_you", "language": "pt_BR", "event": event})
        assert status == 200
        stack.drain()

    meta("PAUSED")
    # WHEN a campaign without language plans the page that needs it
    created = api.post("/v1/campaigns", {"template": "we_miss_you", "segment": {"tag": "vip"}, "params": COME_BACK})[1]
    stack.drain()
    # THEN the campaign is paused_template and nothing went out
    body = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert body["status"] == "paused_template" and "pt_BR" in body["reason"] and stack.sandbox.received() == []
    # WHEN Meta approves it again THEN the campaign resumes and completes
    meta("APPROVED")
    stack.drain()
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["status"] == "completed"
    assert len(stack.sandbox.received()) == 2
