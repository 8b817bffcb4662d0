"""POST /v1/templates/sync: the templates a platform already has at Meta, imported as Meta holds
them (issue 15). The sandbox answers GET /{waba}/message_templates like Meta (cursor paging);
PUT /_local/sandbox/templates puts templates on the dev tenant's WABA that wa-notify never saw."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from wa_notify.services import template_sync

from infra.local import sandbox_templates

VISIT = {"name": "visit_reminder", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
         "id": "1200000000000001", "quality_score": {"score": "GREEN", "date": 1764576000},
         "components": [{"type": "BODY", "text": "Hi {{1}}, see you on {{2}}.", "example": {"body_text": [["Ana", "Monday"]]}}]}
SALE = {"name": "spring_sale", "language": "pt_BR", "status": "PAUSED", "category": "MARKETING", "parameter_format": "NAMED",
        "id": "1200000000000002", "quality_score": {"score": "RED", "date": 1764576000},
        "components": [{"type": "BODY", "text": "Oi {{first_name}}, a promoção começou.",
                        "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]}
WELCOME = {"name": "welcome", "language": "en", "status": "APPROVED", "category": "MARKETING",
           "components": [{"type": "BODY", "text": "Welcome to Lucky Shrub!"}]}
TO_SYNC = "+886912345678"
# A carousel: Meta sends it, our renderer cannot (yet).
CAROUSEL = {"name": "spring_catalog", "language": "en", "status": "APPROVED", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Our spring picks"},
                           {"type": "CAROUSEL", "cards": [{"components": [{"type": "HEADER", "format": "IMAGE"}]}]}]}


@pytest.fixture
def graph_calls(stack, monkeypatch) -> list[str]:
    """The query string of every GET message_templates the sandbox answered."""
    calls: list[str] = []
    real = sandbox_templates.list_templates

    def spy(sandbox: Any, waba_id: str, query: str) -> Any:
        calls.append(query)
        return real(sandbox, waba_id, query)

    monkeypatch.setattr(sandbox_templates, "list_templates", spy)
    return calls


def put_at_meta(stack, *templates: dict[str, Any]) -> None:
    status, _, body = stack.request("PUT", "/_local/sandbox/templates", body={"templates": [copy.deepcopy(t) for t in templates]})
    assert status == 200, body


def test_sync_reads_every_page_and_stores_each_template_as_meta_holds_it(api, stack, graph_calls, monkeypatch):
    # GIVEN three templates on the WABA at Meta, and pages of two
    put_at_meta(stack, VISIT, SALE, WELCOME)
    monkeypatch.setattr(template_sync, "PAGE_LIMIT", 2)
    # WHEN the platform syncs
    status, body, _ = api.post("/v1/templates/sync")
    # THEN both pages were read (the second with Meta's `after` cursor) and all three imported
    assert status == 200, body
    assert (body["imported"], body["updated"], body["unchanged"]) == (3, 0, 0)
    assert len(graph_calls) == 2 and "after=" not in graph_calls[0] and "after=" in graph_calls[1]
    assert "limit=2" in graph_calls[0] and "fields=" in graph_calls[0]
    assert {i["name"] for i in body["items"]} == {"visit_reminder", "spring_sale", "welcome"}
    # AND each is stored as Meta holds it: status, category, quality, format, components, Meta's id
    sale = api.get("/v1/templates/spring_sale?language=pt_BR")[1]
    assert (sale["status"], sale["category"], sale["quality"], sale["parameter_format"], sale["id"]) == (
        "PAUSED", "MARKETING", "RED", "NAMED", "1200000000000002")
    assert sale["components"] == SALE["components"] and sale["parameters"][0]["name"] == "first_name"
    assert api.get("/v1/templates/welcome?language=en")[1]["parameter_format"] == "POSITIONAL"  # Meta's default


def test_an_imported_approved_template_sends_at_once(api, stack):
    # GIVEN an approved template the platform made at Meta, imported
    put_at_meta(stack, VISIT)
    assert api.post("/v1/templates/sync")[0] == 200
    # WHEN it is sent without registering it again
    status, body, _ = api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "visit_reminder", "language": "en_US"},
                                                "params": {"1": "Ana", "2": "Monday"}})
    stack.drain()
    # THEN it goes, and Meta (the sandbox) accepts the request
    assert status == 202, body
    assert api.message(body["id"])["status"] in ("sent", "delivered", "read")
    assert stack.sandbox.received("+886912345678")[-1]["text"] == "Hi Ana, see you on Monday."


def test_running_it_again_imports_nothing_and_counts_unchanged(api, stack, monkeypatch):
    # GIVEN an import done
    put_at_meta(stack, VISIT, SALE, WELCOME)
    monkeypatch.setattr(template_sync, "PAGE_LIMIT", 2)
    assert api.post("/v1/templates/sync")[1]["imported"] == 3
    # WHEN it runs again, and then again after Meta changed one template
    again = api.post("/v1/templates/sync")[1]
    put_at_meta(stack, {**SALE, "status": "APPROVED", "quality_score": {"score": "YELLOW", "date": 1764579600}})
    changed = api.post("/v1/templates/sync")[1]
    # THEN nothing new the second time; the third updates only what Meta changed
    assert (again["imported"], again["updated"], again["unchanged"], again["items"]) == (0, 0, 3, [])
    assert (changed["imported"], changed["updated"], changed["unchanged"]) == (0, 1, 2)
    assert [(i["name"], i["status"], i["quality"]) for i in changed["items"]] == [("spring_sale", "APPROVED", "YELLOW")]


def test_a_template_registered_here_is_updated_from_meta_not_duplicated(api, stack):
    # GIVEN a template registered through wa-notify, still PENDING here while Meta approved it
    stack.sandbox.configure({"template_decision": "PENDING"})
    registration = {k: VISIT[k] for k in ("name", "language", "category", "parameter_format", "components")}
    assert api.post("/v1/templates", registration)[0] == 201
    stack.drain()
    stack.sandbox.templates[(stack.dev_tenant["waba_id"], "visit_reminder", "en_US")]["status"] = "APPROVED"
    # WHEN synced
    body = api.post("/v1/templates/sync")[1]
    # THEN the one row took Meta's status
    assert (body["imported"], body["updated"]) == (0, 1)
    assert api.get("/v1/templates/visit_reminder?language=en_US")[1]["status"] == "APPROVED"
    assert len(api.get("/v1/templates")[1]["items"]) == 1


@pytest.mark.parametrize(("code", "http"), [(80008, 400), (4, 400), (131000, 500)])
def test_meta_failing_half_way_answers_502_with_its_code_and_what_was_imported_stays(api, stack, monkeypatch, code, http):
    # GIVEN three templates at Meta, pages of two, and Meta failing the second page
    put_at_meta(stack, VISIT, SALE, WELCOME)
    monkeypatch.setattr(template_sync, "PAGE_LIMIT", 2)
    real = sandbox_templates.list_templates

    def second_page_fails(sandbox: Any, waba_id: str, query: str) -> Any:
        if "after=" in query:
            return http, sandbox._error(code, "Application request limit reached", None)
        return real(sandbox, waba_id, query)

    monkeypatch.setattr(sandbox_templates, "list_templates", second_page_fails)
    # WHEN synced
    status, body, headers = api.post("/v1/templates/sync")
    # THEN 502 problem+json with Meta's code and how far it got
    assert status == 502 and headers["content-type"] == "application/problem+json"
    assert body["meta_error"]["code"] == code and str(code) in body["detail"]
    progress = body["progress"]
    assert {k: v for k, v in progress.items() if k != "next"} == {"waba_id": stack.dev_tenant["waba_id"], "pages": 1, "templates": 2,
                                                                  "imported": 2, "updated": 0, "unchanged": 0}
    # AND the first page's templates stay; a later run imports the rest, from the start or from `next`
    assert len(api.get("/v1/templates")[1]["items"]) == 2
    monkeypatch.setattr(sandbox_templates, "list_templates", real)
    resumed = api.post(f"/v1/templates/sync?cursor={progress['next']}")[1]
    again = api.post("/v1/templates/sync")[1]
    assert (resumed["imported"], resumed["unchanged"]) == (1, 0)
    assert (again["imported"], again["unchanged"]) == (0, 3)


def test_a_revoked_token_is_fetched_again_once_then_answers_502_190(api, stack, monkeypatch):
    # GIVEN Meta refusing the tenant's token (the sandbox expects another one for its WABA)
    put_at_meta(stack, VISIT)
    stack.sandbox.register_number(stack.dev_tenant["phone_number_id"], stack.dev_tenant["waba_id"], access_token="EAAG-other")
    graph_calls, real = [], stack.sandbox.handle
    monkeypatch.setattr(stack.sandbox, "handle", lambda method, path, *rest: graph_calls.append(path) or real(method, path, *rest))
    # WHEN synced
    status, body, _ = api.post("/v1/templates/sync")
    # THEN the token was refetched and tried once more, then 502 with Meta's 190; nothing stored
    assert status == 502 and body["meta_error"]["code"] == 190
    assert "token" in body["detail"] and body["progress"]["templates"] == 0
    assert len(graph_calls) == 2
    assert api.get("/v1/templates")[1]["items"] == []


def test_a_format_we_cannot_send_is_stored_and_a_send_is_a_clear_409(api, stack, message_body):
    # GIVEN a carousel template at Meta
    put_at_meta(stack, CAROUSEL)
    # WHEN imported, listed and sent
    body = api.post("/v1/templates/sync")[1]
    listed = api.get("/v1/templates")
    status, problem, headers = api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "spring_catalog", "language": "en"}})
    # THEN it is stored and listed with why it cannot be sent, and the send is a 409 saying so
    assert body["imported"] == 1 and body["items"][0]["unsupported"]
    assert listed[0] == 200 and listed[1]["items"][0]["name"] == "spring_catalog"
    assert status == 409 and headers["content-type"] == "application/problem+json"
    assert "cannot send" in problem["detail"] and "spring_catalog" in problem["detail"]


def test_a_paused_import_refuses_sends_with_409_naming_the_status(api, stack):
    # GIVEN an imported template Meta holds PAUSED
    put_at_meta(stack, SALE)
    api.post("/v1/templates/sync")
    # WHEN sent
    status, problem, _ = api.post("/v1/messages", {"to": "+886912345678", "template": {"name": "spring_sale", "language": "pt_BR"},
                                                   "params": {"first_name": "Ana"}})
    # THEN 409 naming the status
    assert status == 409 and "PAUSED" in problem["detail"]


def test_onboarding_a_tenant_runs_the_import(stack):
    # GIVEN the local stack's onboarding route
    # WHEN a tenant is created
    status, _, raw = stack.request("POST", "/_local/tenants", body={"name": "Clinic"})
    # THEN the answer carries the import's counts (a new WABA has none yet)
    import json

    created = json.loads(raw)
    assert status == 201 and created["templates"] == {"imported": 0, "updated": 0, "unchanged": 0}


def test_the_sandbox_lists_like_meta_with_cursors_and_next_only_while_more_remain(stack):
    # GIVEN three templates at the sandbox
    put_at_meta(stack, VISIT, SALE, WELCOME)
    waba, token = stack.dev_tenant["waba_id"], {"Authorization": f"Bearer {stack.sandbox.access_token}"}
    # WHEN listed two at a time, with only some fields
    s1, page1 = stack.sandbox.handle("GET", f"/v23.0/{waba}/message_templates", token, b"", "limit=2&fields=name,status")
    after = page1["paging"]["cursors"]["after"]
    s2, page2 = stack.sandbox.handle("GET", f"/v23.0/{waba}/message_templates", token, b"", f"limit=2&after={after}")
    unauthorized, _ = stack.sandbox.handle("GET", f"/v23.0/{waba}/message_templates", {}, b"", "")
    # THEN Meta's shape: data, paging.cursors.{before,after}, `next` only on the first page
    assert (s1, s2, unauthorized) == (200, 200, 401)
    assert [set(t) for t in page1["data"]] == [{"id", "name", "status"}] * 2 and "next" in page1["paging"]
    assert set(page1["paging"]["cursors"]) == {"before", "after"}
    assert [t["name"] for t in page2["data"]] == ["welcome"] and "next" not in page2["paging"]


def test_put_sandbox_templates_refuses_a_wrong_body_naming_the_field(stack):
    # WHEN the body is not Meta's list items
    status, headers, _ = stack.request("PUT", "/_local/sandbox/templates", body={"templates": [{"name": "x", "language": "en"}]})
    extra, _, _ = stack.request("PUT", "/_local/sandbox/templates", body={"templates": [VISIT], "more": 1})
    # THEN 422 problem+json, and the sandbox holds nothing
    assert status == 422 and headers["content-type"] == "application/problem+json" and extra == 422
    assert stack.sandbox.templates == {}


def test_every_waba_of_the_tenant_is_read_with_a_token_that_reads_it(api, stack, monkeypatch):
    # GIVEN a second number of the tenant on another business's WABA, with that business's token,
    # and a template on each WABA
    from wa_notify.services.numbers import add_number

    add_number(stack.deps, stack.dev_tenant["tenant_id"], "109000000000001", waba_id="209000000000001",
               display_phone_number="+16285550001")
    stack.sandbox.register_number("109000000000001", "209000000000001", "16285550001", access_token="EAAG-second-business")
    real_token = stack.deps.whatsapp_token

    def token(tenant_id: str, *, phone_number_id: str | None = None, force_fetch: bool = False) -> str:
        if phone_number_id == "109000000000001":
            return "EAAG-second-business"
        return real_token(tenant_id, phone_number_id=phone_number_id, force_fetch=force_fetch)

    monkeypatch.setattr(stack.deps, "whatsapp_token", token)
    put_at_meta(stack, VISIT)
    sandbox_templates.put_templates(stack.sandbox, "209000000000001", [copy.deepcopy(WELCOME)])
    # WHEN synced
    status, body, _ = api.post("/v1/templates/sync")
    # THEN both WABAs' templates are imported, each read with a token that may read it
    assert status == 200, body
    assert body["imported"] == 2 and {i["name"] for i in body["items"]} == {"visit_reminder", "welcome"}


def test_a_run_that_would_outlast_the_function_answers_next_and_the_next_call_carries_on(api, stack, monkeypatch, graph_calls):
    # GIVEN three templates at Meta, pages of two, and no time left after the first page
    put_at_meta(stack, VISIT, SALE, WELCOME)
    monkeypatch.setattr(template_sync, "PAGE_LIMIT", 2)
    monkeypatch.setattr(template_sync, "BUDGET_S", 0.0)
    # WHEN synced, then synced again from `next`
    first = api.post("/v1/templates/sync")[1]
    second = api.post(f"/v1/templates/sync?cursor={first['next']}")[1]
    bad = api.post("/v1/templates/sync?cursor=bm90LWEtY3Vyc29y")
    # THEN the first answer is incomplete with `next`; the second reads only the second page and completes
    assert (first["complete"], first["imported"]) == (False, 2) and first["next"]
    assert (second["complete"], second["next"], second["imported"]) == (True, None, 1)
    assert len(graph_calls) == 2 and "after=" in graph_calls[1]
    # AND a cursor it never gave is a 422 naming it
    assert bad[0] == 422 and bad[1]["errors"][0]["field"] == "cursor"


def test_admin_onboarding_imports_the_templates_the_waba_already_has(stack, monkeypatch):
    # GIVEN a platform whose WABA already holds two templates at Meta (the sandbox), and the operator's CLI
    import io
    import json

    import httpx
    from wa_notify import admin
    from wa_notify.services import deps as deps_module

    stack.sandbox.register_number("106540352242999", "102290129340999", access_token="EAAG-acme-token")
    sandbox_templates.put_templates(stack.sandbox, "102290129340999", [copy.deepcopy(VISIT), copy.deepcopy(WELCOME)])
    real_deps = deps_module.Deps
    monkeypatch.setattr(deps_module, "Deps", lambda settings: real_deps(settings, http_transport=httpx.MockTransport(stack._sandbox_transport)))
    monkeypatch.setattr("sys.stdin", io.StringIO("EAAG-acme-token\n"))
    out = io.StringIO()
    # WHEN the operator creates the tenant
    code = admin.main(["--table", stack.deps.settings.table_name, "--secret-prefix", "wa-notify/dev/tenants/", "tenants", "create",
                       "--name", "Acme", "--phone-number-id", "106540352242999", "--waba-id", "102290129340999", "--access-token-stdin"],
                      out=out)
    created = json.loads(out.getvalue())
    # THEN the output reports the import, and the templates are the tenant's at once
    assert code == 0 and created["templates"] == {"imported": 2, "updated": 0, "unchanged": 0}
    names = {t["name"] for t in stack.deps.store.templates.list(created["tenant_id"], limit=10)[0]}
    assert names == {"visit_reminder", "welcome"}


def test_a_template_meta_approved_sends_though_it_breaks_a_rule_of_creation(api, stack):
    # GIVEN an approved template at Meta without examples and with wording our registration would
    # call promotional (Meta approved it as UTILITY: creation rules are Meta's to judge, once)
    old = {"name": "loyalty_points", "language": "en", "status": "APPROVED", "category": "UTILITY",
           "components": [{"type": "BODY", "text": "Hi {{1}}, you have {{2}} points: a free coffee offer awaits."}]}
    put_at_meta(stack, old)
    # WHEN imported and sent
    body = api.post("/v1/templates/sync")[1]
    status, sent, _ = api.post("/v1/messages", {"to": TO_SYNC, "template": {"name": "loyalty_points", "language": "en"},
                                                "params": {"1": "Ana", "2": "120"}})
    stack.drain()
    # THEN it is stored as sendable and goes
    assert body["items"][0]["unsupported"] is None and [p["name"] for p in body["items"][0]["parameters"]] == ["1", "2"]
    assert status == 202, sent
    assert stack.sandbox.received(TO_SYNC)[-1]["text"] == "Hi Ana, you have 120 points: a free coffee offer awaits."
