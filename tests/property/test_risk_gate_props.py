"""Properties of the risk gate's reservations under arbitrary concurrency.

Any number of concurrent intents, interleaved at every await point in any order, never reserve
more than the daily cap, never pass one above the per-trade cap; sells never draw the cap; a
release gives back exactly what was reserved.

The last property drives the real executor and router (in-memory store, fake venue): several
tasks submit intents at random moments; the venue answers each POST at random: created, answer
lost (before or after creating, the trade list lagging behind), a 2xx we cannot parse, refused
before it looked (429, 503), or a definite refusal. Whatever the interleaving, the ledger never
holds more than the daily cap, every trade the venue created is on the ledger (reserved or
committed) and every committed entry is a venue trade, and no intent is sent under two keys.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "execution"))

from exec_fakes import FakeVenue, Step

from kashbot.client.errors import (
    DependencyUnavailable,
    KashValidationError,
    MarketNotTradeable,
    OutcomeUnknownError,
    RateLimitExceeded,
)
from kashbot.client.models import TradeCreated
from kashbot.clock import SimClock
from kashbot.events import OrderIntent, Side
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.risk.gate import Approval, RiskGate, reservation_for
from kashbot.risk.limits import Limits
from kashbot.store.store import Store

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


StepName = Literal["ok", "lost_after", "lost_before", "garbled", "429", "503", "400", "409"]


def step(name: StepName) -> Step:
    if name == "ok":
        return None
    if name == "lost_after":
        return "lost_after_create"
    if name == "lost_before":
        return "lost_before_create"
    if name == "garbled":
        return "garbled_2xx"
    if name == "429":
        return RateLimitExceeded(code="RATE_LIMIT_EXCEEDED", status=429, retry_after=1.0)
    if name == "503":
        return DependencyUnavailable(code="DEPENDENCY_UNAVAILABLE", status=503)
    if name == "400":
        return KashValidationError(code="VALIDATION_FAILED", status=400)
    return MarketNotTradeable(code="MARKET_NOT_TRADEABLE", status=409)


@dataclass
class CheckedVenue(FakeVenue):
    """Checks the cap invariant at every POST, i.e. at every moment money could leave."""

    check: Any = None
    lag: bool = False  # a trade whose answer was lost stays off list_trades for a while

    async def create_trade(self, *args: Any, **kw: Any) -> TradeCreated:
        if self.check is not None:
            self.check()
        before = set(self.trades)
        try:
            return await super().create_trade(*args, **kw)
        except OutcomeUnknownError:
            if self.lag:
                self.unlisted |= set(self.trades) - before
            raise


exec_steps_st = st.lists(
    st.sampled_from(
        [
            "ok",
            "ok",
            "lost_after",
            "lost_after",
            "lost_before",
            "garbled",
            "429",
            "503",
            "400",
            "409",
        ]
    ),
    max_size=80,
)
exec_intents_st = st.lists(
    st.tuples(
        st.integers(1, 520),  # USDC; the free tier's per-trade cap is 500
        st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
        st.integers(0, 6),  # yields before submitting
        st.integers(0, 3),  # market
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=100, deadline=None)
@given(
    intents=exec_intents_st, steps=exec_steps_st, daily=st.integers(20, 1_000), lag=st.booleans()
)
def test_executor_never_overspends_or_double_sends(
    intents: list[tuple[int, Side, int, int]], steps: list[StepName], daily: int, lag: bool
) -> None:
    asyncio.run(_run(intents, steps, daily, lag))


async def _run(
    intents: list[tuple[int, Side, int, int]], steps: list[StepName], daily: int, lag: bool
) -> None:
    clock = SimClock()
    cap = daily * U
    venue = CheckedVenue(faults=[step(s) for s in steps], lag=lag)
    store = await Store.open(":memory:", sync=True)
    gate = RiskGate(
        Limits.for_tier("free", daily_cap=cap), clock=clock, max_consecutive_failures=1_000
    )
    violations: list[str] = []

    def check() -> None:
        used = gate.ledger.used(clock.now())
        if used > cap:
            violations.append(f"ledger {used} > cap {cap}")

    venue.check = check
    settings = ExecutionSettings(reconcile_backoff_s=0.5, reconcile_interval_s=2.0)
    executor = Executor(venue, gate, store, clock=clock, settings=settings)
    router = OrderRouter(gate, venue, store, clock=clock, executor=executor)
    await router.recover()

    async def one(n: int, amount: int, side: Side, yields: int, market: int) -> None:
        for _ in range(yields):
            await asyncio.sleep(0)
        intent = OrderIntent(f"i{n}", "s", f"m{market}", 0, side, amount * U)
        await router.submit(intent)
        check()

    tasks = [asyncio.create_task(one(n, *args)) for n, args in enumerate(intents)]
    # virtual time moves only when every task waits on it (reconcile backoffs, the loop)
    end = None
    while True:
        for _ in range(20):
            await asyncio.sleep(0)
        if end is None and all(t.done() for t in tasks):
            venue.unlisted.clear()  # the trade list catches up
            end = clock.now() + 300.0  # let the reconcile loop settle unknown outcomes
        if end is not None and clock.now() >= end:
            break
        clock.advance(0.5)
    for t in tasks:
        t.result()  # the fake venue's own assertions (duplicate trade, key reuse) surface here
    await router.close()
    await store.close()

    assert violations == []
    keys: dict[str | None, set[str | None]] = defaultdict(set)
    for call in venue.calls:
        keys[call.client_request_id].add(call.idempotency_key)
    assert all(len(k) == 1 for k in keys.values()), "an intent was sent under two keys"
    on_ledger = {e.entry_id: e for e in gate.ledger.entries()}
    venue_trades = {reservation_for(t.client_request_id or ""): t for t in venue.trades.values()}
    for rid, trade in venue_trades.items():
        entry = on_ledger.get(rid)
        assert entry is not None, f"venue trade {trade.id} is not on the ledger"
        draw = int(trade.amount * U) if trade.side == "buy" else 0
        assert entry.amount == draw
    committed = {rid for rid, e in on_ledger.items() if e.committed}
    assert committed <= set(venue_trades), "a committed draw has no venue trade"
    # every other entry is an intent whose outcome is still unknown (it keeps its reservation)
    unknown = {reservation_for(i) for i in executor.unknown_intents}
    assert set(on_ledger) - set(venue_trades) <= unknown
    assert sum(e.amount for e in on_ledger.values()) <= cap
