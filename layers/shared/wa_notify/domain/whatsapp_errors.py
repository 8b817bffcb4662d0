"""How to react to a WhatsApp error code (reference: whatsapp-cloud-api.md §2).

Key on `code`, never on the HTTP status or the title: Meta says so, and the HTTP status
of the throttling codes is disputed (400 vs 429).
"""

from __future__ import annotations

from dataclasses import dataclass

from wa_notify.domain.records import ErrorInfo

# Throughput (130429), pair rate (131056), app call rate (4), unknown/transient (1, 2,
# 131000, 131016, 133004) and maintenance (131057): back off and try again.
RETRYABLE_CODES = frozenset({1, 2, 4, 130429, 131000, 131016, 131056, 131057, 133004})
# WhatsApp throttling our number or app (alarmed on: WhatsAppThrottled), which our pacer should
# prevent. Not 131056: the pair limit is per recipient (one user, about 1 per 6 s after a burst
# of 45), a platform sending many reminders to one person, not a tier we exceed; we keep no
# bucket for it and just retry (PAIR_RATE_LIMIT below), so it is counted on its own.
THROTTLE_CODES = frozenset({4, 130429})
PAIR_RATE_LIMIT = 131056
# Meta's per-user marketing limit: the user got too many marketing messages recently. Never
# retried (not in RETRYABLE_CODES): Meta says wait at least 24 h, and resending sooner extends
# the block [M-peruser]. The platform learns it from the failed message's `advice`.
PER_USER_MARKETING_LIMIT = 131049
# What the platform should do about a final failure, where Meta says more than its title.
ADVICE = {
    PER_USER_MARKETING_LIMIT: "WhatsApp's per-user marketing limit: this person has received too many marketing messages "
                              "recently. Do not resend for at least 24 h; resending sooner extends the block.",
    131047: "More than 24 h since this person last wrote: free-form text is refused; send an approved template instead.",
    131050: "This person stopped marketing messages from you on WhatsApp; they are opted out.",
}
# Meta blocking the business number itself: 368 "temporarily blocked for policy violations",
# 131048 "spam rate limit hit" (reference §2: "pause sending", "pause the campaign"). Every send
# from the number would be refused alike: the number's sends pause this long (then one probes),
# and the messages wait in their queues, not failed: nothing was sent.
NUMBER_BLOCK_SECONDS = {368: 3600, 131048: 900}
PAIR_INTERVAL_SECONDS = 6  # the pair window refills one message per 6 s [M-about]
MAX_BACKOFF_SECONDS = 900  # SQS DelaySeconds ceiling


@dataclass
class ProviderError(Exception):  # noqa: N818 - it is WhatsApp's error, not ours
    code: int | None
    title: str
    details: str | None = None
    http_status: int | None = None

    @property
    def retryable(self) -> bool:
        if self.code is not None:
            return self.code in RETRYABLE_CODES
        return self.http_status is None or self.http_status >= 500 or self.http_status == 429

    @property
    def token_rejected(self) -> bool:
        """Meta refused our token (190: expired or revoked; or HTTP 401): nothing was sent,
        so one retry with a freshly fetched token is safe."""
        return self.code == 190 or self.http_status == 401

    def __str__(self) -> str:
        return f"({self.code}) {self.title}"

    def as_dict(self) -> ErrorInfo:
        out: ErrorInfo = {"code": self.code, "title": self.title, "details": self.details}
        if hint := advice(self.code):
            out["advice"] = hint
        return out


def advice(code: object) -> str | None:
    """What to do about a failure with this code, in words for the platform (None: the title says it)."""
    return ADVICE.get(code) if isinstance(code, int) else None


def backoff_seconds(attempt: int, code: int | None = None, jitter: float = 0.0) -> int:
    """Meta suggests 4^X seconds for the pair limit; use it for every other retryable error.

    `attempt` counts from 1; `jitter` in [0, 1) spreads retries of a burst apart. The pair
    limit itself (131056) waits by `pair_backoff_seconds`.
    """
    if code == PAIR_RATE_LIMIT:
        return pair_backoff_seconds(attempt, jitter)
    base = 4 ** max(0, attempt - 1)
    if code == 131057:  # maintenance lasts about a minute
        base = max(base, 60)
    return int(min(MAX_BACKOFF_SECONDS, base * (1 + jitter)))


def pair_backoff_seconds(refusals: int, jitter: float = 0.0, first: int = PAIR_INTERVAL_SECONDS) -> int:
    """The wait after the `refusals`-th 131056 for one message: `first` (the pair window's
    refill, 6 s), doubling, capped at SQS's 900 s; `jitter` in [0, 1) adds up to as much again.

    Meta's 4^X (1, 4, 16 s...) starts below the window, so the first retries of a burst are
    refused again; doubling from one refill keeps a backlog to one person draining close to
    WhatsApp's pace (a 15-message overflow needs 90 s) instead of leaping to minutes.
    """
    base = first * 2 ** max(0, refusals - 1)
    return int(min(MAX_BACKOFF_SECONDS, base * (1 + jitter)))
