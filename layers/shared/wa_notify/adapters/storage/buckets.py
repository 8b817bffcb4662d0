"""GCRA rate buckets: one conditional write per grant (or per batch of grants), no read first."""

from __future__ import annotations

from dataclasses import dataclass, field

from wa_notify.adapters.dynamo import Table
from wa_notify.adapters.storage import keys
from wa_notify.domain.ratelimit import Rate, available, lane_limit_us, wait_us


@dataclass
class BucketRepository:
    table: Table
    _busy: dict[str, bool] = field(default_factory=dict, repr=False)  # scope -> last seen busy

    def take_number(self, phone_number_id: str, shard: int | None, rate: Rate, now_us: int, *, n: int, lane: str) -> tuple[int, int]:
        """Sends for one of our phone numbers (`shard` of its buckets above one bucket's pace)."""
        return self.take_tokens(keys.number_scope(phone_number_id, shard), rate, now_us, n=n, lane=lane)

    def block_number(self, phone_number_id: str, shards: int, until_us: int) -> None:
        """No grant from the number's buckets (every shard) before `until_us`: its theoretical
        arrival time moves there (never back), so every lane's next take answers the wait."""
        for shard in ([None] if shards == 1 else list(range(shards))):
            self.table.update(*keys.bucket(keys.number_scope(phone_number_id, shard)), "SET tat = :until",
                              condition="attribute_not_exists(tat) OR tat < :until", values={":until": until_us})
            self._busy[keys.number_scope(phone_number_id, shard)] = True

    def take_token(self, scope: str, rate: Rate, now_us: int, *, lane: str = "high") -> int:
        """Take one send from the bucket; 0 when granted, else microseconds to wait."""
        granted, wait = self.take_tokens(scope, rate, now_us, n=1, lane=lane)
        return 0 if granted else wait

    def take_tokens(self, scope: str, rate: Rate, now_us: int, *, n: int = 1, lane: str = "high") -> tuple[int, int]:
        """Take up to `n` sends at once for `lane`: (granted, microseconds to wait when none).

        GCRA has two cases, each one conditional write with no read first: the bucket is idle
        (TAT in the past: restart from now) or busy within the lane's share of the burst
        (TAT + n intervals). The case the bucket was last in is tried first, so a steady
        stream costs one write per batch of grants; a refusal returns the old TAT, which
        tells how many could be granted, or how long to wait, without another request.
        """
        key = keys.bucket(scope)
        want = max(1, min(n, available(rate, None, now_us, lane)))
        for _ in range(3):
            limit = lane_limit_us(rate, now_us, lane, want)
            idle = ("SET tat = :next", "attribute_not_exists(tat) OR tat <= :now",
                    {":next": now_us + want * rate.interval_us, ":now": now_us})
            busy = ("SET tat = tat + :i", "tat > :now AND tat <= :limit",
                    {":i": want * rate.interval_us, ":now": now_us, ":limit": limit})
            retry_with = 0
            for case in ((busy, idle) if self._busy.get(scope) else (idle, busy)):
                expression, condition, values = case
                ok, old = self.table.update(*key, expression, condition=condition, values=values, return_old_on_failure=True)
                if ok:
                    self._busy[scope] = case is busy
                    return want, 0
                tat = int(old["tat"]) if old and "tat" in old else None
                if tat is not None and tat > limit:
                    self._busy[scope] = True
                    can = available(rate, tat, now_us, lane)
                    if can == 0:
                        return 0, wait_us(rate, tat, now_us, lane)
                    retry_with = min(want - 1, can)
                    break
            if retry_with:
                want = retry_with
        return 0, 1  # lost races on every try: the caller waits the shortest delay and tries again
