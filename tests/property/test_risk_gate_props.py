"""Properties of the risk gate's reservations under arbitrary concurrency.

Any number of concurrent intents, interleaved at every await point in any order, never reserve
more than the daily cap, never pass one above the per-trade cap; sells never draw the cap; a
release gives back exactly what was reserved.
"""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.clock import SimClock
from kashbot.engine.events import OrderIntent, Side
from kashbot.risk.gate import Approval, RiskGate
from kashbot.risk.limits import Limits

U = 1_000_000

intents_st = st.lists(
    st.tuples(
        st.integers(1, 700),  # USDC, sometimes above the free tier's 500 per-trade cap
        st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
        st.booleans(),  # closing
        st.integers(0, 5),  # yields before check
        st.integers(0, 5),  # yields before the venue "answers"
        st.booleans(),  # accepted (commit) or refused (release)
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    intents=intents_st,
    daily=st.integers(1, 1_000),
    per_trade=st.integers(1, 500),
)
def test_concurrent_intents_never_overspend(
    intents: list[tuple[int, Side, bool, int, int, bool]], daily: int, per_trade: int
) -> None:
    clock = SimClock()
    gate = RiskGate(
        Limits.for_tier("free", daily_cap=daily * U, per_trade_cap=per_trade * U),
        clock=clock,
    )
    violations: list[str] = []

    def invariant() -> None:
        used = gate.ledger.used(clock.now())
        if used > daily * U:
            violations.append(f"used {used} > cap {daily * U}")

    async def one(
        n: int, amount: int, side: Side, closing: bool, y1: int, y2: int, ok: bool
    ) -> None:
        for _ in range(y1):
            await asyncio.sleep(0)
        intent = OrderIntent(f"i{n}", "s", "m", 0, side, amount * U, closing=closing)
        before = gate.ledger.used(clock.now())
        verdict = gate.check(intent)
        invariant()
        if not isinstance(verdict, Approval):
            assert gate.ledger.used(clock.now()) == before
            return
        if verdict.intent.amount > per_trade * U:
            violations.append("approved above the per-trade cap")
        if side is Side.SELL and verdict.daily_draw != 0:
            violations.append("a sell drew the daily cap")
        if side is Side.SELL:
            assert gate.ledger.used(clock.now()) == before
        for _ in range(y2):
            await asyncio.sleep(0)
        if ok:
            gate.commit(verdict)
        else:
            held = gate.ledger.used(clock.now())
            assert gate.release(verdict) == verdict.daily_draw
            assert gate.ledger.used(clock.now()) == held - verdict.daily_draw
        invariant()

    async def main() -> None:
        await asyncio.gather(*(one(n, *args) for n, args in enumerate(intents)))

    asyncio.run(main())
    assert violations == []
    # once everything is settled, only accepted buys remain on the ledger
    accepted_buys = sum(e.amount for e in gate.ledger.entries() if e.committed)
    assert accepted_buys == gate.ledger.used(clock.now()) <= daily * U


@settings(max_examples=100, deadline=None)
@given(amounts=st.lists(st.integers(1, 500), min_size=1, max_size=30))
def test_release_restores_headroom_exactly(amounts: list[int]) -> None:
    gate = RiskGate(Limits.for_tier("free"), clock=SimClock())
    now = gate.clock.now()
    approvals = []
    for n, a in enumerate(amounts):
        v = gate.check(OrderIntent(f"i{n}", "s", "m", 0, Side.BUY, a * U))
        if isinstance(v, Approval):
            approvals.append(v)
    assert gate.ledger.used(now) == sum(a.daily_draw for a in approvals) <= 1_000 * U
    for a in approvals:
        gate.release(a)
    assert gate.ledger.used(now) == 0
    assert gate.total_exposure() == 0
