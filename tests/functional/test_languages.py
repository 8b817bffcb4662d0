"""Language everywhere (issue 16): messages, flows and campaigns that omit the language follow the
contact's locale through one chain (domain/languages.py), and the message says which and why."""

from tests.functional.test_flows_and_events import template


def translations(api, name="welcome", languages=("en_US", "pt_BR")):
    for language in languages:
        api.approved_template({**template(name, f"[{language}] Hi {{{{first_name}}}}, welcome.", ["first_name"]), "language": language})


def test_a_pt_PT_contact_gets_pt_BR_from_a_flow_without_language(api, stack):
    # GIVEN a template in en_US and pt_BR, a flow whose step names no language, and a pt_PT contact
    translations(api)
    status, body, _ = api.call("PUT", "/v1/flows/signup", {"trigger": "user.signed_up", "steps": [
        {"template": "welcome", "at": "now"}]})
    assert status == 201, body
    api.call("PUT", "/v1/contacts/+351912345678", {"locale": "pt_PT"})
    # WHEN the event comes
    status, body, _ = api.post("/v1/events", {"type": "user.signed_up", "key": "u1", "to": "+351912345678", "data": {"first_name": "Rui"}})
    # THEN the message went in pt_BR, and says why
    assert status == 202, body
    message = api.message(body["messages"][0]["id"])
    assert message["template"] == {"name": "welcome", "language": "pt_BR", "language_reason": "contact locale pt_PT, nearest translation"}
    stack.drain()
    assert "[pt_BR]" in stack.sandbox.received()[-1]["text"]


def test_the_flow_then_the_tenant_default_language_ends_the_chain(api):
    # GIVEN a template in en_US and pt_BR, a zh_TW contact and a flow without language or default
    translations(api)
    api.call("PUT", "/v1/contacts/+886912345678", {"locale": "zh_TW"})
    api.call("PUT", "/v1/flows/signup", {"trigger": "user.signed_up", "steps": [{"template": "welcome", "at": "now"}]})
    event = {"type": "user.signed_up", "to": "+886912345678", "data": {"first_name": "Ana"}}
    # WHEN the tenant's default_language is pt
    assert api.call("PUT", "/v1/settings", {"default_language": "pt"})[1]["default_language"] == "pt"
    body = api.post("/v1/events", {**event, "key": "k1"})[1]
    # THEN its nearest translation goes, saying why
    assert api.message(body["messages"][0]["id"])["template"]["language_reason"] == (
        "no translation for contact locale zh_TW; tenant default_language pt")
    assert api.message(body["messages"][0]["id"])["template"]["language"] == "pt_BR"
    # WHEN the flow has its own default_language, it wins over the tenant's
    api.call("PUT", "/v1/flows/signup", {"trigger": "user.signed_up", "default_language": "en", "steps": [{"template": "welcome", "at": "now"}]})
    body = api.post("/v1/events", {**event, "key": "k2"})[1]
    assert api.message(body["messages"][0]["id"])["template"]["language"] == "en_US"
    # WHEN a default names a language the template lacks: 422 naming the step's field, nothing planned
    api.call("PUT", "/v1/flows/signup", {"trigger": "user.signed_up", "default_language": "it", "steps": [{"template": "welcome", "at": "now"}]})
    status, body, _ = api.post("/v1/events", {**event, "key": "k3"})
    assert status == 422
    assert body["errors"][0]["field"] == "flow.signup.steps[0].template.language"


def test_messages_use_the_same_chain_and_a_missing_translation_is_422(api, message_body):
    # GIVEN a template in en_US and pt_BR, a pt_PT contact and a tenant default of it
    translations(api)
    api.call("PUT", "/v1/contacts/+351912345678", {"locale": "pt_PT"})
    body = {"to": "+351912345678", "template": {"name": "welcome"}, "params": {"first_name": "Rui"}}
    # WHEN a message names no language
    message = api.message(api.post("/v1/messages", body)[1]["id"])
    # THEN the contact's nearest translation goes, with why; a named language says so
    assert (message["template"]["language"], message["template"]["language_reason"]) == ("pt_BR", "contact locale pt_PT, nearest translation")
    named = api.message(api.post("/v1/messages", {**body, "template": {"name": "welcome", "language": "en_US"}})[1]["id"])
    assert named["template"]["language_reason"] == "given in the request"
    # WHEN a contact's locale matches nothing and the tenant's default is a language the template lacks
    api.call("PUT", "/v1/settings", {"default_language": "it"})
    status, problem, _ = api.post("/v1/messages", {**body, "to": "+886912345678"})
    # THEN 422 naming template.language
    assert status == 422 and problem["errors"][0]["field"] == "template.language", problem
