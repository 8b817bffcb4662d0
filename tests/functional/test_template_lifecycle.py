"""Meta's template lifecycle (issue 15): status, category and quality webhooks keep templates
current; PAUSED refuses new sends and holds queued and scheduled messages until APPROVED again;
DISABLED cancels them (template_disabled); a campaign pauses (paused_template) and resumes; a
category change updates `billing`; each change reaches the platform as `template.status_changed`.
Meta's webhooks come from the sandbox (POST /_local/sandbox/template_event), signed."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from wa_notify.services import template_lifecycle
from wa_notify.services.deps import iso

from tests.functional.test_callbacks import received, with_callbacks
from tests.functional.test_permissions_in_practice import calls  # noqa: F401 - a fixture: the AWS calls each function makes
from tests.functional.test_template_sync import VISIT, put_at_meta

TO = "+886912345678"
SEND = {"to": TO, "template": {"name": "visit_reminder", "language": "en_US"}, "params": {"1": "Ana", "2": "Monday"}}


@pytest.fixture(autouse=True)
def fresh_status_cache():
    template_lifecycle._status_cache.clear()
    yield
    template_lifecycle._status_cache.clear()


@pytest.fixture
def visit(api, stack):
    """visit_reminder (en_US), APPROVED at Meta, imported."""
    put_at_meta(stack, VISIT)
    assert api.post("/v1/templates/sync")[0] == 200
    return api


def meta_event(stack, event: str, **extra: Any) -> dict[str, Any]:
    status, _, raw = stack.request("POST", "/_local/sandbox/template_event",
                                   body={"name": "visit_reminder", "language": "en_US", "event": event, **extra})
    assert status == 200, raw
    answer = json.loads(raw)
    assert set(answer["webhook_statuses"]) == {200}
    return answer


def stored(stack, message_id: str) -> dict[str, Any]:
    return stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], message_id) or {}


def next_minutes(stack, minutes: int = 2) -> None:
    """The dispatcher's tick a few minutes on (what makes held-then-released messages go)."""
    stack.fire_scheduled(stack.deps.now() + timedelta(minutes=minutes))
    stack.drain()


def test_paused_refuses_new_messages_events_and_campaigns_with_409_naming_the_status(visit, stack):
    # GIVEN a flow and contacts on the template, then Meta pauses it
    flow = {"trigger": "visit.booked", "language": "en_US",
            "steps": [{"template": "visit_reminder", "params": {"1": "first_name", "2": "day"}}]}
    assert visit.call("PUT", "/v1/flows/visit", flow)[0] in (200, 201)
    meta_event(stack, "PAUSED")
    # WHEN a message, an event and a campaign are sent on it
    message = visit.post("/v1/messages", SEND)
    event = visit.post("/v1/events", {"type": "visit.booked", "key": "v-1", "to": TO, "data": {"first_name": "Ana", "day": "Monday"}})
    campaign = visit.post("/v1/campaigns", {"template": "visit_reminder", "language": "en_US", "segment": {"contacts": [TO]},
                                            "params": {"1": "Ana", "2": "Monday"}})
    # THEN each is a 409 problem naming PAUSED, and nothing was queued
    for status, body, headers in (message, event, campaign):
        assert status == 409 and headers["content-type"] == "application/problem+json", body
        assert "PAUSED" in body["detail"]
    assert stack.sandbox.messages == []


def test_a_queued_message_is_held_while_paused_and_sends_once_approved(visit, stack):
    # GIVEN a message queued before Meta paused its template
    status, accepted, _ = visit.post("/v1/messages", SEND)
    assert status == 202
    meta_event(stack, "PAUSED")
    meta_calls_before = stack.deps.cloud_api.calls
    # WHEN the sender takes it
    stack.drain()
    # THEN it is held (scheduled, held_for the template) without asking Meta, not sent and not failed
    held = visit.message(accepted["id"])
    assert (held["status"], held["held_for"]) == ("scheduled", "visit_reminder#en_US")
    assert stack.sandbox.messages == [] and stack.deps.cloud_api.calls == meta_calls_before
    # WHEN Meta approves the template again and the dispatcher's next minute comes
    meta_event(stack, "APPROVED")
    next_minutes(stack)
    # THEN it went, exactly once
    assert visit.message(accepted["id"])["status"] in ("sent", "delivered", "read")
    assert len(stack.sandbox.received(TO)) == 1


