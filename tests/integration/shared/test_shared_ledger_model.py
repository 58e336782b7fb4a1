"""The ledger's Redis scripts agree with the in-process SpendLedger on any sequence of operations.

Time only moves forward (one shared wall clock); calls that take ``now`` tidy on the server
before they act, so the model is pruned at the same moments. Leases here never lapse.
"""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import RedisServer
from shared_redis_support import clients

from kashbot.risk.ledger import LedgerError, SpendLedger
from kashbot.shared.redis_ledger import RedisSpendLedger

WINDOW = 100.0

ids = st.sampled_from(["a", "b", "c"])
# steps that add up to the window exactly: off-by-ones live at ts == now - window
steps = st.sampled_from([0.0, 0.0, 0.25, 25.0, 50.0, 100.0, 150.0])
caps = st.sampled_from([0, 40, 120, 2**52])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), ids, st.integers(0, 50), caps, steps),
        st.tuples(st.just("commit"), ids, st.just(0), st.just(0), steps),
        st.tuples(st.just("release"), ids, st.just(0), st.just(0), steps),
        st.tuples(st.just("used"), ids, st.just(0), st.just(0), steps),
        st.tuples(st.just("prune"), ids, st.just(0), st.just(0), steps),
        st.tuples(st.just("next_expiry"), ids, st.just(0), st.just(0), steps),
        st.tuples(st.just("entries"), ids, st.just(0), st.just(0), steps),
    ),
    max_size=40,
)


async def _raises(call: object) -> bool:
    try:
        await call  # type: ignore[misc]
    except LedgerError:
        return True
    return False


async def _run(url: str, seq: list[tuple[str, str, int, int, float]]) -> None:
    async with clients(url, f"m{uuid.uuid4().hex[:12]}", 1) as (r,):
        led = RedisSpendLedger(r, "key", window_s=WINDOW, lease_s=1e6, rejoin_grace_s=0.0)
        model, now = SpendLedger(window_s=WINDOW), 1000.0
        for op, k, amount, cap, step in seq:
            now += step
            if op in ("reserve", "commit", "used"):
                model.prune(now)  # the server tidies at this ``now`` before it acts
            mine = model.get(k)
            if op == "reserve":
                if mine is None:
                    fits = model.used(now) + amount <= cap
                    assert await led.reserve_within_cap(k, amount, cap, now) == fits
                    if fits:
                        model.reserve(k, amount, now)
                elif not mine.committed and mine.amount == amount:
                    assert await led.reserve_within_cap(k, amount, cap, now)  # idempotent
                else:
                    assert await _raises(led.reserve_within_cap(k, amount, cap, now))
            elif op == "commit":
                if mine is None:
                    assert await _raises(led.commit(k, now))
                else:
                    assert await led.commit(k, now) == model.commit(k, now)
            elif op == "release":
                if mine is None:
                    assert await _raises(led.release(k))
                else:
                    assert await led.release(k) == model.release(k)
            elif op == "used":
                assert await led.used(now) == model.used(now)
            elif op == "prune":
                assert sorted(await led.prune(now)) == sorted(model.prune(now))
            elif op == "next_expiry":
                assert await led.next_expiry(now) == model.next_expiry(now)
            else:
                assert sorted(await led.entries(), key=str) == sorted(model.entries(), key=str)
        assert await led.used(now) == model.used(now)


@settings(max_examples=120, deadline=None)
@given(ops)
def test_redis_ledger_matches_spend_ledger(
    redis_server: RedisServer, seq: list[tuple[str, str, int, int, float]]
) -> None:
    asyncio.run(_run(redis_server.url, seq))
