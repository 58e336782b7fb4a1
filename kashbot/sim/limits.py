"""Request limits and spending caps, pure and clock-free (callers pass ``now``).

Reads use a sliding window per user, writes a token bucket per user (capacity = the tier's
per-minute limit, refilled at limit/60 per second), as §4 describes. Spending caps are per key:
per trade and a rolling-24h *buy* volume (sells never draw it).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from kashbot.money import Atomic

WINDOW_S = 60.0
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class LimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch_s: int  # when Remaining next refills (X-RateLimit-Reset)
    retry_after_s: int  # only meaningful when not allowed


class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds."""

    def __init__(self, limit: int, window: float = WINDOW_S) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.window:
            self._hits.popleft()

    def hit(self, now: float) -> LimitDecision:
        self._expire(now)
        if len(self._hits) >= self.limit:
            free_at = self._hits[0] + self.window
            return LimitDecision(
                False, self.limit, 0, math.ceil(free_at), max(1, math.ceil(free_at - now))
            )
        self._hits.append(now)
        reset = self._hits[0] + self.window
        return LimitDecision(True, self.limit, self.limit - len(self._hits), math.ceil(reset), 0)


class TokenBucket:
    """Capacity ``limit`` tokens, refilled continuously at ``limit / window`` per second."""

    def __init__(self, limit: int, window: float = WINDOW_S) -> None:
        self.limit = limit
        self.rate = limit / window
        self._tokens = float(limit)
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(float(self.limit), self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def hit(self, now: float) -> LimitDecision:
        self._refill(now)
        if self._tokens < 1.0:
            wait = (1.0 - self._tokens) / self.rate
            return LimitDecision(
                False, self.limit, 0, math.ceil(now + wait), max(1, math.ceil(wait))
            )
        self._tokens -= 1.0
        full_in = (self.limit - self._tokens) / self.rate
        return LimitDecision(True, self.limit, int(self._tokens), math.ceil(now + full_in), 0)


@dataclass(slots=True)
class _Draw:
    ts: float
    trade_id: str
    amount: Atomic
    live: bool = True  # False once refunded


class RollingVolume:
    """Rolling-24h buy volume of one key. Entries are refunded when a trade never executes.

    Keeps a running sum, so ``used`` costs O(entries that expire now) instead of a sum over the
    whole window: entries sit in arrival order, a refund marks them dead and takes their amount
    off, expiry pops from the left. As before, ``used`` assumes time does not go backwards
    (what has expired is dropped).
    """

    def __init__(self, window: float = DAY_S) -> None:
        self.window = window
        self._entries: deque[_Draw] = deque()
        self._by_trade: dict[str, list[_Draw]] = {}  # live entries per trade, arrival order
        self._sum: Atomic = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        entries = self._entries
        while entries and entries[0].ts <= horizon:
            d = entries.popleft()
            if d.live:
                self._sum -= d.amount
                mine = self._by_trade[d.trade_id]
                mine.pop(0)  # the trade's oldest live entry is the one leaving
                if not mine:
                    del self._by_trade[d.trade_id]

    def used(self, now: float) -> Atomic:
        self._expire(now)
        return self._sum

    def add(self, now: float, trade_id: str, amount: Atomic) -> None:
        d = _Draw(now, trade_id, amount)
        self._entries.append(d)
        self._by_trade.setdefault(trade_id, []).append(d)
        self._sum += amount

    def refund(self, trade_id: str) -> None:
        for d in self._by_trade.pop(trade_id, ()):
            d.live = False
            self._sum -= d.amount
