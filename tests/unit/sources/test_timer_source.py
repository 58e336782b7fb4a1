"""Timer source and engine timers, in virtual time (SimClock), driven like the backtest runner."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from kashbot.clock import SimClock
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, OrderIntent, Side, Timer
from kashbot.sources.timer import TimerSource, TimerSpec, declared_timers

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_767_225_600.0


async def _settle() -> None:
    for _ in range(8):  # what the backtest runner does after waking sleepers
        await asyncio.sleep(0)


async def drive(clock: SimClock, engine: Engine | None, until: float) -> None:
    """The backtest runner's loop: jump to the clock's next deadline, let tasks run, drain."""
    while True:
        t = clock.next_deadline()
        if t is None or t > until:
            break
        clock.advance_to(t)
        await _settle()
        if engine is not None:
            await engine.drain()
    clock.advance_to(until)
    await _settle()


async def test_timer_source_fires_on_schedule_in_virtual_time() -> None:
    clock = SimClock(T0)
    got: list[Event] = []
    src = TimerSource(clock, [TimerSpec("fast", 1.0), TimerSpec("slow", 2.5, "s1")], anchor=T0)
    task = asyncio.create_task(src.run(got.append))
    await asyncio.sleep(0)
    assert clock.next_deadline() == T0 + 1.0  # registered before any time passed
    await drive(clock, None, T0 + 5.0)
    task.cancel()
    fired = [(round(e.ts - T0, 6), e.name, e.strategy) for e in got if isinstance(e, Timer)]
    assert fired == [
        (1.0, "fast", None),
        (2.0, "fast", None),
        (2.5, "slow", "s1"),
        (3.0, "fast", None),
        (4.0, "fast", None),
        (5.0, "fast", None),
        (5.0, "slow", "s1"),
    ]
    assert src.fired == {"fast": 5, "slow": 2} and src.skipped == 0


async def test_timer_fires_once_after_a_stall_and_counts_skipped_ticks() -> None:
    clock = SimClock(T0)
    got: list[Event] = []
    src = TimerSource(clock, [TimerSpec("t", 1.0)], anchor=T0)
    task = asyncio.create_task(src.run(got.append))
    await asyncio.sleep(0)
    clock.advance_to(T0 + 10.5)  # the loop was blocked for ten ticks
    await _settle()
    assert len(got) == 1 and src.skipped == 9
    assert clock.next_deadline() == pytest.approx(T0 + 11.0)  # the schedule did not drift
    task.cancel()


def test_declared_timers_merge_class_params_and_config() -> None:
    class P(StrategyParams):
        timers: dict[str, float] = Field(default_factory=lambda: {"requote": 10.0})

    class S(Strategy[P]):
        Params = P
        timers: ClassVar[dict[str, float]] = {"requote": 30.0, "hourly": 3600.0}

    s = S(P())
    assert declared_timers(s) == {"requote": 10.0, "hourly": 3600.0}
    assert declared_timers(s, {"hourly": 60}) == {"requote": 10.0, "hourly": 60.0}
    with pytest.raises(ValueError, match=r"timers\.x: interval_s must be >= 0.01"):
        declared_timers(s, {"x": 0})
    with pytest.raises(TypeError, match=r"timers\.x: interval_s must be a number"):
        declared_timers(s, {"x": "5"})  # type: ignore[dict-item]


class TickParams(StrategyParams):
    timers: dict[str, float] = Field(default_factory=dict)
    buy_on: str = ""


class TickStrategy(Strategy[TickParams]):
    """Records the timers it receives; buys 1 USDC on the one named ``buy_on``."""

    name = "tick"
    Params = TickParams
    handles = (Timer,)
    seen: ClassVar[list[tuple[str, float, str]]] = []

    def decide(
        self, state: EngineState, event: Event, params: TickParams, now: float
    ) -> list[OrderIntent]:
        assert isinstance(event, Timer)
        TickStrategy.seen.append((self.strategy_id, now, event.name))
        if event.name == params.buy_on:
            return [OrderIntent("", "", "m1", 0, Side.BUY, 1_000_000, reason="timer")]
        return []


class _Router:
    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []

    async def submit(self, intent: OrderIntent) -> object:
        self.intents.append(intent)
        return None


async def test_engine_delivers_each_timer_to_its_strategy_only() -> None:
    TickStrategy.seen.clear()
    clock = SimClock(T0)
    router = _Router()
    engine = Engine(clock, router=router, run_id="t", inline_intents=True)
    a = TickStrategy(TickParams(timers={"tick": 2.0}, buy_on="tick"), strategy_id="a")
    b = TickStrategy(TickParams(), strategy_id="b")
    engine.add_strategy(a)
    engine.add_strategy(b, timers={"tick": 3.0})  # same name, another strategy's timer
    await engine.start()
    await drive(clock, engine, T0 + 6.0)
    assert [(s, round(t - T0, 6), n) for s, t, n in TickStrategy.seen] == [
        ("a", 2.0, "tick"),
        ("b", 3.0, "tick"),
        ("a", 4.0, "tick"),
        ("a", 6.0, "tick"),
        ("b", 6.0, "tick"),
    ]
    assert [i.strategy for i in router.intents] == ["a", "a", "a"]
    assert router.intents[0].created_ts == T0 + 2.0
    await engine.shutdown(grace=0)
    assert engine.timer_source is not None and engine.timer_source.fired["tick"] == 5


async def test_engine_broadcast_timer_and_no_timers_means_no_task() -> None:
    TickStrategy.seen.clear()
    clock = SimClock(T0)
    engine = Engine(clock, inline_intents=True)
    engine.add_strategy(TickStrategy(TickParams(), strategy_id="a"))
    await engine.start()
    assert engine.timer_source is None and clock.next_deadline() is None
    engine2 = Engine(clock, inline_intents=True)
    engine2.add_strategy(TickStrategy(TickParams(), strategy_id="x"))
    engine2.add_strategy(TickStrategy(TickParams(), strategy_id="y"))
    engine2.add_timer("all", 1.0)
    await engine2.start()
    with pytest.raises(RuntimeError, match="before the engine starts"):
        engine2.add_timer("late", 1.0)
    await drive(clock, engine2, T0 + 1.0)
    assert sorted(s for s, _, _ in TickStrategy.seen) == ["x", "y"]
    await engine2.shutdown(grace=0)


def test_engine_rejects_timers_for_a_strategy_that_ignores_timer_events() -> None:
    class Deaf(Strategy[TickParams]):
        name = "deaf"
        Params = TickParams

    engine = Engine(SimClock(T0))
    with pytest.raises(ValueError, match="does not handle Timer events"):
        engine.add_strategy(Deaf(TickParams()), timers={"t": 1.0})


async def test_backtest_runner_delivers_timers_without_knowing_about_them() -> None:
    """The real runner jumps its SimClock to the timer's sleeper; no runner change needed."""
    from kashbot.backtest.config import load_backtest_file
    from kashbot.backtest.runner import run_backtest_async

    TickStrategy.seen.clear()
    cfg: dict[str, Any] = load_backtest_file(ROOT / "configs" / "backtest.example.yaml")
    cfg["backtest"].update(duration_s=600, plots=False)
    cfg["strategies"] = [
        {"name": f"{__name__}:TickStrategy", "id": "ticker", "params": {"timers": {"t": 60}}}
    ]
    await run_backtest_async(
        cfg, scenario=ROOT / "configs" / "sim" / "default.yaml", seed=1, progress=False
    )
    times = [t for s, t, n in TickStrategy.seen if s == "ticker" and n == "t"]
    assert len(times) == 10
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [60.0] * 9
