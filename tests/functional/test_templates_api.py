import copy
import json

from tests.functional.conftest import load_event


def test_register_then_sandbox_approves_through_a_signed_webhook(api, stack):
    # GIVEN Meta's template-creation JSON
    payload = load_event("api/create_template.json")
    # WHEN registered
    status, body, _ = api.post("/v1/templates", payload)
    # THEN 201 with its parameters; the template was stored PENDING before Meta was called, so the
    # sandbox's decision (signed webhook, delivered while Meta was called) found it and was applied
    assert status == 201
    assert body["category"] == "UTILITY"
    assert [p["name"] for p in body["parameters"]] == ["order_id", "first_name", "total", "eta", "1"]
    decision = stack.sandbox.webhook_log[-1]
    assert decision["payload"]["entry"][0]["changes"][0]["field"] == "message_template_status_update" and decision["status"] == 200
    stack.drain()
    status, body, _ = api.get("/v1/templates/order_shipped?language=en_US")
    assert status == 200 and body["status"] == "APPROVED" and body["id"]


def test_invalid_template_gets_422_with_every_problem_and_nothing_changes(api, stack):
    payload = load_event("api/create_template.json")
    payload["name"] = "Bad Name"
    payload["components"][1]["text"] = "{{first_name}}{{total}} arrives {{eta}}"
    status, body, headers = api.post("/v1/templates", payload)
    assert status == 422
    assert headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in body["errors"]}
    assert {"name", "components[1].text"} <= fields
    assert body["title"] and body["status"] == 422
    assert stack.sandbox.templates == {}  # nothing sent to Meta
    assert api.get("/v1/templates")[1]["items"] == []


def test_control_characters_or_invisible_text_in_a_template_are_a_422_and_nothing_is_stored(api, stack):
    # GIVEN Meta's creation JSON whose body holds a NUL, footer a BEL and a quick reply only a zero-width space
    payload = load_event("api/create_template.json")
    payload["components"][1]["text"] = payload["components"][1]["text"].replace("your order", "your\x00order")
    payload["components"][2]["text"] = "Lucky\x07Shrub"
    payload["components"][3]["buttons"][1]["text"] = "\u200b"
    # WHEN registered
    status, body, headers = api.post("/v1/templates", payload)
    # THEN 422 naming each text, and nothing reaches Meta or the store
    assert status == 422 and headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"components[1].text", "components[2].text", "components[3].buttons[1].text"}, body
    assert stack.sandbox.templates == {}
    assert api.get("/v1/templates")[1]["items"] == []


def test_same_name_and_language_twice_is_a_conflict(api):
    api.approved_template()
    status, body, _ = api.post("/v1/templates", load_event("api/create_template.json"))
    assert status == 409 and body["title"] == "Conflict"


def test_rejected_by_meta_shows_rejected(api, stack):
    stack.sandbox.configure({"template_decision": "REJECTED"})
    api.post("/v1/templates", load_event("api/create_template.json"))
    stack.drain()
    body = api.get("/v1/templates/order_shipped?language=en_US")[1]
    assert body["status"] == "REJECTED" and body["rejection"]["reason"] == "INVALID_FORMAT"


def test_list_paginates_with_an_opaque_cursor_and_delete(api):
    for i in range(3):
        payload = load_event("api/create_template.json")
        payload["name"] = f"order_shipped_{i}"
        payload["components"][2]["text"] = f"Lucky Shrub {i}"
        assert api.post("/v1/templates", payload)[0] == 201
    status, page1, _ = api.get("/v1/templates?limit=2")
    assert status == 200 and len(page1["items"]) == 2 and page1["next"]
    page2 = api.get(f"/v1/templates?limit=2&cursor={page1['next']}")[1]
    assert len(page2["items"]) == 1 and page2["next"] is None
    assert api.delete("/v1/templates/order_shipped_0?language=en_US")[0] == 204
    assert api.get("/v1/templates/order_shipped_0?language=en_US")[0] == 404
    assert api.delete("/v1/templates/order_shipped_0?language=en_US")[0] == 404
    assert api.get("/v1/templates?cursor=garbage")[0] == 422


def test_duplicate_wording_is_rejected(api):
    api.approved_template()
    payload = load_event("api/create_template.json")
    payload["name"] = "order_shipped_copy"
    status, body, _ = api.post("/v1/templates", payload)
    assert status == 422 and "duplicate" in body["errors"][0]["message"]


def test_preview_renders_and_returns_the_exact_request(api):
    api.approved_template()
    message = load_event("api/create_message.json")
    status, body, _ = api.post("/v1/templates/order_shipped/preview", {
        "language": "en_US", "params": message["params"], "button_params": message["button_params"], "to": "+886 912 345 678"})
    assert status == 200
    assert body["header"] == "Order A-1001 shipped"
    assert body["body"] == "Hi Ana, your order of NT$1,580.00 is on its way and should arrive September 7, 2024."
    assert body["footer"] == "Lucky Shrub"
    assert body["buttons"][0]["url"] == "https://track.example.com/1Z999AA1"
    assert body["request"]["to"] == "+886912345678" and body["request"]["type"] == "template"


def test_preview_rejects_bad_whitespace_with_422(api):
    api.approved_template()
    params = {**load_event("api/create_message.json")["params"], "first_name": "Ana\nBob"}
    status, body, _ = api.post("/v1/templates/order_shipped/preview", {"language": "en_US", "params": params, "button_params": {"0": "x"}})
    assert status == 422 and body["errors"][0]["field"] == "params.first_name"


