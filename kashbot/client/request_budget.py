"""The request budget: one leaky bucket per Kash *user*, shared by every client of that user.

The venue limits requests per user (all keys of a user share one quota, §4): a sliding 60 s
window on reads, a token bucket on trade writes. We never want to meet a 429, so:

* the bucket refills at ``share × limit`` per minute and holds at most
  ``burst = limit − share × limit − 1`` tokens. In any 60 s window we can then send at most
  ``burst + share × limit < limit`` requests, which keeps a sliding window (the strictest of the
  server's algorithms) from ever refusing us, while sustained load still gets ``share`` of it;
* writes come first: a read takes a token only while ``read_reserve`` more remain for writes,
  and never while a write is waiting, so order traffic never starves behind polling;
* the server's word wins: a real 429 (``Retry-After``) or ``X-RateLimit-Remaining: 0`` pauses
  every caller of that user until the reset. ``503 RATE_LIMIT_UNAVAILABLE`` (a limiter blip) and
  other 503s are not quota signals and are ignored here (the client backs off on its own).

The buckets read ``loop.time()``, so the budget runs in whatever time the event loop keeps: real
time in production, virtual time under a loop whose ``time()`` is virtual (see the tests).
``time_scale`` (venue seconds per loop second) is only for a venue whose *rate windows* run
faster than the loop. ``kashbot.sim``'s ``time_scale`` does not speed up its rate windows (they
stay on the venue clock, wall time under ``run_sim``), so a budget for it keeps ``time_scale=1``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass
from typing import TypedDict, Unpack

from kashbot.client.ratelimit import RateLimitState
from kashbot.tiers import TIER_DEFAULTS, Tier

WINDOW_S = 60.0


def safe_burst(limit: int, rate_per_window: float) -> int:
    """Largest bucket that keeps ``burst + rate`` strictly under ``limit`` per window (≥ 1)."""
    return max(1, math.floor(limit - rate_per_window) - 1)


def max_budget_share(limit: int) -> float:
    """The largest ``share`` of a ``limit``/min quota that keeps ``burst + rate < limit``.

    The bucket needs at least one token of burst and one of headroom below the limit, so
    ``share × limit ≤ limit − 2``: 0.9667 for a free key's 60/min, 0.9933 for 300/min.
    """
    return (limit - 2) / limit


class BudgetSizing(TypedDict, total=False):
    """The sizing keywords every user budget takes (``UserBudget``, ``RedisUserBudget``,
    ``BudgetRegistry.get``); their defaults are :class:`BudgetBase`'s, in one place."""

    share: float
    write_requests_per_min: int | None
    read_reserve: int
    time_scale: float
    max_pause_s: float


@dataclass(frozen=True, slots=True)
class BudgetStats:
    """For the status view: what we used, what we allow ourselves, what the server says."""

    used_last_window: int
    limit: int  # the server's per-minute quota
    budget: float  # share × limit: our sustained rate per minute
    server_remaining: int | None
    paused_for_s: float
    quota_rejections: int  # real 429s seen (should stay 0)
    writes_waiting: int


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """A bucket's sizing: ``burst + rate < limit`` in any window (see the module docstring)."""

    limit: int
    rate_per_window: float
    burst: int
    rate_per_s: float

    @classmethod
    def of(cls, limit: int, share: float, window_s: float) -> BucketSpec:
        rate = share * limit
        return cls(limit, rate, safe_burst(limit, rate), rate / window_s)


def quota_pause(state: RateLimitState) -> float | None:
    """Seconds the server asks every caller to hold (None: no pause) after a response.

    A real 429 waits ``Retry-After``, else until the reset, else 1 s; ``Remaining: 0`` waits until
    the reset. Callers skip non-quota 503s first (:meth:`BudgetBase.observe`).
    """
    if state.quota_exhausted:
        pause = state.retry_after_s
        if pause is None and state.reset_epoch_s is not None:
            pause = state.reset_epoch_s - state.observed_at
        return 1.0 if pause is None else pause
    if state.remaining == 0 and state.reset_epoch_s is not None:
        return state.reset_epoch_s - state.observed_at
    return None


