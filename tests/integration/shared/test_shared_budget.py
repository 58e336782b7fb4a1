"""RedisUserBudget against a real redis-server: one bucket and one pause for every client."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis_server import RedisServer
from shared_redis_support import clients

from kashbot.client.ratelimit import RateLimitState
from kashbot.client.request_budget import UserBudget
from kashbot.shared.redis_budget import RedisUserBudget
from kashbot.shared.redis_client import SharedStateUnavailable

USER = "user-42"
# 10 requests per 1 s window (time_scale 60), half of it ours: burst 4, 5 tokens/s
LIMIT, SHARE, SCALE = 10, 0.5, 60.0


def too_many(retry_after_s: float) -> RateLimitState:
    return RateLimitState(
        limit=None,
        remaining=0,
        reset_epoch_s=None,
        retry_after_s=retry_after_s,
        status=429,
        quota_exhausted=True,
        observed_at=time.time(),
    )


async def test_four_clients_share_one_bucket(redis_url: str, redis_prefix: str) -> None:
    async with clients(redis_url, redis_prefix, 4) as rs:
        budgets = [RedisUserBudget(r, USER, LIMIT, share=SHARE, time_scale=SCALE) for r in rs]
        spec, window = budgets[0]._main, budgets[0].window_s
        sent: list[float] = []
        t0 = time.monotonic()
        run_s = 2.5

        async def client(i: int, b: RedisUserBudget) -> None:
            n = 0
            while time.monotonic() - t0 < run_s:
                await b.acquire("POST /v1/trades", write=(n + i) % 2 == 0)
                sent.append(time.monotonic())
                n += 1

        await asyncio.gather(*(client(i, b) for i, b in enumerate(budgets)))
        elapsed = time.monotonic() - t0
        ceiling = spec.burst + spec.rate_per_s * elapsed
        assert len(sent) <= ceiling + 1  # one bucket for all, not four
        assert len(sent) >= 0.7 * (spec.burst + spec.rate_per_s * run_s)  # and it is used
        sent.sort()
        busiest = max(sum(1 for t in sent if s <= t < s + window) for s in sent)
        assert busiest < LIMIT  # no window of the server's ever sees the limit


async def test_a_429_seen_by_one_client_pauses_all(redis_url: str, redis_prefix: str) -> None:
    async with clients(redis_url, redis_prefix, 2) as (ra, rb):
        a = RedisUserBudget(ra, USER, 60, share=0.5)
        b = RedisUserBudget(rb, USER, 60, share=0.5)
        await b.acquire("GET /v1/markets", write=False)  # not paused yet
        a.observe(too_many(0.4))
        await a.flush()
        assert b.stats().paused_for_s == 0.0  # b never saw the 429 itself
        with pytest.raises(TimeoutError):  # yet b is paused: the shared pause holds it
            async with asyncio.timeout(0.1):
                await b.acquire("POST /v1/trades", write=True)
        async with asyncio.timeout(10):  # and goes once the pause is over
            await b.acquire("POST /v1/trades", write=True)
        assert a.stats().quota_rejections == 1


async def test_reads_leave_the_reserve_and_step_aside_for_waiting_writes(
    redis_url: str, redis_prefix: str
) -> None:
    async with clients(redis_url, redis_prefix, 2) as (ra, rb):
        reader = RedisUserBudget(ra, USER, LIMIT, share=SHARE, time_scale=SCALE, read_reserve=1)
        writer = RedisUserBudget(rb, USER, LIMIT, share=SHARE, time_scale=SCALE, read_reserve=1)
        waiters = reader._k_waiters
        # three other daemons' writes are waiting: a read needs 1 + reserve 1 + 3 > burst 4
        await ra.client.zadd(waiters, {"w1": 1e12, "w2": 1e12, "w3": 1e12})
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await reader.acquire("GET /v1/markets", write=False)
        # writes do not wait for reads: with those waiters a read never gets through, a write does
        async with asyncio.timeout(10):
            await writer.acquire("POST /v1/trades", write=True)
        await ra.client.delete(waiters)
        await reader.acquire("GET /v1/markets", write=False)


async def test_unreachable_redis_raises_or_falls_back(
    private_redis: RedisServer, redis_prefix: str
) -> None:
    async with clients(private_redis.url, redis_prefix, 2, timeout_s=0.5) as (ra, rb):
        strict = RedisUserBudget(ra, USER, 60)
        lenient = RedisUserBudget(rb, USER, 60, fallback=UserBudget(60, share=0.2))
        await strict.acquire("GET /v1/markets", write=False)
        private_redis.kill()
        with pytest.raises(SharedStateUnavailable):
            await strict.acquire("GET /v1/markets", write=False)
        await lenient.acquire("POST /v1/trades", write=True)  # the in-process budget decides
        strict.observe(too_many(0.1))  # still pauses locally; publishing fails quietly
        await strict.flush()
        assert strict.stats().paused_for_s > 0
        private_redis.start()
        await asyncio.sleep(0.15)
        await strict.acquire("GET /v1/markets", write=False)
