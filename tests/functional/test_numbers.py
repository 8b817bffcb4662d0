"""Several WhatsApp numbers per tenant: GET /v1/numbers (Meta's quality rating and messaging limit,
cached), `from` on messages, events and campaigns, one pace per number, webhooks routed by number,
the admin CLI, and campaigns paced within the number's messaging limit."""

from datetime import timedelta

import pytest
from aws_lambda_powertools.utilities import parameters
from wa_notify.services import callbacks, campaigns
from wa_notify.services import numbers as number_service
from wa_notify.services.deps import utc_now

from tests.functional.conftest import load_event
from tests.functional.test_campaigns_and_quota import add_contacts, campaign_body
from tests.functional.test_flows_and_events import CLINIC_TEMPLATES, booking, tomorrow_at
from tests.functional.test_tenant_admin_and_credentials import run_admin, secret_of, tenant_with_own_token


def add_number(stack, **body):
    status, data, _ = stack_post(stack, "/_local/numbers", body)
    assert status == 201, data
    return data


def stack_post(stack, path, body):
    import json

    status, headers, raw = stack.request("POST", path, body=body)
    return status, json.loads(raw), headers


def sent_from(stack):
    return [(m["phone_number_id"], m["request"]["to"]) for m in stack.sandbox.messages]


def test_numbers_lists_the_default_first_with_metas_quality_and_limit(api, stack):
    # GIVEN a second number whose quality Meta rates YELLOW, with the 1K tier
    second = add_number(stack, quality_rating="YELLOW", messaging_limit_tier="TIER_1K")
    # WHEN the platform lists its numbers
    status, body, _ = api.get("/v1/numbers")
    # THEN the default number comes first, then the second, each with what Meta says
    assert status == 200, body
    default, other = body["items"]
    assert default["phone_number_id"] == stack.dev_tenant["phone_number_id"] and default["default"] is True
    assert default["quality_rating"] == "GREEN" and default["messaging_limit"] == "TIER_UNLIMITED"
    assert other == {"phone_number_id": second["phone_number_id"], "display_phone_number": second["display_phone_number"],
                     "waba_id": stack.dev_tenant["waba_id"], "throughput_per_second": 80.0, "quality_rating": "YELLOW",
                     "messaging_limit": "TIER_1K", "default": False}


def test_metas_answer_is_cached_on_the_number_row(api, stack, monkeypatch):
    # GIVEN two numbers and a count of Meta reads
    add_number(stack)
    calls = []
    real = stack.deps.cloud_api.get_phone_number
    monkeypatch.setattr(stack.deps.cloud_api, "get_phone_number", lambda *a: calls.append(a[0]) or real(*a))
    # WHEN the numbers are listed twice
    api.get("/v1/numbers")
    stack.sandbox.set_number(stack.dev_tenant["phone_number_id"], quality_rating="RED")
    second = api.get("/v1/numbers")[1]
    # THEN Meta was asked once per number; the second listing answered from the rows
    assert len(calls) == 2 and second["items"][0]["quality_rating"] == "GREEN"
    # WHEN the cache's TTL has passed
    later = utc_now() + timedelta(seconds=number_service.META_TTL_SECONDS + 1)
    monkeypatch.setattr(stack.deps, "clock", lambda: later)
    third = api.get("/v1/numbers")[1]
    # THEN Meta is read again and the new rating shows
    assert len(calls) == 4 and third["items"][0]["quality_rating"] == "RED"


def test_a_meta_error_is_a_502_with_metas_code(api, stack):
    # GIVEN a number Meta no longer lets our token read (a revoked grant)
    second = add_number(stack)
    stack.sandbox.numbers[second["phone_number_id"]]["token"] = "someone-elses-token"
    # WHEN the numbers are listed
    status, body, headers = api.get("/v1/numbers")
    # THEN 502 problem+json naming Meta's code
    assert status == 502 and headers["content-type"].startswith("application/problem+json")
    assert "(190)" in body["detail"] and body["errors"][0]["message"].startswith("Meta error code 190")


@pytest.mark.parametrize("form", ["id", "display"])
def test_a_message_goes_from_the_number_named_and_its_statuses_route_back(api, stack, message_body, form):
    # GIVEN a second number
    api.approved_template()
    second = add_number(stack)
    named = second["phone_number_id"] if form == "id" else "+1 (" + second["display_phone_number"][2:5] + ") " + second["display_phone_number"][5:]
    # WHEN a message names it in `from`, and another names nothing
    status, body, _ = api.post("/v1/messages", {**message_body, "from": named})
    assert status == 202, body
    plain = api.post("/v1/messages", {**message_body, "to": "+14155550111"})[1]
    stack.drain()
    # THEN the sandbox got one from each number, and both reached read through their webhooks
    assert sorted(sent_from(stack)) == sorted([(second["phone_number_id"], "+886912345678"),
                                               (stack.dev_tenant["phone_number_id"], "+14155550111")])
    assert api.message(body["id"])["status"] == "read" and api.message(plain["id"])["status"] == "read"


