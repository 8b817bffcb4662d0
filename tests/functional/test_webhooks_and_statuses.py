import json

from wa_notify.domain import signatures

from tests.functional.conftest import load_event


def table_items(stack):
    """Every item in the table (a refused webhook must leave it as it was)."""
    client, name = stack.deps.store.table.client, stack.deps.store.table.name
    items, start = [], {}
    while True:
        page = client.scan(TableName=name, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def post_webhook(stack, payload, *, secret=None, raw=None, base64_body=False, header=None):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=True).encode()
    sig = header if header is not None else signatures.sign(secret or stack.app_secret, body)
    headers = {"x-hub-signature-256": sig} if sig else {}
    if base64_body:
        headers["content-type"] = "application/octet-stream"
    return stack.request("POST", "/webhooks/whatsapp", body=body, headers=headers)


def status_event(stack, message_id, wamid, statuses):
    event = load_event("webhook/status_batch.json")
    change = event["entry"][0]["changes"][0]["value"]
    change["metadata"]["phone_number_id"] = stack.dev_tenant["phone_number_id"]
    event["entry"][0]["id"] = stack.dev_tenant["waba_id"]
    change["statuses"] = [{**s, "id": wamid, "biz_opaque_callback_data": message_id} for s in statuses]
    return event


def sent_message(api, stack, message_body):
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    message_id = api.post("/v1/messages", message_body)[1]["id"]
    stack.drain()
    return message_id, api.message(message_id)["provider_message_id"]


def test_handshake(stack):
    token = stack.verify_token
    ok = stack.request("GET", f"/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}")
    assert ok[0] == 200 and ok[2] == b"1158201444"
    assert stack.request("GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong")[0] == 401


def test_unsigned_or_wrongly_signed_webhooks_get_401_and_nothing_is_stored(stack):
    before = table_items(stack)
    payload = load_event("webhook/status_batch.json")
    body = json.dumps(payload).encode()
    for kwargs in ({"header": ""}, {"secret": "not-the-secret"}, {"header": "sha1=" + signatures.sign(stack.app_secret, body)[7:]},
                   {"raw": json.dumps(payload, indent=2).encode(), "header": signatures.sign(stack.app_secret, body)}):
        status, headers, _ = post_webhook(stack, payload, **kwargs)
        assert status == 401 and headers["content-type"] == "application/problem+json"
    assert table_items(stack) == before


def test_signed_webhooks_are_accepted_even_base64_and_non_ascii(stack):
    payload = load_event("webhook/status_batch.json")
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": "Zoë Ñúñez 王"}}]
    body = json.dumps(payload, ensure_ascii=True).encode()
    assert b"\\u00eb" in body  # Meta signs the ASCII-escaped form
    assert post_webhook(stack, None, raw=body)[0] == 200
    assert post_webhook(stack, None, raw=body, base64_body=True)[0] == 200


def test_out_of_order_and_duplicate_statuses_end_at_read(api, stack, message_body):
    # GIVEN a message WhatsApp accepted, whose statuses we send ourselves
    message_id, wamid = sent_message(api, stack, message_body)
    # WHEN read, sent, delivered, sent arrive in one batch, and the batch is delivered twice
    event = status_event(stack, message_id, wamid, load_event("webhook/status_batch.json")["entry"][0]["changes"][0]["value"]["statuses"])
    assert post_webhook(stack, event)[0] == 200
    assert post_webhook(stack, event)[0] == 200
    stack.drain()
    # THEN the status is read, never moved back, with every step's time and the pricing kept
    message = api.message(message_id)
    assert message["status"] == "read"
    assert [h["status"] for h in message["history"]] == ["queued", "accepted", "sent", "delivered", "read"]
    assert message["pricing"]["type"] == "regular"


def test_late_sent_after_failed_is_ignored_and_failed_carries_code_and_title(api, stack, message_body):
    message_id, wamid = sent_message(api, stack, message_body)
    failed = load_event("webhook/status_failed.json")
    failed["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = stack.dev_tenant["phone_number_id"]
    failed["entry"][0]["changes"][0]["value"]["statuses"][0].update(id=wamid, biz_opaque_callback_data=message_id)
    post_webhook(stack, failed)
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "sent", "timestamp": "1750030073"}]))
    stack.drain()
    message = api.message(message_id)
    assert message["status"] == "failed"
    assert message["error"]["code"] == 131049 and "healthy ecosystem" in message["error"]["title"]


def test_a_failed_status_whose_error_data_is_a_string_still_fails_the_message_with_its_details(api, stack, message_body):
    # GIVEN a sent message, and Meta's failed status with `error_data` as a plain string (reference §1.6)
    message_id, wamid = sent_message(api, stack, message_body)
    odd = {"status": "failed", "timestamp": "1750030073", "pricing": "not an object",
           "errors": [{"code": "131026", "title": "Message undeliverable", "error_data": "Receiver is incapable of receiving this message"}]}
    # WHEN it arrives
    status, _, _ = post_webhook(stack, status_event(stack, message_id, wamid, [odd]))
    stack.drain()
    # THEN the message failed with the code, the title and the string as its details; the odd pricing read as absent
    message = api.message(message_id)
    assert status == 200 and message["status"] == "failed"
    assert message["error"]["code"] == 131026 and message["error"]["details"] == "Receiver is incapable of receiving this message"


