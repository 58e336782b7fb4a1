"""A strategy's exceptions: counted per strategy and event type, one traceback per exception type,
the strategy paused after N in a row (the operator told, a hook called), never a silent run."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.engine.strategy_errors import StrategyErrors
from kashbot.events import Event, MarketSnapshot, OrderIntent, PriceChange, Side

POOL = amm.seed_pool(1_000 * 10**6)


def price(ts: float) -> PriceChange:
    return PriceChange(ts, "m1", amm.probabilities(POOL), POOL)


def snapshot(ts: float) -> MarketSnapshot:
    return MarketSnapshot(ts, "m1", "ACTIVE", amm.probabilities(POOL), POOL)


class Flaky(Strategy[StrategyParams]):
    """Raises on price changes while ``failing``; buys 1 USDC otherwise."""

    name: ClassVar[str] = "flaky"
    handles = (PriceChange, MarketSnapshot)
    failing = True

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        if isinstance(event, PriceChange) and self.failing:
            raise ValueError("bad maths")
        if isinstance(event, MarketSnapshot):
            raise KeyError("missing")
        return [OrderIntent("", "", "m1", 0, Side.BUY, 1_000_000)]


class Router:
    def __init__(self) -> None:
        self.seen: list[OrderIntent] = []

    async def submit(self, intent: OrderIntent) -> None:
        self.seen.append(intent)


def engine_with(strategy: Strategy[Any], pause_after: int) -> tuple[Engine, Router]:
    engine = Engine(SimClock(0.0), inline_intents=True, pause_strategy_after_errors=pause_after)
    router = Router()
    engine.attach_router(router)
    engine.add_strategy(strategy)
    return engine, router


async def test_counted_per_strategy_and_event_type_with_one_traceback_per_type() -> None:
    engine, _ = engine_with(Flaky(StrategyParams(), strategy_id="f"), pause_after=0)
    with capture_logs() as logs:
        for t in range(25):
            await engine.feed(price(float(t)))
        await engine.feed(snapshot(30.0))
    assert engine.strategy_error_counts() == {("f", "PriceChange"): 25, ("f", "MarketSnapshot"): 1}
    assert engine.strategy_errors == 26
    tracebacks = [e for e in logs if e["event"] == "strategy_error"]
    assert [e["exc_info"] for e in tracebacks] == [True, True]  # ValueError once, KeyError once
    repeated = [e["count"] for e in logs if e["event"] == "strategy_error_repeated"]
    assert repeated == [10]  # then only at 10, 100, 1,000 ... of a kind
    doc = engine.errors.as_json(["f", "quiet"])
    assert doc["f"]["by_event_type"] == {"MarketSnapshot": 1, "PriceChange": 25}
    assert doc["f"]["total"] == 26 and doc["f"]["paused"] is False
    assert doc["f"]["last_error"] == "KeyError: 'missing'"
    assert doc["quiet"] == {
        "total": 0,
        "by_event_type": {},
        "in_row": 0,
        "paused": False,
        "last_error": None,
    }


async def test_paused_after_n_in_a_row_and_the_operator_told() -> None:
    strategy = Flaky(StrategyParams(), strategy_id="f")
    engine, router = engine_with(strategy, pause_after=5)
    told: list[tuple[str, int, str]] = []
    engine.errors.on_pause.append(lambda sid, n, err: told.append((sid, n, err)))
    with capture_logs() as logs:
        for t in range(12):
            await engine.feed(price(float(t)))
    assert engine.strategy_errors == 5  # not called after the pause
    assert told == [("f", 5, "ValueError: bad maths")]
    assert [e["strategy"] for e in logs if e["event"] == "strategy_paused"] == ["f"]
    assert engine.errors.as_json()["f"]["paused"] is True
    strategy.failing = False
    engine.resume_strategy("f")
    await engine.feed(price(20.0))
    assert len(router.seen) == 1  # called again once resumed


async def test_a_success_ends_the_run_in_a_row() -> None:
    strategy = Flaky(StrategyParams(), strategy_id="f")
    engine, _ = engine_with(strategy, pause_after=3)
    for t in range(2):
        await engine.feed(price(float(t)))
    strategy.failing = False
    await engine.feed(price(5.0))
    strategy.failing = True
    for t in range(2):
        await engine.feed(price(10.0 + t))
    assert engine.errors.paused == {}
    assert engine.errors.in_row == {"f": 2}


@pytest.mark.parametrize(("n", "logged"), [(1, False), (9, False), (10, True), (100, True)])
def test_repeat_lines_only_at_powers_of_ten(n: int, logged: bool) -> None:
    errors = StrategyErrors(pause_after=0)
    with capture_logs() as logs:
        for _ in range(n):
            errors.record("s", "PriceChange", RuntimeError("x"))
    counts = [e["count"] for e in logs if e["event"] == "strategy_error_repeated"]
    assert (n in counts) is logged


async def test_resume_returns_the_error_and_a_second_pause_is_counted_as_news() -> None:
    strategy = Flaky(StrategyParams(), strategy_id="f")
    engine, _ = engine_with(strategy, pause_after=2)
    told: list[int] = []
    engine.errors.on_pause.append(lambda sid, n, err: told.append(engine.errors.pauses[sid]))
    for t in range(3):
        await engine.feed(price(float(t)))
    assert engine.errors.pauses == {"f": 1}
    with capture_logs() as logs:
        assert engine.errors.resume("f") == "ValueError: bad maths"
        assert engine.errors.resume("f") is None  # not paused any more
    assert [e["event"] for e in logs] == ["strategy_resumed"]
    engine.resume_strategy("f")  # the engine routes to it again (still broken)
    for t in range(3):
        await engine.feed(price(10.0 + t))
    assert told == [1, 2] and "f" in engine.errors.paused