@pytest.mark.parametrize("written", ["+15550000000", "+1 555 000 0000", "1 (555) 000-0000"])
def test_the_default_number_can_be_named_by_its_display_number_even_a_meta_test_number(api, stack, message_body, written):
    # GIVEN the default number, whose display number is Meta's test kind (+1 555 ...), which
    # phonenumbers does not call valid (the stranger's walkthrough got a 422 "not one of your numbers")
    api.approved_template()
    listed = api.get("/v1/numbers")[1]["items"]
    default = next(n for n in listed if n["default"])
    assert default["display_phone_number"].lstrip("+") == "15550000000"
    # WHEN a message names it by its display number, in any spelling
    status, body, _ = api.post("/v1/messages", {**message_body, "from": written})
    stack.drain()
    # THEN it is accepted and goes from the default number
    assert status == 202, body
    assert sent_from(stack) == [(stack.dev_tenant["phone_number_id"], "+886912345678")]


def test_an_unknown_from_is_a_422_naming_it_and_writes_nothing(api, stack, message_body):
    # GIVEN an approved template
    api.approved_template()
    # WHEN a message names a number the tenant does not have
    status, body, _ = api.post("/v1/messages", {**message_body, "from": "123456789"})
    # THEN 422 names `from` and nothing went to WhatsApp
    assert status == 422 and body["errors"][0]["field"] == "from"
    stack.drain()
    assert stack.sandbox.messages == []


def test_inbound_on_the_second_number_reaches_the_tenant(api, stack):
    # GIVEN a second number
    second = add_number(stack)
    # WHEN a customer writes to it
    status, _, _ = stack_post(stack, "/_local/sandbox/inbound", {"from": "+14155550123", "text": "hi",
                                                                  "phone_number_id": second["phone_number_id"]})
    assert status == 202
    stack.drain()
    # THEN the tenant knows the contact and its open window
    status, contact, _ = api.get("/v1/contacts/+14155550123")
    assert status == 200 and contact["window_open"] is True, contact


def test_each_number_has_its_own_pace(api, stack, message_body):
    # GIVEN two numbers paced at 2/s, as WhatsApp would allow them (the sandbox's limit too)
    api.call("PUT", "/v1/settings", {"throughput_per_second": 2})
    stack.sandbox.configure({"throughput_per_second": 2})
    stack.deps.settings = stack.deps.settings.model_copy(update={"max_inline_wait_ms": 0})
    api.approved_template()
    second = add_number(stack)
    for i in range(4):
        api.post("/v1/messages", {**message_body, "to": f"+1415555000{i}"})
        api.post("/v1/messages", {**message_body, "to": f"+1415555100{i}", "from": second["phone_number_id"]})
    # WHEN the sender runs once over its batch
    stack.drain(max_rounds=1)
    # THEN each number sent its own burst of 2, and WhatsApp throttled neither
    by_number = [pnid for pnid, _ in sent_from(stack)]
    assert by_number.count(second["phone_number_id"]) == 2 and by_number.count(stack.dev_tenant["phone_number_id"]) == 2
    errors = [i.get("last_error") for i in stack.deps.store.table.scan("begins_with(sk, :m)", {":m": "MSG"})[0]]
    assert not [e for e in errors if e and e.get("code") == 130429]


def test_events_and_campaigns_take_from(api, stack):
    # GIVEN a second number, a flow sending at once, and two tagged contacts
    api.approved_template()
    api.approved_template(CLINIC_TEMPLATES[0])
    second = add_number(stack)
    flow = {"trigger": "appointment.booked", "language": "en", "steps": [{"template": "booking_confirmed", "at": "now"}]}
    assert api.call("PUT", "/v1/flows/confirm", flow)[0] == 201
    add_contacts(api, ["+14155550001", "+14155550002"])
    event = booking(tomorrow_at(10))
    # WHEN an event and a campaign name the second number
    status, body, _ = api.post("/v1/events", {**event, "from": second["display_phone_number"]})
    assert status == 202, body
    status, body, _ = api.post("/v1/campaigns", campaign_body(**{"from": second["phone_number_id"]}))
    assert status == 202, body
    stack.drain()
    # THEN everything went from the second number
    assert {pnid for pnid, _ in sent_from(stack)} == {second["phone_number_id"]} and len(stack.sandbox.messages) == 3
    # AND an unknown `from` on either is a 422 naming it
    assert api.post("/v1/events", {**event, "key": "b-2", "from": "999"})[1]["errors"][0]["field"] == "from"
    assert api.post("/v1/campaigns", campaign_body(**{"from": "999"}))[1]["errors"][0]["field"] == "from"


