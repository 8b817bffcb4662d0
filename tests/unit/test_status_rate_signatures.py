import hmac
import json

import pytest
from wa_notify.domain import signatures
from wa_notify.domain import status as st
from wa_notify.domain.phone import mask, to_e164
from wa_notify.domain.ratelimit import Rate, decide
from wa_notify.domain.whatsapp_errors import THROTTLE_CODES, ProviderError, backoff_seconds, pair_backoff_seconds


@pytest.mark.parametrize(("current", "new", "forward"), [
    ("queued", "sent", True), ("sending", "sent", True), ("unknown", "sent", True), ("accepted", "sent", True),
    ("sent", "delivered", True), ("delivered", "read", True), ("sent", "read", True),
    ("read", "delivered", False), ("delivered", "sent", False), ("read", "read", False),
    ("failed", "sent", False), ("sent", "failed", True), ("failed", "delivered", True), ("delivered", "failed", False),
    ("cancelled", "sent", False),
])
def test_status_only_moves_forward(current, new, forward):
    assert st.is_forward(current, new) is forward


PENDING = {"scheduled", "queued", "sending", "unknown", "accepted"}


@pytest.mark.parametrize(("new", "may_move_from"), [
    # written out, not derived from st.RANK: the store's conditional update applies a webhook
    # only to a message in one of these, so this is the status machine's forward order itself
    ("sent", PENDING),
    ("failed", PENDING | {"sent"}),
    ("delivered", PENDING | {"sent", "failed"}),  # evidence it reached the phone beats a failure
    ("read", PENDING | {"sent", "failed", "delivered"}),
])
def test_a_webhook_status_applies_only_to_the_statuses_below_it(new, may_move_from):
    assert set(st.statuses_below(new)) == may_move_from
    # a cancelled message is never revived, and no status moves onto itself
    assert "cancelled" not in st.statuses_below(new) and new not in st.statuses_below(new)
    # the store's condition and the in-process check agree
    everything = PENDING | {"sent", "failed", "delivered", "read", "cancelled"}
    assert {s for s in everything if st.is_forward(s, new)} == may_move_from


def test_history_is_ordered_by_status_and_hides_internal_states():
    events = {"read": "t3", "queued": "t0", "sent": "t1", "sending": "tx", "delivered": "t2"}
    assert [h["status"] for h in st.history(events)] == ["queued", "sent", "delivered", "read"]


def test_public_status_hides_the_lease():
    assert st.public_status("sending") == "queued" and st.public_status("unknown") == "queued" and st.public_status("read") == "read"


def test_gcra_allows_the_burst_then_the_rate():
    # GIVEN Meta's pair limit: 45 at once, then one per 6 s
    rate = Rate.every(6, 45)
    tat, now = None, 0
    granted = 0
    for _ in range(50):
        d = decide(rate, tat, now)
        if d.allowed:
            tat, granted = d.new_tat_us, granted + 1
    # THEN exactly the burst passes, and the 46th waits one interval
    assert granted == 45
    refused = decide(rate, tat, now)
    assert not refused.allowed and refused.retry_after_us == 6_000_000
    assert decide(rate, tat, now + 6_000_000).allowed


def test_gcra_80_per_second_over_ten_seconds():
    rate = Rate.per_second(80, 80)
    tat, granted = None, 0
    for ms in range(0, 10_000):
        for _ in range(2):  # 200 attempts a second
            d = decide(rate, tat, ms * 1000)
            if d.allowed:
                tat, granted = d.new_tat_us, granted + 1
    assert 80 * 10 <= granted <= 80 * 10 + 80


def test_signature_accepts_exact_bytes_only():
    body = json.dumps({"a": "äö"}, ensure_ascii=True).encode()
    header = signatures.sign("s3cret", body)
    assert signatures.verify("s3cret", body, header)
    assert not signatures.verify("wrong", body, header)
    assert not signatures.verify("s3cret", body + b" ", header)
    assert not signatures.verify("s3cret", json.dumps({"a": "äö"}, ensure_ascii=False).encode(), header)
    assert not signatures.verify("s3cret", body, None)
    assert not signatures.verify("s3cret", body, "sha1=" + header[7:])
    assert not signatures.verify("", body, header)