def test_a_scheduled_message_is_held_when_due_then_cancelled_when_disabled(visit, stack):
    # GIVEN a message scheduled in five minutes, and its template paused before then
    at = stack.deps.now() + timedelta(minutes=5)
    status, accepted, _ = visit.post("/v1/messages", {**SEND, "send_at": iso(at)})
    assert status == 202
    meta_event(stack, "PAUSED")
    # WHEN its minute comes: held. Then Meta disables the template
    next_minutes(stack, 6)
    assert visit.message(accepted["id"])["held_for"] == "visit_reminder#en_US"
    meta_event(stack, "DISABLED")
    # THEN it is cancelled with reason template_disabled, never sent
    message = visit.message(accepted["id"])
    assert (message["status"], message["cancel_reason"]) == ("cancelled", "template_disabled")
    assert stack.sandbox.messages == []
    assert visit.get("/v1/templates/visit_reminder?language=en_US")[1]["status"] == "DISABLED"


def test_a_queued_message_of_a_disabled_template_is_cancelled_by_the_sender(visit, stack):
    # GIVEN a queued message, then Meta disables its template
    accepted = visit.post("/v1/messages", SEND)[1]
    meta_event(stack, "DISABLED")
    meta_calls_before = stack.deps.cloud_api.calls
    # WHEN the sender takes it
    stack.drain()
    # THEN cancelled (template_disabled) without calling Meta
    assert stored(stack, accepted["id"])["cancel_reason"] == "template_disabled"
    assert stack.sandbox.messages == [] and stack.deps.cloud_api.calls == meta_calls_before


@pytest.mark.parametrize(("meta_status", "outcome", "reason"), [("PAUSED", "scheduled", None), ("DISABLED", "cancelled", "template_disabled")])
def test_meta_refusing_a_send_132015_or_132016_before_its_webhook_holds_or_cancels(visit, stack, meta_status, outcome, reason):
    # GIVEN Meta paused (or disabled) the template, and its webhook has not reached us yet
    stack.sandbox.templates[(stack.dev_tenant["waba_id"], "visit_reminder", "en_US")]["status"] = meta_status
    accepted = visit.post("/v1/messages", SEND)[1]
    # WHEN the sender sends it and Meta refuses with 132015 (132016)
    stack.drain()
    # THEN it is held (or cancelled), never failed
    message = stored(stack, accepted["id"])
    assert message["status"] == outcome and message.get("cancel_reason") == reason
    assert "error" not in message


def test_an_approval_between_the_check_and_the_hold_releases_the_message(visit, stack, monkeypatch):
    # GIVEN the sender read PAUSED, and Meta's approval is applied before it parks the message
    accepted = visit.post("/v1/messages", SEND)[1]
    meta_event(stack, "PAUSED")
    real_hold = stack.deps.store.leases.hold

    def approval_lands_first(*args: Any, **kwargs: Any) -> bool:
        meta_event(stack, "APPROVED")  # its release finds nothing held yet
        return real_hold(*args, **kwargs)

    monkeypatch.setattr(stack.deps.store.leases, "hold", approval_lands_first)
    # WHEN the sender holds it and the next minute comes
    stack.drain()
    monkeypatch.undo()
    next_minutes(stack)
    # THEN the sender's own check after parking released it: it went
    assert visit.message(accepted["id"])["status"] in ("sent", "delivered", "read")


def test_a_campaign_on_a_paused_template_pauses_and_resumes_when_approved(visit, stack):
    # GIVEN a campaign to three contacts, and Meta pausing its template before it is planned
    phones = ["+14155550101", "+14155550102", "+14155550103"]
    status, created, _ = visit.post("/v1/campaigns", {"template": "visit_reminder", "language": "en_US", "segment": {"contacts": phones},
                                                      "params": {"1": "Ana", "2": "Monday"}})
    assert status == 202
    meta_event(stack, "PAUSED")
    # WHEN its planning job runs
    stack.drain()
    # THEN it is paused_template, saying why, and nothing went
    paused = visit.get(f"/v1/campaigns/{created['id']}")[1]
    assert paused["status"] == "paused_template" and "visit_reminder" in paused["reason"]
    assert stack.sandbox.messages == []
    # WHEN Meta approves the template again
    meta_event(stack, "APPROVED")
    stack.drain()
    # THEN it resumes and reaches every contact once
    assert sorted(m["to"] for m in stack.sandbox.received()) == sorted(p[1:] for p in phones)
    assert visit.get(f"/v1/campaigns/{created['id']}")[1]["status"] != "paused_template"