def test_a_campaign_stays_within_the_numbers_messaging_limit_and_continues_next_window(api, stack, monkeypatch):
    # GIVEN a number allowed 3 business-initiated conversations per 24 h, and 6 tagged contacts,
    # the first of whom wrote in (an open window starts no conversation)
    monkeypatch.setitem(number_service.TIERS, "TIER_250", 3)
    api.approved_template()
    second = add_number(stack, messaging_limit_tier="TIER_250")
    phones = [f"+1415555{i:04d}" for i in range(6)]
    add_contacts(api, phones)
    stack_post(stack, "/_local/sandbox/inbound", {"from": phones[0], "text": "hi", "phone_number_id": second["phone_number_id"]})
    stack.drain()
    # WHEN a campaign from that number goes to all six
    status, created, _ = api.post("/v1/campaigns", campaign_body(**{"from": second["phone_number_id"]}))
    assert status == 202, created
    stack.drain()
    # THEN it sent the one in-window contact and 3 others, and waits for the next window, saying why
    view = api.get(f"/v1/campaigns/{created['id']}")[1]
    assert len(stack.sandbox.messages) == 4 and view["progress"]["planned"] == 4
    assert view["status"] == "paused_quota" and "messaging limit" in view["reason"]
    # WHEN 24 h have passed and its planning job runs again
    later = utc_now() + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(stack.deps, "clock", lambda: later)
    assert campaigns.plan_page(stack.deps, stack.dev_tenant["tenant_id"], created["id"]) == "done"
    stack.drain()
    # THEN the last two went in the new window
    assert len(stack.sandbox.messages) == 6


def test_the_admin_cli_adds_lists_and_removes_a_number(api, stack, monkeypatch, message_body):
    # GIVEN the dev tenant
    tenant_id = stack.dev_tenant["tenant_id"]
    # WHEN an operator adds a number, lists, then removes it
    code, added = run_admin(stack, monkeypatch, "numbers", "add", tenant_id, "--phone-number-id", "5550001",
                            "--display-phone-number", "+1 628 555 0102")
    assert code == 0 and added["display_phone_number"] == "16285550102"
    assert [n["phone_number_id"] for n in run_admin(stack, monkeypatch, "numbers", "list", tenant_id)[1]] == ["5550001"]
    assert stack.deps.store.tenants.for_phone_number("5550001") == tenant_id
    # THEN the default number cannot be removed, another tenant cannot take it, and removing it keeps webhooks routing
    assert run_admin(stack, monkeypatch, "numbers", "remove", tenant_id, stack.dev_tenant["phone_number_id"])[0] == 1
    other = stack.create_tenant("other")
    assert run_admin(stack, monkeypatch, "numbers", "add", other["tenant_id"], "--phone-number-id", "5550001")[0] == 1
    assert run_admin(stack, monkeypatch, "numbers", "remove", tenant_id, "5550001")[0] == 0
    assert run_admin(stack, monkeypatch, "numbers", "list", tenant_id)[1] == []
    assert stack.deps.store.tenants.for_phone_number("5550001") == tenant_id
    # AND a send can no longer name it
    api.approved_template()
    assert api.post("/v1/messages", {**message_body, "from": "5550001"})[0] == 422


def test_an_auto_reply_goes_from_the_number_the_customer_wrote_to(api, stack):
    # GIVEN a keyword reply and a second number
    assert api.call("PUT", "/v1/settings", {"auto_replies": [{"id": "hours", "keywords": ["open"], "reply": "9 to 6."}]})[0] == 200
    callbacks._settings_cache.clear()
    second = add_number(stack)
    # WHEN a customer writes the keyword to the second number
    stack_post(stack, "/_local/sandbox/inbound", {"from": "+14155550123", "text": "are you open?", "phone_number_id": second["phone_number_id"]})
    stack.drain()
    # THEN the reply goes from that number (Meta keeps the window per business number)
    assert sent_from(stack) == [(second["phone_number_id"], "+14155550123")]