def test_auth_and_tenant_isolation(api, stack):
    api.approved_template()
    assert api.get("/v1/templates", key=None)[0] == 401
    assert api.get("/v1/templates", key="wan_nope")[0] == 401
    other = stack.create_tenant("other")
    status, _, _ = api.get("/v1/templates/order_shipped?language=en_US", key=other["api_key"])
    assert status == 404
    assert api.get("/v1/templates", key=other["api_key"])[1]["items"] == []
    assert api.delete("/v1/templates/order_shipped?language=en_US", key=other["api_key"])[0] == 404


def test_malformed_json_is_400_and_health_needs_no_key(api):
    assert api.post("/v1/templates", "{not json")[0] == 400
    assert api.post("/v1/messages", "{not json")[0] == 400
    assert api.get("/v1/health", key=None)[:2] == (200, {"status": "ok"})
    assert api.get("/v1/nope")[0] == 404


def test_template_webhook_with_hyphenated_language_is_applied(api, stack):
    payload = copy.deepcopy(load_event("api/create_template.json"))
    stack.sandbox.configure({"template_decision": "PENDING"})
    api.post("/v1/templates", payload)
    stack.drain()
    event = load_event("webhook/template_approved.json")
    event["entry"][0]["id"] = stack.dev_tenant["waba_id"]
    import json

    from wa_notify.domain import signatures
    body = json.dumps(event).encode()
    status, _, _ = stack.request("POST", "/webhooks/whatsapp", body=body, headers={"x-hub-signature-256": signatures.sign(stack.app_secret, body)})
    assert status == 200
    stack.drain()
    assert api.get("/v1/templates/order_shipped?language=en_US")[1]["status"] == "APPROVED"


def test_delete_removes_the_template_at_meta_too_so_sync_does_not_bring_it_back(api, stack):
    # GIVEN an approved template in two languages, at Meta (the sandbox) and here
    api.approved_template()
    spanish = load_event("api/create_template.json")
    spanish.update(language="es")
    spanish["components"][2]["text"] = "Lucky Shrub ES"
    assert api.post("/v1/templates", spanish)[0] == 201
    stack.drain()
    waba = stack.dev_tenant["waba_id"]
    # WHEN one translation is deleted
    assert api.delete("/v1/templates/order_shipped?language=es")[0] == 204
    # THEN Meta no longer holds it, the other stays at Meta and here, and a sync does not bring it back
    assert (waba, "order_shipped", "es") not in stack.sandbox.templates and (waba, "order_shipped", "en_US") in stack.sandbox.templates
    assert api.post("/v1/templates/sync", {})[0] == 200
    assert api.get("/v1/templates/order_shipped?language=es")[0] == 404
    assert api.get("/v1/templates/order_shipped?language=en_US")[0] == 200
    # WHEN the name is deleted without a language / THEN every translation goes, at Meta too
    assert api.delete("/v1/templates/order_shipped")[0] == 204
    assert not [k for k in stack.sandbox.templates if k[1] == "order_shipped"]
    assert api.get("/v1/templates/order_shipped?language=en_US")[0] == 404


def test_delete_of_a_template_meta_no_longer_holds_deletes_it_here_and_meta_down_changes_nothing(api, stack):
    # GIVEN an approved template that Meta deleted meanwhile
    api.approved_template()
    del stack.sandbox.templates[(stack.dev_tenant["waba_id"], "order_shipped", "en_US")]
    # WHEN deleted here / THEN it goes (Meta's "not found" is what was asked)
    assert api.delete("/v1/templates/order_shipped?language=en_US")[0] == 204
    # GIVEN another one, and WhatsApp answering 500
    payload = load_event("api/create_template.json")
    payload["name"] = "order_packed"
    assert api.post("/v1/templates", payload)[0] == 201
    stack.drain()
    stack.sandbox.handle = lambda *a, **k: (500, {"error": {"code": 1, "message": "(#1) An unknown error occurred", "type": "OAuthException"}})
    # WHEN it is deleted / THEN 502, and it is still here
    status, problem, headers = api.delete("/v1/templates/order_packed?language=en_US")
    assert status == 502 and headers["content-type"].startswith("application/problem+json"), problem
    assert api.get("/v1/templates/order_packed?language=en_US")[0] == 200


def test_meta_keeps_a_deleted_name_30_days_and_a_disabled_template_cannot_be_deleted(api, stack):
    # GIVEN an approved template deleted (at Meta too)
    api.approved_template()
    assert api.delete("/v1/templates/order_shipped?language=en_US")[0] == 204
    # WHEN it is registered again under its name
    status, problem, _ = api.post("/v1/templates", load_event("api/create_template.json"))
    # THEN Meta refuses the name (blocked 30 days): a 422 saying so, nothing stored
    assert status == 422 and "30 days" in json.dumps(problem), problem
    assert api.get("/v1/templates/order_shipped?language=en_US")[0] == 404
    # GIVEN another template that Meta disabled / WHEN deleted / THEN 409 with Meta's reason; kept here and at Meta
    payload = load_event("api/create_template.json")
    payload["name"] = "order_packed"
    assert api.post("/v1/templates", payload)[0] == 201
    stack.drain()
    stack.sandbox.templates[(stack.dev_tenant["waba_id"], "order_packed", "en_US")]["status"] = "DISABLED"
    status, problem, _ = api.delete("/v1/templates/order_packed?language=en_US")
    assert status == 409 and "Disabled templates cannot be deleted" in problem["detail"], problem
    assert api.get("/v1/templates/order_packed?language=en_US")[0] == 200


def test_the_conflict_for_an_existing_template_does_not_advise_deleting_it(api):
    api.approved_template()
    status, problem, _ = api.post("/v1/templates", load_event("api/create_template.json"))
    assert status == 409 and "delete it" not in problem["detail"] and "30 days" in problem["detail"]
