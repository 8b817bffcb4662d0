"""The request a message row keeps until WhatsApp accepts it, packed (domain/wire.py)."""

import json

from boto3.dynamodb.types import Binary
from wa_notify.domain.rendering import text_request
from wa_notify.domain.wire import pack_request, stored_request, wire_request

TEMPLATE_REQUEST = {
    "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+14155550001", "type": "template",
    "template": {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"},
                                        {"type": "text", "text": "NT$1,580.00 — 謝謝", "parameter_name": "total"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "1Z999AA1"}]}]},
    "biz_opaque_callback_data": "msg_1",
}


def test_what_is_sent_is_what_was_rendered():
    # GIVEN a rendered template request, packed as a row stores it
    packed = pack_request(TEMPLATE_REQUEST)
    # WHEN the sender rebuilds it from the row's to and id (boto3 hands the bytes back as Binary)
    sent = wire_request(Binary(packed), to="+14155550001", message_id="msg_1")
    # THEN it is the rendered request, key for key
    assert sent == TEMPLATE_REQUEST


def test_the_packed_request_is_smaller_than_half_and_has_no_envelope():
    packed = pack_request(TEMPLATE_REQUEST)
    # THEN the envelope is not stored (the row has to and id), and the rest is deflated
    assert "biz_opaque_callback_data" not in stored_request(packed) and "to" not in stored_request(packed)
    assert len(packed) < len(json.dumps(TEMPLATE_REQUEST, ensure_ascii=False).encode()) / 2


def test_an_older_rows_map_is_still_sent_as_it_was():
    # GIVEN a row written before requests were packed (a map, envelope included)
    old = text_request("+14155550002", "hello", callback_data="msg_2")
    # WHEN the sender rebuilds it
    # THEN it is the same request
    assert wire_request(old, to="+14155550002", message_id="msg_2") == old


def test_a_text_request_round_trips():
    request = text_request("+14155550003", "Your table is ready 🍽", callback_data="msg_3")
    assert wire_request(pack_request(request), to="+14155550003", message_id="msg_3") == request
