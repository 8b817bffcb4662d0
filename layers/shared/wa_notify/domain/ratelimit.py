"""Rate limiting as GCRA (the generic cell rate algorithm), the math only.

A bucket is one number, the theoretical arrival time (TAT). A send at `now` is allowed
when `TAT - now <= tolerance`; it moves TAT to `max(TAT, now) + interval`. This is a token
bucket with `burst` tokens refilled every `interval`, held in a single attribute so the
DynamoDB adapter can take a token with one conditional UpdateItem and no read first.
All times are integer microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """`burst` sends at once, then one every `interval_us`."""

    interval_us: int
    burst: int

    @classmethod
    def per_second(cls, per_second: float, burst: int) -> Rate:
        return cls(interval_us=max(1, round(MICROS / per_second)), burst=max(1, burst))

    @classmethod
    def every(cls, seconds: float, burst: int) -> Rate:
        return cls(interval_us=round(seconds * MICROS), burst=max(1, burst))

    @property
    def tolerance_us(self) -> int:
        return self.interval_us * (self.burst - 1)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    new_tat_us: int
    retry_after_us: int = 0


def decide(rate: Rate, tat_us: int | None, now_us: int) -> Decision:
    """Pure GCRA step: may one send happen now, and what is the new TAT."""
    tat = now_us if tat_us is None else max(tat_us, now_us)
    if tat - now_us > rate.tolerance_us:
        return Decision(False, tat_us or now_us, retry_after_us=tat - now_us - rate.tolerance_us)
    return Decision(True, tat + rate.interval_us)


def retry_after(rate: Rate, tat_us: int, now_us: int) -> int:
    """Microseconds until a send would be allowed for a bucket whose TAT is `tat_us`."""
    return max(0, tat_us - now_us - rate.tolerance_us)