def test_a_failed_status_whose_errors_nobody_can_read_still_fails_the_message(api, stack, message_body):
    # GIVEN a sent message, and a failed status whose `errors` is no list of errors
    message_id, wamid = sent_message(api, stack, message_body)
    # WHEN it arrives
    post_webhook(stack, status_event(stack, message_id, wamid, [{"status": "failed", "timestamp": "1750030073", "errors": "boom"}]))
    stack.drain()
    # THEN the message is failed (no code to show), never left accepted
    message = api.message(message_id)
    assert message["status"] == "failed" and message["error"]["code"] is None


def test_status_without_callback_data_is_found_by_wamid(api, stack, message_body):
    message_id, wamid = sent_message(api, stack, message_body)
    event = status_event(stack, message_id, wamid, [{"status": "delivered", "timestamp": "1750030074"}])
    del event["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"]
    post_webhook(stack, event)
    stack.drain()
    assert api.message(message_id)["status"] == "delivered"


def test_another_tenants_number_cannot_touch_a_message(api, stack, message_body):
    message_id, wamid = sent_message(api, stack, message_body)
    other = stack.create_tenant("other")
    event = status_event(stack, message_id, wamid, [{"status": "read", "timestamp": "1750030075"}])
    event["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = other["phone_number_id"]
    post_webhook(stack, event)
    stack.drain()
    assert api.message(message_id)["status"] == "accepted"


def test_a_large_batch_is_applied_whole_before_the_200(api, stack, message_body):
    # GIVEN 250 statuses in one webhook, the last a delivered
    message_id, wamid = sent_message(api, stack, message_body)
    event = status_event(stack, message_id, wamid, [{"status": "sent", "timestamp": "1"}] * 249 + [{"status": "delivered", "timestamp": "2"}])
    # WHEN it arrives
    assert post_webhook(stack, event)[0] == 200
    # THEN the message is delivered before anything else runs (no queue in between)
    assert api.message(message_id)["status"] == "delivered"


def test_any_order_with_duplicates_ends_at_the_highest_status(api, stack, message_body):
    import random

    # GIVEN 6 accepted messages and their statuses shuffled and duplicated, in random batches
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    sent = []
    for i in range(6):
        message_id = api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}"})[1]["id"]
        sent.append(message_id)
    stack.drain()
    rng = random.Random(20261123)
    finals = {}
    statuses = []
    for message_id in sent:
        wamid = api.message(message_id)["provider_message_id"]
        chosen = rng.choice([["sent"], ["sent", "delivered"], ["sent", "delivered", "read"], ["sent", "read"], ["sent", "failed"]])
        finals[message_id] = max(chosen, key=["sent", "failed", "delivered", "read"].index)
        for status in chosen * rng.randint(1, 3):
            statuses.append({"id": wamid, "status": status, "timestamp": "1750030073", "biz_opaque_callback_data": message_id,
                             **({"errors": [{"code": 131026, "title": "Message undeliverable"}]} if status == "failed" else {})})
    rng.shuffle(statuses)
    # WHEN they arrive in batches of 1 to 7
    while statuses:
        size = rng.randint(1, 7)
        batch, statuses = statuses[:size], statuses[size:]
        event = status_event(stack, "", "", [])
        event["entry"][0]["changes"][0]["value"]["statuses"] = batch
        assert post_webhook(stack, event)[0] == 200
    stack.drain()
    # THEN each message ends at its highest-ranked status, whatever the order
    assert {m: api.message(m)["status"] for m in sent} == finals


def test_a_malformed_status_is_skipped_and_the_rest_applied(api, stack, message_body):
    message_id, wamid = sent_message(api, stack, message_body)
    event = status_event(stack, message_id, wamid, [{"status": "delivered", "timestamp": "1"}])
    event["entry"][0]["changes"][0]["value"]["statuses"].insert(0, {"status": "read"})  # no id
    post_webhook(stack, event)
    stack.drain()
    assert api.message(message_id)["status"] == "delivered"


def test_api_keys_are_stored_only_as_hashes(stack):
    items = stack.deps.store.table.client.scan(TableName=stack.deps.store.table.name)["Items"]
    assert stack.dev_tenant["api_key"] not in json.dumps(items)
    from wa_notify.domain.ids import hash_api_key
    assert hash_api_key(stack.dev_tenant["api_key"]) in json.dumps(items)


# ---- issue 12: strangers' bytes at the webhook ----------------------------------------------------------

