"""RedisSpendLedger against a real redis-server: one cap, many daemons, crashes and outages."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis_server import RedisServer
from shared_redis_support import clients

from kashbot.risk.ledger import LedgerError, SpendEntry
from kashbot.shared.redis_client import SharedStateUnavailable, scope_id
from kashbot.shared.redis_ledger import RedisSpendLedger

WORKER = Path(__file__).with_name("ledger_worker.py")
API_KEY = "kash_live_0123456789abcdef-secret"


async def test_reserve_commit_release_used(redis_url: str, redis_prefix: str) -> None:
    async with clients(redis_url, redis_prefix, 1) as (r,):
        led = RedisSpendLedger(r, API_KEY, window_s=100.0, rejoin_grace_s=0.0)
        assert await led.reserve_within_cap("a", 30, 100, 1.0)
        assert not await led.reserve_within_cap("b", 80, 100, 1.0)
        assert await led.reserve_within_cap("b", 70, 100, 1.0)
        assert await led.reserve_within_cap("b", 70, 100, 1.5)  # a repeated grant: idempotent
        with pytest.raises(LedgerError):
            await led.reserve_within_cap("b", 5, 100, 1.5)  # same id, other amount
        assert await led.used(2.0) == 100
        assert await led.commit("a", 3.25) == SpendEntry("a", 30, 3.25, committed=True)
        assert await led.get("b") == SpendEntry("b", 70, 1.0, committed=False)
        assert await led.next_expiry(4.0) == 103.25
        assert await led.release("b") == 70
        with pytest.raises(LedgerError):
            await led.release("nope")
        with pytest.raises(LedgerError):
            await led.commit("nope", 5.0)
        assert await led.entries() == [SpendEntry("a", 30, 3.25, committed=True)]
        assert await led.used(103.25) == 0  # ts <= now - window: out, as in SpendLedger
        assert await led.entries() == []
        names = await r.client.keys(f"{redis_prefix}:*")
        assert names and all(scope_id(API_KEY) in n and API_KEY not in n for n in names)


async def test_four_clients_never_exceed_the_cap(redis_url: str, redis_prefix: str) -> None:
    cap, peak = 100, 0
    async with clients(redis_url, redis_prefix, 5) as rs:
        ledgers = [RedisSpendLedger(r, API_KEY, rejoin_grace_s=0.0) for r in rs]
        stop = asyncio.Event()

        async def daemon(i: int, led: RedisSpendLedger) -> tuple[int, int]:
            rng, held, grants, denials = random.Random(i), [], 0, 0
            for n in range(120):
                if held and rng.random() < 0.3:
                    await led.release(held.pop(rng.randrange(len(held))))
                elif await led.reserve_within_cap(f"{i}-{n}", rng.randint(1, 9), cap, time.time()):
                    held.append(f"{i}-{n}")
                    grants += 1
                else:
                    denials += 1
            return grants, denials

        async def monitor(led: RedisSpendLedger) -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, await led.used(time.time()))
                await asyncio.sleep(0)

        watch = asyncio.create_task(monitor(ledgers[4]))
        counts = await asyncio.gather(*(daemon(i, ledgers[i]) for i in range(4)))
        stop.set()
        await watch
        final = await ledgers[4].used(time.time())
        assert peak <= cap and final <= cap
        # a denial means used > cap - 9 then: they did fill it, the cap stopped them
        assert sum(g for g, _ in counts) > 40 and sum(d for _, d in counts) > 0
        assert final == sum(e.amount for e in await ledgers[4].entries())


def test_four_processes_never_exceed_the_cap(redis_url: str, redis_prefix: str) -> None:
    cap = 150
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), redis_url, redis_prefix, API_KEY, str(cap), "80", str(i)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]

    async def go_and_watch() -> tuple[int, int]:
        async with clients(redis_url, redis_prefix, 1) as (r,):
            led, peak = RedisSpendLedger(r, API_KEY, rejoin_grace_s=0.0), 0
            await r.command("go", "SET", f"{redis_prefix}:go", "1")
            while any(p.poll() is None for p in procs):
                peak = max(peak, await led.used(time.time()))
                await asyncio.sleep(0.002)
            return peak, await led.used(time.time())

    try:
        peak, final = asyncio.run(go_and_watch())
        outs = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert all(p.returncode == 0 for p in procs)
    held = sum(sum(o["held"].values()) for o in outs)
    assert peak <= cap and held == final <= cap
    assert sum(o["denials"] for o in outs) > 0  # used > cap - 9 at a denial: they contended


async def test_a_crashed_holders_reservation_expires_by_its_lease(
    redis_url: str, redis_prefix: str
) -> None:
    async with clients(redis_url, redis_prefix, 3) as (a, b, c):
        crashed = RedisSpendLedger(a, API_KEY, lease_s=0.3, rejoin_grace_s=0.0)
        alive = RedisSpendLedger(b, API_KEY, lease_s=0.3, rejoin_grace_s=0.0)
        other = RedisSpendLedger(c, API_KEY, lease_s=0.3, rejoin_grace_s=0.0)
        now = time.time()
        assert await crashed.reserve_within_cap("gone", 60, 100, now)
        assert await alive.reserve_within_cap("live", 40, 100, now)
        await a.aclose()  # the holder dies without releasing
        keeper = asyncio.create_task(alive.keep_alive(every_s=0.05))
        try:
            assert not await other.reserve_within_cap("x", 10, 100, time.time())
            await asyncio.sleep(0.45)
            assert await other.used(time.time()) == 40  # only the renewed one is left
            assert await other.reserve_within_cap("x", 60, 100, time.time())
        finally:
            keeper.cancel()
        assert await alive.renew(["live"]) == {"live"}


async def test_commit_after_a_lapsed_lease_still_records_the_trade(
    redis_url: str, redis_prefix: str
) -> None:
    async with clients(redis_url, redis_prefix, 1) as (r,):
        led = RedisSpendLedger(r, API_KEY, lease_s=0.1, rejoin_grace_s=0.0)
        assert await led.reserve_within_cap("slow", 25, 100, 10.0)
        await asyncio.sleep(0.2)
        assert await led.renew(led.held()) == set()  # lapsed: not revived
        assert await led.commit("slow", 11.0) == SpendEntry("slow", 25, 11.0, committed=True)
        assert await led.used(12.0) == 25


async def test_redis_killed_mid_run_fails_closed_then_recovers(
    private_redis: RedisServer, redis_prefix: str
) -> None:
    async with clients(private_redis.url, redis_prefix, 2, timeout_s=0.5) as (a, b):
        led = RedisSpendLedger(a, API_KEY, rejoin_grace_s=0.3)
        peer = RedisSpendLedger(b, API_KEY, rejoin_grace_s=0.3)
        await led.join()
        await asyncio.sleep(0.35)  # a fresh ledger holds buys for the grace too
        now = time.time()
        assert await led.reserve_within_cap("before", 40, 100, now)
        await led.commit("before", now)
        assert await peer.reserve_within_cap("peer", 30, 100, now)

        private_redis.kill()
        for call in (
            led.reserve_within_cap("during", 1, 100, now),
            led.used(now),
            led.commit("before", now),
            led.entries(),
        ):
            with pytest.raises(SharedStateUnavailable):
                await call
        assert led.held() == []  # nothing was granted while Redis was down

        private_redis.start()  # empty: no persistence in tests
        with pytest.raises(SharedStateUnavailable, match="holding"):
            await led.reserve_within_cap("early", 1, 100, time.time())
        assert await peer.used(time.time()) == 70  # both brought their own entries back
        await asyncio.sleep(0.35)
        assert not await led.reserve_within_cap("too-much", 31, 100, time.time())
        assert await led.reserve_within_cap("after", 30, 100, time.time())
        assert await peer.used(time.time()) == 100
