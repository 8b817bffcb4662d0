"""How to react to a WhatsApp error code (reference: whatsapp-cloud-api.md §2).

Key on `code`, never on the HTTP status or the title: Meta says so, and the HTTP status
of the throttling codes is disputed (400 vs 429).
"""

from __future__ import annotations

from dataclasses import dataclass

# Throughput (130429), pair rate (131056), app call rate (4), unknown/transient (1, 2,
# 131000, 131016, 133004) and maintenance (131057): back off and try again.
RETRYABLE_CODES = frozenset({1, 2, 4, 130429, 131000, 131016, 131056, 131057, 133004})
THROTTLE_CODES = frozenset({4, 130429, 131056})
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

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "title": self.title, "details": self.details}


def backoff_seconds(attempt: int, code: int | None = None, jitter: float = 0.0) -> int:
    """Meta suggests 4^X seconds for the pair limit; use it for every retryable error.

    `attempt` counts from 1; `jitter` in [0, 1) spreads retries of a burst apart.
    """
    base = 4 ** max(0, attempt - 1)
    if code == 131057:  # maintenance lasts about a minute
        base = max(base, 60)
    return int(min(MAX_BACKOFF_SECONDS, base * (1 + jitter)))