class _Bucket:
    """A leaky bucket on the loop's clock that can say *when* it will have room.

    Owned, not aiolimiter's ``AsyncLimiter``: its public API answers "is there room now"
    (``has_capacity``) but not "how long until there is", and the budget must sleep exactly that
    long (one wake-up, exact under a virtual-time loop) while it orders writes before reads
    itself, so the limiter's own waiter queue was never used. Its arithmetic is kept: the level
    drains at ``burst / period`` per second since the last look, ``period = burst / rate_per_s``.
    """

    def __init__(self, spec: BucketSpec) -> None:
        self.burst = spec.burst
        self.rate_per_s = spec.rate_per_s
        self._drain_per_s = self.burst / (self.burst / self.rate_per_s)
        self._level = 0.0
        self._last = 0.0

    def _leak(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._level:
            self._level = max(self._level - (now - self._last) * self._drain_per_s, 0.0)
        self._last = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` more fits (0.0: it fits now)."""
        self._leak()
        if self._level + amount <= self.burst:
            return 0.0
        return max(0.0, (self._level + amount - self.burst) / self.rate_per_s)

    def take(self, amount: float) -> None:
        """Take ``amount`` now; the caller has just seen ``wait_for(amount) == 0``."""
        self._leak()
        self._level += amount


class BudgetBase:
    """What every user budget shares, wherever its bucket lives: the sizing (``_main``,
    ``_writes``), the read reserve, learning from the server's headers and the status view.

    Subclasses acquire tokens; :meth:`_pause` and :meth:`_shrink` are their hooks for holding
    every caller and adopting a smaller quota.
    """

    def __init__(
        self,
        requests_per_min: int,
        *,
        share: float = 0.95,
        write_requests_per_min: int | None = None,
        read_reserve: int = 1,
        time_scale: float = 1.0,
        max_pause_s: float = 300.0,
    ) -> None:
        if requests_per_min < 3:
            raise ValueError("requests_per_min: must be >= 3")
        for limit in (requests_per_min, write_requests_per_min):
            if limit is not None and not 0.0 < share <= max_budget_share(limit):
                raise ValueError(
                    f"share: must be in (0, {max_budget_share(limit):.4f}] for {limit} requests/min"
                    f" (burst + share × limit must stay under the limit)"
                )
        if time_scale <= 0:
            raise ValueError("time_scale: must be > 0")
        if read_reserve < 0:
            raise ValueError("read_reserve: must be >= 0")
        self.share = share
        self.time_scale = time_scale
        self.window_s = WINDOW_S / time_scale
        self.max_pause_s = max_pause_s
        self._main = BucketSpec.of(requests_per_min, share, self.window_s)
        self._writes = (
            BucketSpec.of(write_requests_per_min, share, self.window_s)
            if write_requests_per_min is not None
            else None
        )
        # a read must leave this many tokens for writes; capped so reads can still go at all
        self.read_reserve = min(read_reserve, self._main.burst - 1)
        self._read_lock = asyncio.Lock()  # reads queue FIFO behind each other
        self._writes_waiting = 0
        self._paused_until = 0.0  # loop time
        self._sent: deque[float] = deque()
        self.server_remaining: int | None = None
        self.quota_rejections = 0

    @property
    def limit(self) -> int:
        return self._main.limit

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _read_need(self) -> int:
        """Tokens a read needs in the main bucket: with one bucket, it leaves the reserve."""
        return 1 + (self.read_reserve if self._writes is None else 0)

    def observe(self, state: RateLimitState) -> None:
        """Learn from the server's headers; pause on a real 429 or Remaining == 0."""
        if state.status == 503 and not state.quota_exhausted:
            return  # RATE_LIMIT_UNAVAILABLE, kill switches, outages: not a quota signal
        if state.remaining is not None:
            self.server_remaining = state.remaining
        if state.limit is not None and 3 <= state.limit < self._main.limit:
            self._shrink(state.limit)
        if state.quota_exhausted:
            self.quota_rejections += 1
        pause = quota_pause(state)
        if pause is not None and pause > 0:
            self._pause(min(pause, self.max_pause_s) / self.time_scale)

    def _pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` of loop time (a later deadline never moves back)."""
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def _shrink(self, limit: int) -> None:
        """The server reports a smaller quota than configured: adopt it.

        The new bucket starts empty, so hold everyone for the time a full one takes to drain:
        that sends no more than a full bucket would have.
        """
        self._main = BucketSpec.of(limit, min(self.share, max_budget_share(limit)), self.window_s)
        self.read_reserve = min(self.read_reserve, self._main.burst - 1)
        self._pause(self._main.burst / self._main.rate_per_s)

    def stats(self) -> BudgetStats:
        """This process's view: its own sends and pause."""
        try:
            now: float | None = self._now()
        except RuntimeError:
            now = None
        if now is not None:
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
        return BudgetStats(
            used_last_window=len(self._sent),
            limit=self._main.limit,
            budget=self._main.rate_per_window,
            server_remaining=self.server_remaining,
            paused_for_s=max(0.0, self._paused_until - now) if now is not None else 0.0,
            quota_rejections=self.quota_rejections,
            writes_waiting=self._writes_waiting,
        )


class UserBudget(BudgetBase):
    """``kashbot.client.ratelimit.RequestBudget`` for one Kash user; see the module docstring."""

    def __init__(self, requests_per_min: int, **sizing: Unpack[BudgetSizing]) -> None:
        super().__init__(requests_per_min, **sizing)
        self._main_bucket = _Bucket(self._main)
        self._write_bucket = _Bucket(self._writes) if self._writes is not None else None

    async def acquire(self, route: str, *, write: bool) -> None:
        if write:
            await self._acquire_write()
        else:
            await self._acquire_read()
        self._sent.append(self._now())

    async def _acquire_write(self) -> None:
        bucket = self._write_bucket or self._main_bucket
        self._writes_waiting += 1
        try:
            while True:
                await self._wait_pause()
                wait = bucket.wait_for(1)
                if wait == 0.0 and not self._paused():
                    bucket.take(1)
                    return
                await asyncio.sleep(max(wait, 1e-3))
        finally:
            self._writes_waiting -= 1

    async def _acquire_read(self) -> None:
        need = self._read_need()
        async with self._read_lock:  # reads queue FIFO behind each other
            while True:
                await self._wait_pause()
                writes = self._writes_waiting if self._writes is None else 0
                wait = self._main_bucket.wait_for(need + writes)  # let waiting writes go first
                if wait == 0.0 and not self._paused():
                    self._main_bucket.take(1)
                    return
                await asyncio.sleep(max(wait, 1e-3))

    def _paused(self) -> bool:
        return self._now() < self._paused_until

    async def _wait_pause(self) -> None:
        # a deadline, not an event: another 429 may push it later while we sleep
        while self._paused():  # noqa: ASYNC110
            await asyncio.sleep(self._paused_until - self._now())

    def _shrink(self, limit: int) -> None:
        super()._shrink(limit)
        self._main_bucket = _Bucket(self._main)


def tier_requests_per_min(tier: Tier | str, configured: int | None = None) -> int:
    """The tier's per-minute quota (§4); enterprise and mm have none published: configure it."""
    t = Tier(tier)
    if configured is not None:
        return configured
    value = TIER_DEFAULTS[t].requests_per_min
    if value is None:
        raise ValueError(f"requests_per_min: required for the {t} tier (custom, admin-set)")
    return value


class BudgetRegistry:
    """One :class:`UserBudget` per Kash user id in this process (keys of a user share it)."""

    def __init__(self) -> None:
        self._budgets: dict[str, UserBudget] = {}

    def get(
        self,
        user_id: str,
        *,
        tier: Tier | str,
        requests_per_min: int | None = None,
        **sizing: Unpack[BudgetSizing],
    ) -> UserBudget:
        """The user's budget, created on first use; later callers get the same object."""
        budget = self._budgets.get(user_id)
        if budget is None:
            budget = UserBudget(tier_requests_per_min(tier, requests_per_min), **sizing)
            self._budgets[user_id] = budget
        return budget

    def stats(self) -> dict[str, BudgetStats]:
        return {user: b.stats() for user, b in self._budgets.items()}