def test_a_category_change_updates_the_template_and_the_billing_of_later_messages(visit, stack):
    # GIVEN a UTILITY template; Meta recategorizes it as MARKETING
    before = visit.post("/v1/messages", SEND)[1]
    meta_event(stack, "APPROVED", new_category="MARKETING")
    # WHEN a message is sent after the change
    after = visit.post("/v1/messages", SEND)[1]
    # THEN the template says MARKETING, and only the later message is billed as marketing
    assert visit.get("/v1/templates/visit_reminder?language=en_US")[1]["category"] == "MARKETING"
    assert visit.message(before["id"])["billing"]["category"] == "utility"
    assert visit.message(after["id"])["billing"]["category"] == "marketing"


def test_each_change_reaches_the_platform_once_as_template_status_changed(visit, stack):
    # GIVEN a platform with a callback URL
    with_callbacks(visit, stack)
    # WHEN Meta pauses the template, delivers the same webhook again, then recategorizes it
    meta_event(stack, "PAUSED")
    meta_event(stack, "PAUSED")
    meta_event(stack, "PAUSED", new_category="MARKETING")
    stack.drain()
    # THEN two callbacks: the pause (once, though delivered twice) and the category change
    changes = [c["data"] for c in received(stack, "template.status_changed")]
    assert changes == [
        {"name": "visit_reminder", "language": "en_US", "status": "PAUSED", "previous_status": "APPROVED", "category": "UTILITY",
         "reason": "NONE"},
        {"name": "visit_reminder", "language": "en_US", "status": "PAUSED", "previous_status": "PAUSED", "category": "MARKETING",
         "reason": "category changed from UTILITY to MARKETING"},
    ]


def test_a_quality_update_is_stored(visit, stack):
    # GIVEN Meta's quality webhook for the template (its signed shape)
    value = {"previous_quality_score": "GREEN", "new_quality_score": "RED", "message_template_id": int(VISIT["id"]),
             "message_template_name": "visit_reminder", "message_template_language": "en_US"}
    # WHEN delivered
    status = stack.sandbox._emit(stack.dev_tenant["waba_id"], "message_template_quality_update", copy.deepcopy(value),
                                 entry_time=True, wait=True)
    # THEN 200 and the template's quality is RED
    assert status == 200
    assert visit.get("/v1/templates/visit_reminder?language=en_US")[1]["quality"] == "RED"


def test_the_sandbox_template_event_refuses_an_unknown_template(stack):
    # WHEN the sandbox is asked to change a template it does not have
    status, headers, raw = stack.request("POST", "/_local/sandbox/template_event",
                                         body={"name": "nope", "language": "en", "event": "PAUSED"})
    bad, _, _ = stack.request("POST", "/_local/sandbox/template_event", body={"name": "nope", "language": "en", "event": "SLEEPING"})
    # THEN 422 naming the field
    assert status == 422 and headers["content-type"] == "application/problem+json" and json.loads(raw)["errors"][0]["field"] == "name"
    assert bad == 422


def test_every_aws_call_of_the_lifecycle_is_one_its_function_policy_allows(visit, stack, calls):  # noqa: F811 - the fixture
    # GIVEN a campaign and a queued message on the imported template, and Meta pausing it
    from tests.functional.test_permissions_in_practice import allowed, granted

    visit.post("/v1/campaigns", {"template": "visit_reminder", "language": "en_US", "segment": {"contacts": ["+14155550111"]},
                                 "params": {"1": "Ana", "2": "Monday"}})
    visit.post("/v1/messages", SEND)
    meta_event(stack, "PAUSED", new_category="MARKETING")
    # WHEN the sender holds them, Meta approves (the webhook resumes the campaign and releases the
    # message), the minute ticks, then Meta pauses and disables it with a message held
    stack.drain()
    meta_event(stack, "APPROVED")
    next_minutes(stack)
    visit.post("/v1/messages", SEND)
    meta_event(stack, "PAUSED")
    stack.drain()
    meta_event(stack, "DISABLED")
    stack.drain()
    # THEN every call was allowed by its function's policy, and the webhook queued the campaign's planning
    grants = granted()
    refused = sorted((fn, action, resource) for fn, action, resource in calls if not allowed(action, resource, grants[fn]))
    assert refused == [], refused
    assert ("WebhookFunction", "sqs:SendMessage", "SendQueueBulk") in calls
    assert ("SenderFunction", "dynamodb:PutItem", "Table") in calls  # a hold listed


