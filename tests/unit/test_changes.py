"""What a stored change owes (domain/changes.py): callbacks, counters, SMS fallback triggers."""

from decimal import Decimal

from wa_notify.domain import changes

MSG_KEYS = ("message", "t1")
T = {"name": "order_update", "language": "en", "category": "UTILITY"}


def message(status, **extra):
    events = {"queued": "2026-12-01T10:00:00.000Z"}
    events.update(extra.pop("events", {}))
    return {"id": "msg_a", "tenant_id": "t1", "to": "+886912345678", "template": T, "status": status, "events": events,
            "updated_at": "2026-12-01T10:00:09.000Z", **extra}


def test_a_status_webhook_moving_the_message_owes_one_status_callback_with_a_stable_id():
    # GIVEN a message that moves from sent to delivered
    old = message("sent", wamid="wamid.1", events={"accepted": "2026-12-01T10:00:01.000Z", "sent": "2026-12-01T10:00:02.000Z"})
    new = {**old, "status": "delivered", "events": {**old["events"], "delivered": "2026-12-01T10:00:05.000Z"}}
    # WHEN the change is read twice (a stream redelivery)
    first, again = changes.of(*MSG_KEYS, old, new), changes.of(*MSG_KEYS, old, new)
    # THEN one callback with the status, its time and the wamid, the same id both times, and one delivered count
    assert [c.type for c in first.callbacks] == ["message.status"]
    callback = first.callbacks[0]
    assert callback.data == {"message_id": "msg_a", "status": "delivered", "at": "2026-12-01T10:00:05.000Z", "provider_message_id": "wamid.1"}
    assert callback.id == again.callbacks[0].id and callback.id.startswith("evt_")
    assert first.counts == [("2026-12-01T10:00:05.000Z", {"name": "order_update", "language": "en"}, {"delivered": 1})]
    assert first.tenant_id == "t1"


def test_a_change_that_does_not_move_the_status_owes_nothing():
    # GIVEN a late delivered (only its timestamp is noted) and a no-op MODIFY (moto writes those)
    old = message("read", wamid="w", events={"read": "2026-12-01T10:00:06.000Z"})
    late = {**old, "events": {**old["events"], "delivered": "2026-12-01T10:00:05.000Z"}}
    # THEN neither owes a callback or a count
    assert not changes.of(*MSG_KEYS, old, late)
    assert not changes.of(*MSG_KEYS, old, dict(old))


def test_lease_moves_and_new_messages_owe_nothing():
    # GIVEN a message created queued, leased, and released
    queued, sending = message("queued"), message("sending")
    # THEN no callback and no count: only what the platform must know counts
    assert not changes.of(*MSG_KEYS, None, queued)
    assert not changes.of(*MSG_KEYS, queued, sending)
    assert not changes.of(*MSG_KEYS, sending, queued)


def test_accepted_counts_sent_and_schedules_the_unread_deadline():
    # GIVEN a message whose template has a 5-minute unread deadline, accepted by WhatsApp
    old = message("sending", fallback={"text": "x", "unread_minutes": Decimal(5)})
    new = {**old, "status": "accepted", "wamid": "w", "events": {**old["events"], "accepted": "2026-12-01T10:00:01.000Z"}}
    # WHEN the change is read
    effects = changes.of(*MSG_KEYS, old, new)
    # THEN it counts a send, schedules the deadline from the acceptance, and owes no callback (not a WhatsApp status)
    assert effects.counts == [("2026-12-01T10:00:01.000Z", {"name": "order_update", "language": "en"}, {"sent": 1})]
    assert effects.unread_deadline == ("msg_a", "2026-12-01T10:00:01.000Z", 5)
    assert effects.callbacks == []