def test_signature_uses_constant_time_compare(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    signatures.verify("k", b"x", signatures.sign("k", b"x"))
    assert calls


@pytest.mark.parametrize(("code", "http", "retry"), [
    (130429, 400, True), (131056, 429, True), (131000, 500, True), (133004, 503, True),
    (131026, 400, False), (132001, 404, False), (131047, 400, False), (100, 400, False), (190, 401, False),
    (None, 502, True), (None, 400, False),
])
def test_retry_is_decided_by_code(code, http, retry):
    assert ProviderError(code=code, title="t", http_status=http).retryable is retry


def test_backoff_grows_as_four_to_the_x_and_is_capped():
    assert [backoff_seconds(a) for a in (1, 2, 3, 4, 5, 6)] == [1, 4, 16, 64, 256, 900]
    assert backoff_seconds(1, 131057) == 60


def test_the_pair_limit_waits_at_least_its_window_and_doubles():
    # GIVEN WhatsApp's pair window: one message per 6 s to one person after a burst of 45
    # WHEN a message is refused with 131056 again and again
    waits = [backoff_seconds(n, 131056) for n in range(1, 11)]
    # THEN the first wait is one refill, each later one doubles, capped at SQS's 900 s
    assert waits == [6, 12, 24, 48, 96, 192, 384, 768, 900, 900]
    assert pair_backoff_seconds(1, jitter=0.99) == 11 and pair_backoff_seconds(2, first=1) == 2


def test_the_pair_limit_is_not_the_numbers_throttle_alarm():
    # GIVEN the codes that say our number or app went over its tier
    # THEN the per-recipient pair limit is not one of them (it is retried, but not alarmed on)
    assert 131056 not in THROTTLE_CODES and {4, 130429} <= THROTTLE_CODES
    assert ProviderError(code=131056, title="pair rate limit hit").retryable


def test_phone_numbers_are_stored_e164_and_masked_for_logs():
    assert to_e164("+886 912-345-678") == "+886912345678"
    assert to_e164("(415) 555-0123", "US") == "+14155550123"
    with pytest.raises(ValueError):
        to_e164("0912345678")
    with pytest.raises(ValueError):
        to_e164("+1 555")
    assert mask("+886912345678") == "+88********78"


def test_lower_lanes_leave_the_rest_of_the_burst_to_higher_lanes():
    from wa_notify.domain.ratelimit import Rate, available, wait_us

    # GIVEN an 80/s bucket that bulk has kept 0.3 s ahead of now
    rate = Rate.per_second(80, 80)
    now = 10_000_000
    tat = now + int(rate.tolerance_us * 0.3) + rate.interval_us
    # THEN bulk must wait, normal and high still find tokens at once (high the most)
    assert available(rate, tat, now, "bulk") == 0 and wait_us(rate, tat, now, "bulk") > 0
    assert 0 < available(rate, tat, now, "normal") < available(rate, tat, now, "high")
    # AND an idle bucket gives bulk its share, never the whole burst
    assert available(rate, None, now, "bulk") < available(rate, None, now, "high") == 80


def test_fast_numbers_get_a_sharded_bucket():
    from wa_notify.domain.ratelimit import shards_for

    assert shards_for(80) == 1 and shards_for(1000) == 5


def test_prefilled_text_matches_the_regex_fill():
    from wa_notify.domain.rendering import fill

    assert fill("Hi {{a}}, {{b}}!", {"a": "Ana", "b": "bye"}) == "Hi Ana, bye!"
    assert fill("no vars", {}) == "no vars" and fill("{{x}}", {}) == "{{x}}"
