"""The request budget of one Kash user, shared by every daemon of that user through Redis.

Same sizing, priorities and header handling as :class:`kashbot.client.request_budget.UserBudget`
(both are a :class:`~kashbot.client.request_budget.BudgetBase`; read that module's docstring):
a token bucket of ``safe_burst`` tokens refilled at ``share × limit`` per window, reads leave
``read_reserve`` tokens and every waiting write to writes, and a real 429 or ``Remaining: 0``
pauses every caller. The difference is where the state lives: the bucket, the waiting writes and
the pause are Redis keys changed by the scripts below, on the Redis clock (``TIME``), so all
daemons of a user draw on one bucket and honour one pause.

Runs in real time only (the Redis clock): backtests and virtual-time tests keep ``UserBudget``.
If Redis cannot be reached, ``acquire`` raises :class:`SharedStateUnavailable`, or, given a
``fallback`` budget (e.g. a ``UserBudget`` with a small share), waits on that one instead.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Unpack

import structlog

from kashbot.client.ratelimit import RateLimitState, RequestBudget
from kashbot.client.request_budget import BucketSpec, BudgetBase, BudgetSizing
from kashbot.shared.redis_client import LuaScript, SharedRedis, SharedStateUnavailable, scope_id

log = structlog.get_logger(__name__)

# KEYS: bucket, waiters, pause. ARGV: capacity, rate/s, need, count waiters (0|1),
# waiter id ('' = none), waiter ttl s. Takes one token if ``need`` (+ live waiting writes) are
# there. Reply: granted (1|0), seconds to wait. A missing bucket is a full one (it would have
# refilled by now), so idle buckets expire.
TAKE = LuaScript("""
local BUCKET, WAITERS, PAUSE = KEYS[1], KEYS[2], KEYS[3]
local cap, rate, need = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = tonumber(redis.call('GET', PAUSE) or '0') - now
if wait <= 0 then
  local b = redis.call('HMGET', BUCKET, 'tokens', 'ts')
  local tokens, ts = tonumber(b[1]), tonumber(b[2])
  if tokens == nil or ts == nil then tokens, ts = cap, now end
  tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
  if ARGV[4] == '1' then
    redis.call('ZREMRANGEBYSCORE', WAITERS, '-inf', now)
    need = need + redis.call('ZCARD', WAITERS)
  end
  wait = 0
  if tokens >= need then tokens = tokens - 1 else wait = (need - tokens) / rate end
  redis.call('HSET', BUCKET, 'tokens', string.format('%.9f', tokens),
             'ts', string.format('%.6f', now))
  redis.call('PEXPIRE', BUCKET, math.ceil(cap / rate * 1000) + 60000)
end
if ARGV[5] ~= '' then
  if wait <= 0 then
    redis.call('ZREM', WAITERS, ARGV[5])
  else
    redis.call('ZADD', WAITERS, now + wait + tonumber(ARGV[6]), ARGV[5])
    redis.call('PEXPIRE', WAITERS, math.ceil((wait + tonumber(ARGV[6])) * 1000) + 1000)
  end
