"""131049 (per-user marketing limit) and other final failures reach the platform with advice."""

from wa_notify.domain import changes
from wa_notify.domain.whatsapp_errors import PER_USER_MARKETING_LIMIT, RETRYABLE_CODES, ProviderError, advice


def test_the_per_user_marketing_limit_is_never_retried_and_says_to_wait_a_day():
    # GIVEN WhatsApp's 131049, synchronous (an HTTP answer) or from a failed status
    error = ProviderError(code=PER_USER_MARKETING_LIMIT, title="This message was not delivered to maintain healthy ecosystem engagement.")
    # WHEN the sender classifies it
    # THEN it is final, and what is stored on the message tells the platform to wait 24 h
    assert PER_USER_MARKETING_LIMIT not in RETRYABLE_CODES and not error.retryable
    assert "at least 24 h" in error.as_dict()["advice"]


def test_codes_without_advice_keep_metas_code_title_and_details_only():
    # GIVEN a failure whose title says it all
    # WHEN stored
    # THEN no advice is added
    assert ProviderError(code=131026, title="Message undeliverable").as_dict() == {"code": 131026, "title": "Message undeliverable", "details": None}
    assert advice(None) is None and advice("131049") is None


def test_the_failed_callback_carries_metas_details_and_the_advice():
    # GIVEN a message that failed with 131049
    error = {"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement.",
             "details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
             "advice": advice(131049)}
    old = {"id": "msg_1", "status": "accepted", "wamid": "wamid.X", "events": {"accepted": "2026-12-01T00:00:00Z"}}
    new = {**old, "status": "failed", "error": error, "events": {**old["events"], "failed": "2026-12-01T00:00:05Z"}}
    # WHEN the change is read from the stream
    effects = changes.message_change("ten_1", old, new)
    # THEN the platform's message.status callback says failed, with code, title, details and advice
    data = effects.callbacks[0].data
    assert data["status"] == "failed" and data["error"] == {"code": 131049, **{k: error[k] for k in ("title", "details", "advice")}}