def test_a_read_before_delivered_counts_delivered_too_and_its_read_time():
    # GIVEN a message sent at 10:00:02 and read at 10:10:02, no delivered in between
    old = message("sent", wamid="w", events={"accepted": "2026-12-01T10:00:01.000Z", "sent": "2026-12-01T10:00:02.000Z"})
    new = {**old, "status": "read", "events": {**old["events"], "read": "2026-12-01T10:10:02.000Z"}}
    # THEN read, delivered and the 5-15 minute read-time bucket are counted
    (_, _, counts), = changes.of(*MSG_KEYS, old, new).counts
    assert counts == {"read": 1, "delivered": 1, "ttr_2": 1}


def test_an_undeliverable_failure_triggers_the_sms_and_an_unsent_failure_counts_as_such():
    # GIVEN a utility message with an SMS fallback that the sender could not send (131026, no wamid)
    old = message("sending", fallback={"text": "Your order shipped"})
    new = {**old, "status": "failed", "error": {"code": Decimal(131026), "title": "Message undeliverable"},
           "events": {**old["events"], "failed": "2026-12-01T10:00:03.000Z"}}
    # WHEN the change is read
    effects = changes.of(*MSG_KEYS, old, new)
    # THEN the SMS goes, the failure counts as unsent, and the platform hears of it with WhatsApp's code as a number
    assert effects.sms_undeliverable == "msg_a"
    assert effects.counts[0][2] == {"failed": 1, "failed_unsent": 1}
    assert effects.callbacks[0].data["error"] == {"code": 131026, "title": "Message undeliverable"}
    # AND without a fallback planned, no SMS
    assert changes.of(*MSG_KEYS, {**old, "fallback": None}, {**new, "fallback": None}).sms_undeliverable is None


def test_a_first_reply_counts_once():
    # GIVEN a read message that gets its first reply, then a second one
    read = message("read", wamid="w", events={"read": "2026-12-01T10:01:00.000Z"})
    first = {**read, "last_reply": {"at": "2026-12-01T10:02:00.000Z", "text": "ok"}}
    second = {**first, "last_reply": {"at": "2026-12-01T10:03:00.000Z", "text": "thanks"}}
    # THEN only the first counts as replied, and neither owes a callback (the inbound message carries those)
    assert changes.of(*MSG_KEYS, read, first).counts == [("2026-12-01T10:02:00.000Z", {"name": "order_update", "language": "en"}, {"replied": 1})]
    assert not changes.of(*MSG_KEYS, first, second)


def test_an_inbound_message_owes_its_callbacks_once_when_handled():
    # GIVEN an inbound message stored by the webhook, then marked handled with what it owes
    keys = ("inbound", "t1")
    stored = {"wamid": "wamid.in", "from": "+886912345678", "received_at": "2026-12-01T10:02:00.000Z", "type": "text", "text": "hi"}
    handled = {**stored, "handled_at": "2026-12-01T10:02:01.000Z",
               "callbacks": [{"type": "message.received", "data": {"from": "+886912345678", "text": "hi", "n": Decimal(2)}}]}
    # WHEN the changes are read
    before, now, again = changes.of(*keys, None, stored), changes.of(*keys, stored, handled), changes.of(*keys, handled, dict(handled))
    # THEN storing owes nothing, handling owes the callback (numbers as JSON numbers) and the activity count, a repeat nothing
    assert not before
    assert [(c.type, c.data, c.created_at) for c in now.callbacks] == [
        ("message.received", {"from": "+886912345678", "text": "hi", "n": 2}, "2026-12-01T10:02:01.000Z")]
    assert now.inbound_at == "2026-12-01T10:02:00.000Z" and now.tenant_id == "t1"
    assert not again


def test_a_customers_opt_out_is_reported_but_not_the_platforms_own():
    # GIVEN a contact that a STOP reply opted out, and one the platform opted out through the API
    keys = ("contact", "t1")
    before = {"phone": "+886912345678", "opted_out": False}
    by_reply = {**before, "opted_out": True, "opt_source": "reply", "opt_changed_at": "2026-12-01T10:02:00.000Z"}
    by_api = {**by_reply, "opt_source": "api"}
    # THEN the reply is reported as contact.opted_out with its reason, the API's change is not
    (callback,) = changes.of(*keys, before, by_reply).callbacks
    assert (callback.type, callback.data) == ("contact.opted_out", {"phone": "+886912345678", "reason": "reply"})
    assert not changes.of(*keys, before, by_api)
    # AND a later change of the contact that leaves the opt-out alone owes nothing
    assert not changes.of(*keys, by_reply, {**by_reply, "last_inbound_at": "2026-12-01T11:00:00.000Z"})