end
if wait <= 0 then return {1, '0'} end
return {0, string.format('%.6f', wait)}
""")

# KEYS: pause. ARGV: seconds. Moves the shared pause deadline later, never earlier.
PAUSE = LuaScript("""
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
if untl > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.6f', untl), 'PX', math.ceil(ARGV[1] * 1000) + 1000)
end
return 1
""")


class RedisUserBudget(BudgetBase):
    """A ``RequestBudget`` for one Kash user across processes; ``user_ref`` is hashed."""

    def __init__(
        self,
        redis: SharedRedis,
        user_ref: str,
        requests_per_min: int,
        *,
        waiter_ttl_s: float = 2.0,
        fallback: RequestBudget | None = None,
        wait_unavailable_s: float | None = None,
        **sizing: Unpack[BudgetSizing],
    ) -> None:
        """Redis out of reach: ``acquire`` waits on ``fallback`` if given; else, with
        ``wait_unavailable_s``, tries Redis again that often until it answers (nothing is sent
        meanwhile: the daemon's choice, so a client never sees a non-Kash error); else raises."""
        super().__init__(requests_per_min, **sizing)
        if waiter_ttl_s <= 0:
            raise ValueError("waiter_ttl_s: must be > 0")
        self.redis = redis
        self.waiter_ttl_s = waiter_ttl_s
        self.fallback = fallback
        self.wait_unavailable_s = wait_unavailable_s
        main, writes, waiters, pause = redis.keys(
            "budget", scope_id(user_ref), "main", "writes", "waiters", "pause"
        )
        self._k_main, self._k_writes, self._k_waiters, self._k_pause = main, writes, waiters, pause
        self._ids = (f"{secrets.token_hex(6)}:{n}" for n in itertools.count())
        self._pending: set[asyncio.Task[None]] = set()

    async def acquire(self, route: str, *, write: bool) -> None:
        while True:
            try:
                if write:
                    await self._acquire_write()
                else:
                    async with self._read_lock:  # reads queue FIFO behind each other, per process
                        await self._acquire_read()
                break
            except SharedStateUnavailable as exc:
                if self.fallback is None and self.wait_unavailable_s is None:
                    raise
                # the client's Outage logged the outage once; each retry only at debug
                log.debug("shared_budget_unavailable", route=route, error=str(exc))
                if self.fallback is not None:
                    await self.fallback.acquire(route, write=write)
                    break
                await asyncio.sleep(self.wait_unavailable_s or 0.0)
        self._sent.append(self._now())

    async def _acquire_write(self) -> None:
        self._writes_waiting += 1
        try:
            if self._writes is not None:
                await self._take(self._writes, self._k_writes, 1, waiter="")
            else:  # one bucket: register as a waiting write so reads everywhere step aside
                await self._take(self._main, self._k_main, 1, waiter=next(self._ids))
        finally:
            self._writes_waiting -= 1

    async def _acquire_read(self) -> None:
        await self._take(
            self._main,
            self._k_main,
            self._read_need(),
            waiter="",
            count_waiters=self._writes is None,
        )

    async def _take(
        self, spec: BucketSpec, key: str, need: int, *, waiter: str, count_waiters: bool = False
    ) -> None:
        while True:
            # a deadline, not an event: another 429 may push it later while we sleep
            while (left := self._paused_until - self._now()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(left)
            reply = await self.redis.script(
                "budget take",
                TAKE,
                [key, self._k_waiters, self._k_pause],
                [spec.burst, spec.rate_per_s, need, int(count_waiters), waiter, self.waiter_ttl_s],
            )
            if int(reply[0]) == 1:
                return
            await asyncio.sleep(max(float(reply[1]), 1e-3))

    def observe(self, state: RateLimitState) -> None:
        """Learn from the server's headers; pause here at once and everywhere via Redis."""
        if self.fallback is not None:
            self.fallback.observe(state)
        super().observe(state)

    def _pause(self, seconds: float) -> None:
        super()._pause(seconds)
        task = asyncio.get_running_loop().create_task(self._publish_pause(seconds))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish_pause(self, seconds: float) -> None:
        try:
            await self.redis.script("budget pause", PAUSE, [self._k_pause], [seconds])
        except SharedStateUnavailable as exc:  # we still pause locally
            log.warning("shared_budget_pause_unpublished", error=str(exc))

    async def shared_view(self) -> dict[str, float]:
        """The user's bucket as every daemon sees it: tokens now (refilled), its size, the
        shared pause left (seconds). For the status view; raises SharedStateUnavailable."""
        spec = self._main
        pipe = self.redis.client.pipeline(transaction=True)
        pipe.time()
        pipe.hmget(self._k_main, ["tokens", "ts"])
        pipe.get(self._k_pause)
        (sec, usec), (tokens, ts), pause = await self.redis.run("budget view", pipe.execute())
        now = int(sec) + int(usec) / 1_000_000
        level = float(spec.burst)
        if tokens is not None and ts is not None:
            level = min(level, float(tokens) + max(0.0, now - float(ts)) * spec.rate_per_s)
        return {
            "tokens": round(level, 3),
            "burst": float(spec.burst),
            "rate_per_min": round(spec.rate_per_s * 60, 3),
            "paused_for_s": round(max(0.0, float(pause or 0) - now), 3),
        }

    async def flush(self) -> None:
        """Wait until every pause this instance observed has reached Redis."""
        if self._pending:
            await asyncio.gather(*list(self._pending))
