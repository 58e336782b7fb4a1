"""Bus, state, engine loop and supervisor, against in-process fakes and virtual time."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.engine.bus import Bus, Inbox
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyContext, StrategyParams
from kashbot.engine.supervisor import Supervisor
from kashbot.events import (
    DataFresh,
    Event,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    RiskDenied,
    Side,
    StaleData,
    Timer,
    TradeUpdate,
)
from kashbot.money import WAD

POOL = amm.seed_pool(1_000 * 10**6)


class EveryPrice(Strategy[StrategyParams]):
    """Buys 1 USDC on every price change (a stand-in for any strategy)."""

    name: ClassVar[str] = "every_price"
    handles = (PriceChange,)

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        assert isinstance(event, PriceChange)
        return [OrderIntent("", "", event.market_id, 0, Side.BUY, 1_000_000)]


class FakeRouter:
    """Records intents and answers with a completed TradeUpdate (or a denial)."""

    def __init__(self, engine: Engine, deny: bool = False) -> None:
        self.engine = engine
        self.deny = deny
        self.seen: list[OrderIntent] = []

    async def submit(self, intent: OrderIntent) -> None:
        self.seen.append(intent)
        now = self.engine.clock.now()
        if self.deny:
            self.engine.emit(
                RiskDenied(now, intent.intent_id, intent.strategy, intent.market_id, "X")
            )
            return
        self.engine.emit(
            TradeUpdate(
                now,
                f"t{len(self.seen)}",
                intent.intent_id,
                intent.market_id,
                intent.outcome,
                intent.side,
                intent.amount,
                "completed",
                tokens=2 * WAD,
            )
        )


def price(ts: float, market: str = "m1") -> PriceChange:
    return PriceChange(ts, market, amm.probabilities(POOL), POOL)


def test_bus_dispatches_by_type_and_base_class() -> None:
    bus = Bus()
    got: list[str] = []
    bus.subscribe(PriceChange, lambda e: got.append("price"))
    bus.subscribe(Event, lambda e: got.append(type(e).__name__))
    bus.publish(price(1.0))
    bus.publish(Timer(1.0, "t"))
    assert got == ["price", "PriceChange", "Timer"]


async def test_inbox_wakes_a_sleeping_consumer() -> None:
    inbox = Inbox()
    waiter = asyncio.create_task(inbox.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    inbox.put(Timer(0.0, "x"))
    await asyncio.wait_for(waiter, 1)
    assert len(inbox) == 1


async def test_feed_routes_inline_and_applies_fills_once() -> None:
    clock = SimClock(0.0)
    engine = Engine(clock, inline_intents=True, run_id="r")
    router = FakeRouter(engine)
    engine.attach_router(router)
    engine.add_strategy(EveryPrice(StrategyParams(), strategy_id="s", markets=["m1"]))
    await engine.start()
    clock.advance_to(5.0)
    await engine.feed(price(5.0))
    await engine.feed(price(5.0, market="other"))  # not this strategy's market
    assert [i.intent_id for i in router.seen] == ["s-r-1"]
    assert router.seen[0].created_ts == 5.0 and router.seen[0].strategy == "s"
    assert engine.state.pending == {}
    assert engine.state.position("m1", 0).shares == 2 * WAD
    # the same fill reported again (webhook + poll) moves inventory once
    await engine.feed(
        TradeUpdate(6.0, "t1", "s-r-1", "m1", 0, Side.BUY, 1_000_000, "completed", 2 * WAD)
    )
    assert engine.state.position("m1", 0).shares == 2 * WAD
    assert engine.state.cash_flow == -1_000_000


async def test_denial_clears_pending_and_is_recorded() -> None:
    engine = Engine(SimClock(0.0), inline_intents=True, run_id="r")
    engine.attach_router(FakeRouter(engine, deny=True))
    engine.add_strategy(EveryPrice(StrategyParams(), strategy_id="s"))
    await engine.feed(price(1.0))
    assert engine.state.pending == {}
    assert [d.reason for d in engine.state.denials] == ["X"]


async def test_stale_data_marks_markets_and_reaches_bus_subscribers() -> None:
    engine = Engine(SimClock(0.0), inline_intents=True)
    seen: list[Event] = []
    engine.bus.subscribe(StaleData, seen.append)
    engine.bus.subscribe(DataFresh, seen.append)
    await engine.feed(MarketSnapshot(0.0, "m1", "ACTIVE", (WAD // 2, WAD // 2), POOL))
    await engine.feed(StaleData(1.0, "stream", None, 30.0))
    assert engine.state.markets["m1"].stale
    assert not engine.state.markets["m1"].tradeable(1.0)
    await engine.feed(DataFresh(2.0, "stream", None))
    assert engine.state.markets["m1"].tradeable(2.0)
    assert [type(e).__name__ for e in seen] == ["StaleData", "DataFresh"]


async def test_strategy_exception_is_contained() -> None:
    class Boom(EveryPrice):
        def decide(self, *a: Any) -> list[OrderIntent]:
            raise RuntimeError("bug")

    engine = Engine(SimClock(0.0), inline_intents=True)
    engine.attach_router(FakeRouter(engine))
    engine.add_strategy(Boom(StrategyParams(), strategy_id="b"))
    engine.add_strategy(EveryPrice(StrategyParams(), strategy_id="s"))
    await engine.feed(price(1.0))
    assert engine.strategy_errors == 1
    assert engine.intents_emitted == 1


class ListSource:
    name = "list"

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def run(self, emit: Any) -> None:
        for ev in self.events:
            emit(ev)
            await asyncio.sleep(0)


async def test_run_loop_processes_sources_and_shutdown_follows_inflight() -> None:
    clock = SimClock(0.0)
    engine = Engine(clock, run_id="r")
    gate = asyncio.Event()

    class SlowRouter(FakeRouter):
        async def submit(self, intent: OrderIntent) -> None:
            await gate.wait()
            await super().submit(intent)

    router = SlowRouter(engine)
    engine.attach_router(router)
    engine.add_strategy(EveryPrice(StrategyParams(), strategy_id="s"))
    engine.add_source(ListSource([price(1.0), price(2.0)]))
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    engine.closers.append(close)
    runner = asyncio.create_task(engine.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.events_processed == 2 and engine.inflight == 2
    engine.request_stop()
    await runner
    gate.set()
    await engine.shutdown(grace=5.0)
    assert engine.state.pending == {} and len(engine.state.fills) == 2
    assert closed == [True]


async def test_shutdown_is_bounded_when_trades_never_finish() -> None:
    engine = Engine(SimClock(0.0), run_id="r")

    class Stuck(FakeRouter):
        async def submit(self, intent: OrderIntent) -> None:
            await asyncio.Event().wait()

    engine.attach_router(Stuck(engine))
    engine.add_strategy(EveryPrice(StrategyParams(), strategy_id="s"))
    engine.emit(price(1.0))
    await engine.drain()
    await engine.shutdown(grace=0.05)
    assert engine.inflight == 0
    assert len(engine.state.pending) == 1  # left for the store's recovery to reconcile


async def test_intents_after_stop_are_refused() -> None:
    engine = Engine(SimClock(0.0), inline_intents=True)
    router = FakeRouter(engine)
    engine.attach_router(router)
    s = EveryPrice(StrategyParams(), strategy_id="s")
    engine.add_strategy(s)
    await engine.shutdown(grace=0)
    await engine.feed(price(1.0))
    assert router.seen == []


async def test_supervisor_restarts_with_backoff_in_virtual_time() -> None:
    clock = SimClock(0.0)
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(clock.now())
        if len(runs) < 4:
            raise RuntimeError("boom")

    sup = Supervisor(clock, backoff_initial=1.0, backoff_max=3.0)
    sup.spawn("flaky", flaky)
    for _ in range(10):
        await asyncio.sleep(0)
        deadline = clock.next_deadline()
        if deadline is not None:
            clock.advance_to(deadline)
    assert runs == [0.0, 1.0, 3.0, 6.0]  # backoff 1, 2, 3 (capped)
    assert sup.children["flaky"].restarts == 3
    await sup.stop()


async def test_supervisor_gives_up_after_limit() -> None:
    clock = SimClock(0.0)
    gave_up: list[str] = []

    async def always() -> None:
        raise ValueError("nope")

    sup = Supervisor(clock, max_failures_in_row=1, on_give_up=lambda n, e: gave_up.append(n))
    sup.spawn("x", always)
    for _ in range(10):
        await asyncio.sleep(0)
        deadline = clock.next_deadline()
        if deadline is not None:
            clock.advance_to(deadline)
    assert gave_up == ["x"]


def test_strategy_context_is_what_strategies_get() -> None:
    ctx = StrategyContext(EngineState(), SimClock(0.0), "s", None)
    assert EveryPrice(StrategyParams()).on_start(ctx) == []


@pytest.mark.parametrize("status", ["failed", "rejected"])
def test_failed_trade_clears_pending_without_position(status: str) -> None:
    state = EngineState()
    state.add_pending(OrderIntent("i1", "s", "m1", 0, Side.BUY, 5))
    state.apply(TradeUpdate(1.0, "t1", "i1", "m1", 0, Side.BUY, 5, status))
    assert state.pending == {} and state.positions == {}


def test_sell_fill_reduces_shares_and_cost_proportionally() -> None:
    state = EngineState()
    state.set_position("m1", 1, 10 * WAD, 6_000_000)
    state.apply(TradeUpdate(1.0, "t1", "i1", "m1", 1, Side.SELL, 2_000_000, "completed", 4 * WAD))
    pos = state.position("m1", 1)
    assert (pos.shares, pos.cost) == (6 * WAD, 3_600_000)
    assert state.cash_flow == 2_000_000


def test_pool_follows_observed_trades_once_and_is_dropped_when_off() -> None:
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    after = amm.buy(POOL, 0, 10_000_000)
    q0 = amm.probability(after.pool, 0)
    trade = PredictionSeen(1.0, "m1", "p1", 0, Side.BUY, 10_000_000, after.tokens_out, q0)
    state.apply(trade)
    state.apply(trade)  # the same trade from a second source
    assert state.markets["m1"].pool == after.pool
    # a chance update our pool cannot explain: forget the pool rather than size on a wrong one
    state.apply(PriceChange(2.0, "m1", (WAD // 2, WAD // 2)))
    assert state.markets["m1"].pool is None


def test_pool_kept_when_chance_update_agrees() -> None:
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    state.apply(PriceChange(1.0, "m1", amm.probabilities(POOL)))
    assert state.markets["m1"].pool == POOL
    bad = PredictionSeen(1.0, "m1", "p9", 0, Side.BUY, 10_000_000, 1, WAD // 10)
    state.apply(bad)
    assert state.markets["m1"].pool is None