def test_a_non_ascii_verify_token_or_signature_is_refused_not_a_500(stack):
    before = table_items(stack)
    # GIVEN a verify token and signatures with characters compare_digest refuses in a str
    for token in ("%C3%A9", "%E7%8E%8B" * 10, stack.verify_token + "%C3%A9"):
        # WHEN the handshake is tried with it
        status, headers, _ = stack.request("GET", f"/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token={token}")
        # THEN it is the same 401 as any wrong token (it was an unauthenticated 500)
        assert (status, headers["content-type"]) == (401, "application/problem+json")
    body = json.dumps(load_event("webhook/status_batch.json")).encode()
    for header in ("sha256=é", "sha256=" + "王" * 64, "sha256=" + signatures.sign(stack.app_secret, body)[7:-1] + "é"):
        status, headers, _ = post_webhook(stack, None, raw=body, header=header)
        assert (status, headers["content-type"]) == (401, "application/problem+json")
    assert table_items(stack) == before


MALFORMED_SIGNED = {
    "entry is a number": b'{"entry": 5}',
    "entry is an object": b'{"entry": {"changes": []}}',
    "wrong types inside": json.dumps({"entry": [5, "x", {"changes": 5}, {"changes": [5, {"field": 1, "value": {}},
                                     {"field": "messages", "value": []}, {"field": "messages", "value": {"metadata": 5}}]}]}).encode(),
    "a list": b"[1, 2]",
    "not JSON": b"entry=5",
    "not UTF-8": b'{"entry": "\xff"}',
    "deeply nested": b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "a lone surrogate": b'{"entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messages": [{"from": "\\ud800"}]}}]}]}',
    "a huge integer": b'{"entry": [{"id": ' + b"9" * 5000 + b"}]}",
    "NaN": b'{"entry": NaN}',
}


def test_signed_but_malformed_webhooks_are_acknowledged_and_dropped_with_a_log_line(stack, caplog):
    before = table_items(stack)
    for name, body in MALFORMED_SIGNED.items():
        # WHEN Meta's signature is right but the body is not what Meta documents
        status, _, _ = post_webhook(stack, None, raw=body)
        # THEN it is acknowledged (a refusal would only bring the same bytes back, forever)
        assert status == 200, name
        # AND nothing is stored, and a warning says what was dropped
        assert table_items(stack) == before, name
        assert any("dropped" in r.getMessage() for r in caplog.records), name
        caplog.clear()


def test_the_good_changes_of_a_partly_malformed_webhook_are_applied(api, stack, message_body):
    # GIVEN a sent message, and a signed webhook whose first entries are malformed and whose last is its delivery
    message_id, wamid = sent_message(api, stack, message_body)
    good = status_event(stack, message_id, wamid, [{"status": "delivered", "timestamp": "1"}])
    value = good["entry"][0]["changes"][0]["value"]
    value["statuses"].insert(0, "not a status")
    good["entry"][0]["changes"].insert(0, {"field": "messages", "value": {"metadata": value["metadata"], "statuses": {"id": 1}}})
    good["entry"][:0] = [5, {"id": "1", "changes": 5}, {"id": "2", "changes": [{"field": "messages", "value": "x"}]}]
    # WHEN it arrives
    assert post_webhook(stack, good)[0] == 200
    # THEN the delivery is applied
    assert api.message(message_id)["status"] == "delivered"


def test_applying_a_change_skips_malformed_parts_instead_of_failing_the_webhook(api, stack, message_body, caplog):
    # GIVEN a sent message, and changes whose parts are not what Meta documents, past what the
    # webhook's first look drops (a wrong type deep inside)
    message_id, wamid = sent_message(api, stack, message_body)
    pnid, waba = stack.dev_tenant["phone_number_id"], stack.dev_tenant["waba_id"]
    delivered = {"id": wamid, "status": "delivered", "timestamp": "1", "biz_opaque_callback_data": message_id}
    records = [
        json.dumps({"field": "messages", "value": {"metadata": "x", "statuses": [delivered]}}),
        json.dumps({"field": "messages", "value": {"metadata": {"phone_number_id": pnid}, "statuses": 5, "messages": "x"}}),
        json.dumps({"field": "messages", "value": {"metadata": {"phone_number_id": pnid}, "messages": [
            {"from": "886912345678", "id": "wamid.in1", "type": "text", "text": "not an object"},
            {"from": "886912345678", "id": "wamid.in2", "type": "interactive", "interactive": ["x"]}]}}),
        json.dumps({"waba_id": waba, "field": "message_template_status_update",
                    "value": {"event": "APPROVED", "message_template_name": "order_shipped", "message_template_language": "en_US", "reason": 1.5}}),
        json.dumps({"field": "messages", "value": {"metadata": {"phone_number_id": pnid}, "statuses": ["x", delivered]}}),
    ]
    # WHEN each is applied as the webhook function applies a change
    from wa_notify.jobs import WebhookChange
    from wa_notify.services import statuses

    for body in records:
        statuses.apply_change(stack.deps, WebhookChange.model_validate_json(body))
    # THEN none raised (a raise would answer Meta 5xx and bring the same bytes back, forever), the
    # good status is applied, and each drop is logged
    assert api.message(message_id)["status"] == "delivered"
    assert sum("malformed" in r.getMessage() for r in caplog.records) >= 4
