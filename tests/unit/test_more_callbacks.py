"""message.cancelled, message.fallback and contact.erased follow the stored change (domain/changes.py),
and what an erasure leaves of a message row (domain/erasure.py)."""

import pytest
from wa_notify.adapters.storage import keys
from wa_notify.domain import changes, erasure

TENANT = "t_1"
QUEUED = {"id": "msg_01", "tenant_id": TENANT, "status": "queued", "to": "+886912345678", "events": {"queued": "2026-12-01T08:00:00Z"},
          "updated_at": "2026-12-01T08:00:00Z"}
CANCELLED = {**QUEUED, "status": "cancelled", "events": {**QUEUED["events"], "cancelled": "2026-12-01T08:05:00Z"}}


def callbacks(old, new, kind="message"):
    return [c.as_dict() for c in changes.of(kind, TENANT, old, new).callbacks]


@pytest.mark.parametrize(("stored", "reason"), [
    (None, "platform"),  # DELETE /v1/messages/{id}, a cancelled campaign's cancel
    ("rescheduled", "platform"),  # an event that cancels or re-plans
    ("the campaign was cancelled", "platform"),
    ("erased", "platform"),  # the platform erased the contact
    ("customer", "customer"),  # the customer's Cancel tap
    ("the contact opted out of marketing", "opt_out"),
    ("opt_out", "opt_out"),
    ("template_disabled", "template_disabled"),
    ("the campaign's send window closed before it could go", "send_window_ended"),
    ("window_closed", "window_closed"),
])
def test_a_cancelled_message_owes_one_message_cancelled_with_the_contracts_reason(stored, reason):
    # GIVEN a pending message cancelled with the reason its path stores
    new = {**CANCELLED, **({"cancel_reason": stored} if stored else {})}
    # WHEN the change is read from the stream
    owed = callbacks(QUEUED, new)
    # THEN one message.cancelled, with the id and the contract's reason, at the cancel's time
    assert owed == [{"id": owed[0]["id"], "type": "message.cancelled", "created_at": "2026-12-01T08:05:00Z",
                     "data": {"id": "msg_01", "reason": reason}}]
    assert reason in erasure.CANCEL_REASONS


def test_a_redelivered_or_later_change_of_a_cancelled_message_owes_no_second_cancel():
    # GIVEN the cancel's change delivered twice, then the erasure's scrub of the same row
    first, again = callbacks(QUEUED, CANCELLED), callbacks(QUEUED, CANCELLED)
    scrubbed = callbacks(CANCELLED, {**CANCELLED, "to": "erased:ab", "erased_at": "2026-12-01T09:00:00Z"})
    # THEN the same event id both times (platforms dedupe), and nothing for the scrub
    assert [c["id"] for c in first] == [c["id"] for c in again] and scrubbed == []


def test_an_sms_fallbacks_outcome_owes_one_message_fallback():
    # GIVEN a delivered-then-unread message whose SMS is claimed, then sent
    base = {**QUEUED, "status": "delivered", "fallback": {"text": "Your order shipped", "status": "sending"}}
    sent = {**base, "fallback": {"text": "Your order shipped", "status": "sent", "sent_at": "2026-12-01T09:00:00Z"}}
    # WHEN the claim and then the outcome are read from the stream
    claimed = callbacks({**base, "fallback": {"text": "Your order shipped"}}, base)
    owed = callbacks(base, sent)
    # THEN the claim owes nothing, the outcome one message.fallback (no text, no phone), again the same id
    assert claimed == []
    assert [(c["type"], c["data"], c["created_at"]) for c in owed] == [
        ("message.fallback", {"id": "msg_01", "channel": "sms", "status": "sent"}, "2026-12-01T09:00:00Z")]
    assert callbacks(base, sent)[0]["id"] == owed[0]["id"] and callbacks(sent, sent) == []


def test_an_erasure_receipt_owes_contact_erased_with_its_hash_never_the_phone():
    # GIVEN the receipt an erasure writes
    receipt = {"phone_hash": "erased:0123abcd", "erased_at": "2026-12-01T10:00:00Z", "messages": 2}
    # WHEN its insert is read (twice), and a rerun's no-op rewrite
    owed, again = callbacks(None, receipt, "erasure"), callbacks(None, receipt, "erasure")
    # THEN one contact.erased with the hash and the time, the same id, and nothing for the no-op
    assert [(c["type"], c["data"]) for c in owed] == [("contact.erased", {"phone_hash": "erased:0123abcd",
                                                                          "erased_at": "2026-12-01T10:00:00Z"})]
    assert owed[0]["id"] == again[0]["id"] and callbacks(receipt, receipt, "erasure") == []


def test_a_scrubbed_message_keeps_ids_statuses_times_and_counts_and_nothing_of_the_customer():
    # GIVEN a read message with everything a row may hold, and an attribute added later that this module does not know
    row = {**keys.message(TENANT, "msg_01")._asdict(), "id": "msg_01", "tenant_id": TENANT, "to": "+886912345678",
           "status": "read", "events": {"read": "x"}, "attempts": 1, "template": {"name": "order_shipped", "language": "en_US"},
           "request": {"to": "886912345678"}, "text": "Hi Ana", "metadata": {"customer": "Ana"}, "wamid": "wamid.HBgMODg2",
           "cancelled_by": "wamid.HBgMODg2", "contact_key": "TO#+886912345678", "listed_at": "x", "tenant_key": "k", "failed_key": "f",
           "error": {"code": 131026, "title": "Undeliverable", "details": "to 886912345678"},
           "fallback": {"text": "Hi Ana", "status": "sent", "provider_message_id": "sns-1"},
           "last_reply": {"at": "y", "text": "Ana here", "payload": "p", "rating": 5}, "some_future_attribute": "+886912345678"}
    # WHEN it is scrubbed for one erasure
    hashed = erasure.phone_hash("salt", "+886912345678")
    sets, removes = erasure.scrub(row, hashed)
    # THEN the phone is the hash, what is the customer's (and what is unknown) goes, the rest stays
    assert sets == {"to": hashed, "error": {"code": 131026, "title": "Undeliverable"}, "fallback": {"status": "sent"},
                    "last_reply": {"at": "y", "rating": 5}}
    assert sorted(removes) == ["cancelled_by", "contact_key", "metadata", "request", "some_future_attribute", "text", "wamid"]
    assert hashed != erasure.phone_hash("other salt", "+886912345678") and "886912345678" not in hashed


def test_the_click_tokens_a_request_carries_are_found_for_an_erasure():
    # GIVEN a stored request with a tracked URL button (its parameter is the token) and a tracked text link
    token_a, token_b = "A" * 21 + "b", "c" * 22
    request = {"template": {"components": [
        {"type": "body", "parameters": [{"type": "text", "text": f"see https://api.example.com/r/{token_b}."}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": token_a}]},
        {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [{"type": "payload", "payload": "x" * 22}]}]}}
    # WHEN its tokens are read
    # THEN both tokens, once each, and no quick-reply payload; a text message's link too
    assert erasure.click_tokens_in(request) == [token_a, token_b]
    assert erasure.click_tokens_in({"type": "text", "text": {"body": f"https://x.example/r/{token_b} and /r/short"}}) == [token_b]
    assert erasure.click_tokens_in({}) == []
