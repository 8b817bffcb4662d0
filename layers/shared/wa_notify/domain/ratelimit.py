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


# Lanes share one number's bucket. A lower lane may only take a token while the bucket is
# less than its share of the burst ahead of now, so the rest of the burst stays free for the
# lanes above it: at saturation a bulk backlog keeps TAT about 0.3 s ahead and an alert
# still finds ~0.7 s worth of tokens at once. Bulk is never starved: whenever the
# higher lanes leave room, bulk takes it.
LANE_SHARE = {"high": 1.0, "normal": 0.6, "bulk": 0.3}


def lane_limit_us(rate: Rate, now_us: int, lane: str, n: int = 1) -> int:
    """The latest TAT at which `n` tokens may still be taken for `lane` at `now_us`."""
    return now_us + int(rate.tolerance_us * LANE_SHARE.get(lane, 1.0)) - (n - 1) * rate.interval_us


def available(rate: Rate, tat_us: int | None, now_us: int, lane: str) -> int:
    """How many tokens `lane` could take at once now (0 = it must wait)."""
    start = now_us if tat_us is None else max(tat_us, now_us)
    room = lane_limit_us(rate, now_us, lane) - start
    return 0 if room < 0 else room // rate.interval_us + 1


def wait_us(rate: Rate, tat_us: int, now_us: int, lane: str) -> int:
    """Microseconds until `lane` may take one token from a bucket whose TAT is `tat_us`."""
    return max(1, tat_us - lane_limit_us(rate, now_us, lane))


def shards_for(per_second: float, per_shard: float = 200.0) -> int:
    """A fast number's bucket is split so no single item takes more than ~200 writes/s (one
    DynamoDB partition takes 1,000 WCU/s): 80/s is one item, 1,000/s five."""
    return max(1, -(-int(per_second) // int(per_shard)))