def test_deletions_and_other_items_owe_nothing():
    assert not changes.of(*MSG_KEYS, message("read"), None)
    assert not changes.of(None, "t1", None, {"name": "hello", "status": "APPROVED"})


def test_the_keys_tell_the_kinds_of_item_apart():
    from wa_notify.adapters.storage import keys

    # GIVEN the keys of each item type; THEN only messages, inbound messages, contacts and templates
    # are read, with their tenant
    assert keys.stream_kind(*keys.message("t1", "msg_a")) == ("message", "t1")
    assert keys.stream_kind(*keys.inbound("t1", "+886912345678", "2026-12-01T10:00:00Z", "w")) == ("inbound", "t1")
    assert keys.stream_kind(*keys.contact("t1", "+886912345678")) == ("contact", "t1")
    assert keys.stream_kind(*keys.template("t1", "hello", "en")) == ("template", "t1")
    for other in (keys.fallback_deadline("t1", "msg_a"), keys.template_hold("t1", "hello", "en", "MSG#msg_a"), keys.tenant("t1"),
                  keys.quota("t1", "2026-12-01"), keys.phone_number("123")):
        assert keys.stream_kind(*other) is None, other


def test_a_status_webhook_that_overtakes_the_senders_acceptance_counts_the_send_once():
    # GIVEN a message still `sending` when WhatsApp's failed webhook (with its wamid) arrives first
    old = message("sending")
    new = {**old, "status": "failed", "wamid": "w", "error": {"code": 131026, "title": "Message undeliverable"},
           "events": {**old["events"], "failed": "2026-12-01T10:00:03.000Z"}}
    # THEN it went out (sent) and failed after; and a delivered straight from unknown counts the send too
    assert [c for _, _, c in changes.of(*MSG_KEYS, old, new).counts] == [{"sent": 1}, {"failed": 1}]
    unknown = message("unknown")
    delivered = {**unknown, "status": "delivered", "wamid": "w", "events": {**unknown["events"], "delivered": "2026-12-01T10:00:04.000Z"}}
    assert [c for _, _, c in changes.of(*MSG_KEYS, unknown, delivered).counts] == [{"sent": 1}, {"delivered": 1}]


def test_a_template_change_meta_made_owes_one_template_status_changed_and_its_first_review_none():
    tpl = {"name": "hello", "language": "en", "category": "UTILITY", "updated_at": "2026-12-01T10:00:00.000Z"}
    pending, approved = {**tpl, "status": "PENDING"}, {**tpl, "status": "APPROVED", "status_source": "APPROVED"}
    paused = {**approved, "status": "PAUSED", "status_source": "PAUSED", "status_reason": "NONE", "updated_at": "2026-12-01T11:00:00.000Z"}
    # GIVEN Meta's first decision on a template registered here, then a pause, then the pause's redelivery
    first, pause, again = changes.of("template", "t1", pending, approved), changes.of("template", "t1", approved, paused), \
        changes.of("template", "t1", approved, paused)
    # THEN the first review owes nothing; the pause owes template.status_changed with the contract's fields, the same id twice
    assert not first
    assert [(c.type, c.data) for c in pause.callbacks] == [("template.status_changed", {
        "name": "hello", "language": "en", "status": "PAUSED", "previous_status": "APPROVED", "category": "UTILITY", "reason": "NONE"})]
    assert pause.callbacks[0].id == again.callbacks[0].id
    # AND a quality change alone owes nothing
    assert not changes.of("template", "t1", approved, {**approved, "quality": "RED"})
