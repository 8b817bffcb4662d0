"""Auto-replies: keyword rules and out-of-hours, inside the window, at most once per conversation per rule."""

from wa_notify.services import callbacks

CUSTOMER = "+5511987654321"


def configure(api, **settings):
    assert api.call("PUT", "/v1/settings", settings)[0] == 200
    callbacks._settings_cache.clear()


def write(stack, text):
    assert stack.request("POST", "/_local/sandbox/inbound", body={"from": CUSTOMER, "text": text})[0] == 202
    stack.drain()


def replies(stack):
    return [m["text"] for m in stack.sandbox.received(CUSTOMER)]


SHIPPING = {"id": "shipping", "keywords": ["frete", "shipping cost"], "reply": "Shipping is free over R$200."}


def test_a_keyword_gets_its_saved_reply_once_per_conversation(api, stack):
    configure(api, auto_replies=[SHIPPING])
    write(stack, "Qual o valor do frete?")
    write(stack, "E o frete para o Rio?")
    assert replies(stack) == ["Shipping is free over R$200."]
    messages = [m for m in stack.sandbox.received(CUSTOMER)]
    assert messages[0]["statuses"][-1]["status"] == "read"


def test_words_inside_other_words_do_not_match(api, stack):
    configure(api, auto_replies=[SHIPPING])
    write(stack, "fretefree is a brand")
    assert replies(stack) == []


def test_out_of_hours_reply_once_and_not_during_business_hours(api, stack):
    configure(api, business_hours={"timezone": "America/Sao_Paulo", "start": "09:00", "end": "18:00", "days": []},
              out_of_hours_reply="We are closed now; we answer from 9:00.")
    write(stack, "hello?")
    write(stack, "anyone?")
    assert replies(stack) == ["We are closed now; we answer from 9:00."]
    configure(api, business_hours={"timezone": "UTC", "start": "00:00", "end": "23:59", "days": [1, 2, 3, 4, 5, 6, 7]})
    stack.deps.store.contacts.claim_auto_reply(stack.dev_tenant["tenant_id"], CUSTOMER, "out_of_hours", "another conversation")
    write(stack, "still there?")
    assert len(replies(stack)) == 1  # open all day now: no out-of-hours reply


def test_a_new_conversation_may_get_the_reply_again(stack):
    tenant = stack.dev_tenant["tenant_id"]
    stack.deps.store.contacts.put(tenant, CUSTOMER, {}, "2026-01-01T00:00:00Z")
    assert stack.deps.store.contacts.claim_auto_reply(tenant, CUSTOMER, "kw_shipping", "conversation-1")
    assert not stack.deps.store.contacts.claim_auto_reply(tenant, CUSTOMER, "kw_shipping", "conversation-1")
    assert stack.deps.store.contacts.claim_auto_reply(tenant, CUSTOMER, "kw_shipping", "conversation-2")


def test_stop_gets_no_auto_reply(api, stack):
    configure(api, auto_replies=[{"id": "any", "keywords": ["stop"], "reply": "x"}], out_of_hours_reply="closed",
              business_hours={"start": "00:00", "end": "00:01", "days": []})
    write(stack, "STOP")
    assert replies(stack) == []


def test_auto_reply_settings_are_validated(api):
    assert api.call("PUT", "/v1/settings", {"auto_replies": [{"id": "Bad Id", "keywords": [], "reply": ""}]})[0] == 422
    assert api.call("PUT", "/v1/settings", {"business_hours": {"start": "9", "end": "18:00"}})[0] == 422