@pytest.mark.parametrize(("meta_status", "code"), [("PAUSED", 132015), ("DISABLED", 132016)])
def test_the_sandbox_refuses_a_send_of_a_paused_or_disabled_template_with_metas_code_and_shape(visit, stack, meta_status, code):
    # GIVEN the template paused (disabled) at Meta
    meta_event(stack, meta_status)
    request = {"messaging_product": "whatsapp", "to": "886912345678", "type": "template",
               "template": {"name": "visit_reminder", "language": {"code": "en_US"},
                            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "Mon"}]}]}}
    # WHEN the Cloud API request is sent straight to the sandbox
    status, body = stack.sandbox.handle("POST", f"/v23.0/{stack.dev_tenant['phone_number_id']}/messages",
                                        {"Authorization": f"Bearer {stack.sandbox.access_token}"}, json.dumps(request).encode())
    # THEN HTTP 400 with Meta's error object
    assert status == 400
    assert body["error"]["code"] == code and body["error"]["message"].startswith(f"(#{code}) ")
    assert {"type", "fbtrace_id"} <= set(body["error"])


def test_flagged_still_sends_and_reinstated_releases_what_was_held(visit, stack):
    # GIVEN a message held by a pause
    accepted = visit.post("/v1/messages", SEND)[1]
    meta_event(stack, "PAUSED")
    stack.drain()
    assert visit.message(accepted["id"])["held_for"]

    def webhook(event: str) -> None:
        value = {"event": event, "message_template_id": int(VISIT["id"]), "message_template_name": "visit_reminder",
                 "message_template_language": "en_US", "reason": "NONE", "message_template_category": "UTILITY"}
        assert stack.sandbox._emit(stack.dev_tenant["waba_id"], "message_template_status_update", value, entry_time=True, wait=True) == 200

    # WHEN Meta reinstates the template (sendable at Meta again), then flags it (low quality, not paused)
    stack.sandbox.templates[(stack.dev_tenant["waba_id"], "visit_reminder", "en_US")]["status"] = "APPROVED"
    webhook("REINSTATED")
    next_minutes(stack)
    webhook("FLAGGED")
    flagged = visit.post("/v1/messages", SEND)
    stack.drain()
    # THEN the held message went on reinstatement, and a FLAGGED template still sends
    assert visit.message(accepted["id"])["status"] in ("sent", "delivered", "read")
    assert flagged[0] == 202 and visit.message(flagged[1]["id"])["status"] in ("sent", "delivered", "read")


def test_a_template_edited_at_meta_is_read_again_and_sends_with_its_new_components(visit, stack):
    # GIVEN visit_reminder imported, then edited at Meta (its components replaced whole: a third variable)
    edited = {**VISIT, "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}} at {{3}}.",
                                       "example": {"body_text": [["Ana", "Monday", "10:00"]]}}]}
    put_at_meta(stack, edited)
    # WHEN Meta's message_template_components_update webhook arrives
    waba = stack.dev_tenant["waba_id"]
    assert stack.sandbox._emit(waba, "message_template_components_update", {
        "message_template_id": int(VISIT["id"]), "message_template_name": "visit_reminder", "message_template_language": "en_US",
        "message_template_element": "Hi {{1}}, see you on {{2}} at {{3}}."}, wait=True) == 200
    # THEN the stored template has Meta's new components, and a send takes the new variable
    body = visit.get("/v1/templates/visit_reminder?language=en_US")[1]
    assert [p["name"] for p in body["parameters"]] == ["1", "2", "3"]
    status, created, _ = visit.post("/v1/messages", {**SEND, "params": {"1": "Ana", "2": "Monday", "3": "10:00"}})
    assert status == 202, created
    stack.drain()
    assert visit.message(created["id"])["status"] == "read"


def test_a_status_webhook_for_a_template_made_at_meta_after_the_sync_imports_it(visit, stack):
    # GIVEN a template made in WhatsApp Manager after the last sync
    made = {**VISIT, "name": "visit_moved", "id": "1200000000000099",
            "components": [{"type": "BODY", "text": "Your visit moved to {{1}}.", "example": {"body_text": [["Monday"]]}}]}
    put_at_meta(stack, made)
    assert visit.get("/v1/templates/visit_moved?language=en_US")[0] == 404
    # WHEN Meta's status webhook says it is approved
    assert stack.sandbox._emit(stack.dev_tenant["waba_id"], "message_template_status_update", {
        "event": "APPROVED", "message_template_id": int(made["id"]), "message_template_name": "visit_moved",
        "message_template_language": "en_US", "reason": None}, wait=True) == 200
    # THEN it is imported as Meta holds it, and sends
    assert visit.get("/v1/templates/visit_moved?language=en_US")[1]["status"] == "APPROVED"
    assert visit.post("/v1/messages", {"to": TO, "template": {"name": "visit_moved", "language": "en_US"}, "params": {"1": "Monday"}})[0] == 202
