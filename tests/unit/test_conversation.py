import re
from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.domain.conversation import billing, computed_tags, inbound_summary, opt_intent, rating, reply_action, window_open

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.mark.parametrize(("text", "intent"), [("STOP", "out"), (" stop! ", "out"), ("Parar", "out"), ("退訂", "out"), ("START", "in"),
                                              ("Começar", "in"), ("stop by later", None), ("", None), (None, None)])
def test_opt_intent(text, intent):
    assert opt_intent(text) == intent


@pytest.mark.parametrize(("payload", "text", "stars"), [("3", None, 3), (None, "5 stars", 5), ("\u2b50\u2b50", None, 2), ("\U0001F621", None, 1),
                                                        ("6", None, None), ("3 apples", None, None), ("yes", "Yes", None), (None, None, None)])
def test_rating(payload, text, stars):
    assert rating(payload, text) == stars


def test_reply_action_prefers_the_payload_and_accepts_custom_words():
    assert reply_action("CANCEL", "Keep it") == "cancel"
    assert reply_action("X1", "Confirm visit") == "confirm"
    assert reply_action("NOPE", "Nope", {"nope": "cancel"}) == "cancel"
    assert reply_action("hello", "hello") is None


def test_billing_follows_meta_pricing():
    assert billing("template", "UTILITY", True) == {"category": "utility", "type": "free_customer_service", "billable": False}
    assert billing("template", "UTILITY", False)["billable"] is True
    assert billing("template", "MARKETING", True)["billable"] is True
    assert billing("text", None, True)["type"] == "free_customer_service"


def test_window_and_computed_tags():
    assert window_open((NOW + timedelta(hours=1)).isoformat(), NOW) and not window_open((NOW - timedelta(seconds=1)).isoformat(), NOW)
    assert not window_open(None, NOW)
    fresh = {"last_inbound_at": (NOW - timedelta(days=2)).isoformat(), "attributes": {"annual_spend": 25_000}}
    assert computed_tags(fresh, NOW) == ["active_7d", "tier_high"]
    assert computed_tags({"last_inbound_at": (NOW - timedelta(days=40)).isoformat()}, NOW) == ["inactive_30d"]
    assert computed_tags({"created_at": (NOW - timedelta(days=200)).isoformat()}, NOW) == ["cold"]


def test_inbound_summary_for_each_kind():
    assert inbound_summary({"type": "text", "text": {"body": "hi"}}) == {"type": "text", "text": "hi"}
    tap = inbound_summary({"type": "button", "button": {"payload": "P", "text": "T"}, "context": {"id": "wamid.x"}})
    assert tap == {"type": "button", "payload": "P", "text": "T", "context_id": "wamid.x"}
    assert inbound_summary({"type": "sticker"}) == {"type": "sticker"}


@pytest.mark.parametrize(("message", "where"), [
    ({"type": "text", "text": {"body": "5"}, "context": {"id": {"$ne": 1}}}, "context.id is not a string"),
    ({"type": "text", "text": {"body": "5"}, "context": "wamid.x"}, "context is not an object"),
    ({"type": "text", "text": "hi"}, "text is not an object"),
    ({"type": "text", "text": {"body": ["hi"]}}, "text.body is not a string"),
    ({"type": "button", "button": {"payload": None, "text": 5}}, "button.text is not a string"),
    ({"type": "button", "button": "STOP"}, "button is not an object"),
    ({"type": "interactive", "interactive": "x"}, "interactive is not an object"),
    ({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": 7, "title": "Seven"}}}, "interactive.list_reply.id is not a string"),
    ({"type": "reaction", "reaction": {"emoji": {"x": 1}}}, "reaction.emoji is not a string"),
    ({"type": ["text"]}, "type is not a string"),
])
def test_an_inbound_part_of_another_type_than_meta_documents_is_refused_before_anything_is_stored(message, where):
    # GIVEN a signed webhook's message whose part is not the type Meta documents (a NoSQL-looking
    # context id, a number for a button's text, a string for an object)
    # WHEN summarized THEN ValueError naming it: the webhook skips the message with a warning, before
    # storing it (it was stored, then failed half way or stayed a row no read takes)
    with pytest.raises(ValueError, match=f"^{re.escape(where)}$"):
        inbound_summary(message)


def test_absent_parts_are_none_and_documented_ones_are_read():
    assert inbound_summary({"type": "button", "button": {"payload": None}}) == {"type": "button", "payload": None, "text": None}
    assert inbound_summary({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "7", "title": "Seven"}},
                            "context": {"id": "wamid.x"}}) == {
        "type": "interactive", "payload": "7", "text": "Seven", "reply_type": "list_reply", "context_id": "wamid.x"}
    assert inbound_summary({"type": "reaction"}) == {"type": "reaction", "emoji": None, "reacted_to": None}
