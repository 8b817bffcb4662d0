"""The services take the request models (issue 13), but what they hash of a request is stored:
an Idempotency-Key's record keeps the message request's hash, an event's record is keyed by the
event's. The hashes below were computed by the code before the change (the api dumped the model
into a dict and the services hashed that dict), so a record written before still matches the
same JSON request replayed after."""

from wa_notify.models import EventRequest, MessageRequest
from wa_notify.services.flows import event_hash_of
from wa_notify.services.messages import legacy_request_hash, request_hash

TEMPLATE_MESSAGE = {
    "to": "+886 912 345 678", "template": {"name": "order_shipped"},
    "params": {"order_id": "A-1", "total": {"amount": 1580, "currency": "TWD"}}, "button_params": {"0": "X1"},
    "send_at": "2026-11-24T09:00:00+08:00", "metadata": {"order": "A-1", "note": None},
}


def test_a_template_message_hashes_as_it_did_when_the_api_passed_a_dict():
    # GIVEN a template message with a send_at, no language (None, left out) and a null in its metadata
    body = MessageRequest.model_validate(TEMPLATE_MESSAGE)
    # WHEN its idempotency hashes are taken from the model
    # THEN the legacy one is the hash stored for the same request before the services took models
    # (a replay accepts it), and the one stored now hashes `to` as E.164, so spacing does not matter
    assert legacy_request_hash(body) == "d58afc599783b162d22e9c01038c77ce0d177941b3ae132ca78a2e99fece0b40"
    assert request_hash(body) == request_hash(MessageRequest.model_validate({**TEMPLATE_MESSAGE, "to": "+886912345678"}))
    assert request_hash(body) != legacy_request_hash(body)


def test_a_text_message_without_send_at_still_hashes_its_null_send_at():
    # GIVEN a free-form text message (send_at not given: the api always put the key in, as null)
    body = MessageRequest.model_validate({"to": "+14155550100", "text": "hi"})
    # WHEN / THEN its hash is the one stored before
    assert request_hash(body) == "166dc04ccac1b271c3d81c4c987901944e8c8ceda6f719a6b5108f781be5fd77"


def test_an_event_hashes_as_it_did_when_the_api_passed_a_dict():
    # GIVEN an event with a typed value in its data and no timezone
    body = EventRequest.model_validate({"type": "appointment.booked", "key": "booking-1", "to": "+886912345678",
                                        "data": {"when": {"datetime": "2026-11-24T09:00:00", "timezone": "Asia/Taipei"}, "name": "Ana"}})
    # WHEN / THEN the event record's key is the one a replay of it found before
    assert event_hash_of(body) == "0997fda2a6395ff67d7d600bed8e4aac59b7b3b65ed3648ff7b657ca16222472"