def test_the_sandbox_config_sets_what_meta_reports_of_a_number(api, stack):
    # GIVEN the dev tenant's number, which Meta rates RED with the 250 tier (PUT /_local/sandbox/config)
    pnid = stack.dev_tenant["phone_number_id"]
    status, _, _ = stack.request("PUT", "/_local/sandbox/config",
                                 body={"numbers": {pnid: {"quality_rating": "RED", "messaging_limit_tier": "TIER_250"}}})
    assert status == 200
    # WHEN the platform lists its numbers
    default = api.get("/v1/numbers")[1]["items"][0]
    # THEN it sees what Meta says; a tier Meta does not have is refused by the route
    assert (default["quality_rating"], default["messaging_limit"]) == ("RED", "TIER_250")
    assert stack.request("PUT", "/_local/sandbox/config", body={"numbers": {pnid: {"messaging_limit_tier": "TIER_3"}}})[0] == 422


def test_a_page_counted_on_a_stale_read_of_the_limit_writes_nothing_and_plans_again(api, stack, monkeypatch):
    # GIVEN a number allowed 3 conversations, 3 of which another campaign counted after this one read the row
    monkeypatch.setitem(number_service.TIERS, "TIER_250", 3)
    api.approved_template()
    second = add_number(stack, messaging_limit_tier="TIER_250")
    add_contacts(api, [f"+1415555{i:04d}" for i in range(2)])
    tenant_id = stack.dev_tenant["tenant_id"]
    status, created, _ = api.post("/v1/campaigns", campaign_body(**{"from": second["phone_number_id"]}))
    assert status == 202
    stale = number_service.conversation_room(stack.deps, tenant_id, second["phone_number_id"], False)
    other = stack.deps.store.numbers.count_conversations(tenant_id, second["phone_number_id"], stale[1], 3, 3,
                                                        int(utc_now().timestamp() * 1000), number_service.LIMIT_WINDOW_MS)
    assert stack.deps.store.table.transact_put([], updates=[other]) is None
    monkeypatch.setattr(number_service, "conversation_room", lambda *a: stale)
    # WHEN this campaign's page is planned on its stale read
    outcome = campaigns.plan_page(stack.deps, tenant_id, created["id"])
    # THEN the page's transaction refuses it: nothing planned, the planning job comes back
    assert outcome == "retry"
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]["planned"] == 0
    assert stack.deps.store.numbers.get(tenant_id, second["phone_number_id"])["limit_used"] == 3


def test_a_number_with_its_own_token_sends_with_it(stack, monkeypatch):
    # GIVEN a tenant on the AWS path (its token in Secrets Manager) and a second number, added by an
    # operator with its own token, for which Meta accepts only that token
    parameters.clear_caches()
    created, bank = tenant_with_own_token(stack, monkeypatch, "Bank", "3003", "4004", stored="token-v1", meta_accepts="token-v1")
    code, _ = run_admin(stack, monkeypatch, "numbers", "add", created["tenant_id"], "--phone-number-id", "5005",
                        "--display-phone-number", "+1 628 555 0199", "--access-token-stdin", stdin="token-other\n")
    assert code == 0
    stack.sandbox.register_number("5005", "4004", display="16285550199", access_token="token-other")
    bank.approved_template()
    # WHEN a message goes from the second number
    status, body, _ = bank.post("/v1/messages", {**load_event("api/create_message.json"), "from": "5005"})
    assert status == 202, body
    stack.drain()
    # THEN it was sent with that number's token (Meta took it), and the tenant's own token is kept
    assert bank.message(body["id"])["status"] == "read"
    assert [m["phone_number_id"] for m in stack.sandbox.messages] == ["5005"]
    secret = secret_of(created["tenant_id"])
    assert secret["access_token"] == "token-v1" and secret["numbers"]["5005"]["access_token"] == "token-other"


def test_a_number_for_an_unknown_tenant_is_a_404_and_adds_nothing(stack):
    # GIVEN the local stack's numbers
    before = dict(stack.sandbox.numbers)
    # WHEN a number is asked for a tenant that does not exist
    status, body, _ = stack_post(stack, "/_local/numbers", {"tenant_id": "ten_nobody"})
    # THEN 404 problem, and neither our store nor the sandbox got a number
    assert status == 404 and body["status"] == 404
    assert stack.sandbox.numbers == before


@pytest.mark.parametrize("value", [5, True, "", "1" * 33, ["1"], "\u0000"])
def test_a_malformed_from_is_a_422_naming_it(api, message_body, value):
    # GIVEN a from that is no phone_number_id or display number WHEN a message names it THEN 422 names `from`
    status, body, _ = api.post("/v1/messages", {**message_body, "from": value})
    assert status == 422 and "from" in [e["field"] for e in body["errors"]], body
