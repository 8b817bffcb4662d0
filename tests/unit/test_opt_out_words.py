"""STOP words match as people type them (case, accents, punctuation, emoji, full-width, zh), and a
cancel word answering a booking's message cancels the booking instead of opting out."""

import pytest
from wa_notify.domain.conversation import normalized_reply, opt_decision, opt_intent, reply_action


@pytest.mark.parametrize(("text", "intent"), [
    # pt
    ("PARAR", "out"), ("pare", "out"), ("Sair.", "out"), ("descadastrar", "out"), ("DESCADASTRÁR", "out"), ("Cancelar", "out"),
    ("cancelár!!", "out"), ("  CANCELAR 👋 ", "out"),
    # it
    ("Stop", "out"), ("basta!", "out"), ("ANNULLA", "out"), ("Disiscriviti", "out"), ("disiscrivìti", "out"),
    # zh (traditional and simplified), with full-width punctuation
    ("退訂", "out"), ("退订", "out"), ("取消訂閱", "out"), ("取消订阅。", "out"), ("「退訂」", "out"),
    # en, full-width letters, quotes and emoji
    ("UNSUBSCRIBE", "out"), ("ＳＴＯＰ", "out"), ('"stop"', "out"), ("🛑 STOP 🛑", "out"), ("Cancel", "out"),
    ("opt-out", "out"), ("Opt–Out", "out"), ("OPT OUT", "out"),  # dashes inside are spaces
    # opt back in
    ("START", "in"), ("começar", "in"), ("COMECAR!", "in"),
    # sentences, other words and nothing are not opt-outs
    ("please stop by tomorrow", None), ("não quero cancelar", None), ("stopped", None), ("🛑", None), ("", None), (None, None),
])
def test_stop_and_start_words_ignore_case_accents_and_punctuation(text, intent):
    # GIVEN a customer's whole message WHEN it is read THEN its intent is the table's
    assert opt_intent(text) == intent


def test_normalized_reply_trims_around_the_word_only():
    # GIVEN replies with marks around and inside WHEN normalized THEN only the ends and accents go
    assert normalized_reply(" Cancelár!! 👋") == "cancelar"
    assert normalized_reply("I'll  be\tthere") == "i'll be there"
    assert normalized_reply("STOP_UPDATES") == "stop_updates"
    assert normalized_reply("NOT-COMING") == "not coming"
    assert normalized_reply("I\u2019ll be there!") == "i'll be there"  # a phone's typographic apostrophe


def test_reply_actions_compare_normalized_and_may_opt_out():
    # GIVEN a tenant mapping STOP_UPDATES to opt_out WHEN a tap carries it (any case) THEN it opts out
    assert reply_action("stop_updates", "Stop updates", {"STOP_UPDATES": "opt_out"}) == "opt_out"
    # AND accented, shouted cancel words still cancel
    assert reply_action(None, "CANCELÁR!") == "cancel"
    assert reply_action(None, "Annulla.") == "cancel"


@pytest.mark.parametrize(("kind", "payload", "text", "action", "answers_flow", "decision"), [
    ("text", None, "Cancelar", "cancel", True, None),        # typed in reply to a booking reminder: the booking, not consent
    ("button", "Cancelar", "Cancelar", "cancel", True, None),  # tapped on it
    ("text", None, "Cancelar", None, False, "out"),          # no context: opts out
    ("text", None, "Cancelar", "cancel", False, "out"),      # answers a marketing message (no flow): opts out
    ("text", None, "STOP", None, True, "out"),               # STOP is never a booking's cancel
    ("button", "STOP_UPDATES", "Stop updates", "opt_out", True, "out"),  # the tenant's opt_out payload
    ("interactive", "x", "Basta", None, False, None),        # our own session buttons are not typed words
    ("text", None, "start", None, False, "in"),
])
def test_opt_decision_uses_the_context(kind, payload, text, action, answers_flow, decision):
    # GIVEN a reply, what it answers and its action WHEN decided THEN consent changes as the table says
    assert opt_decision(kind, payload, text, action, answers_flow) == decision
