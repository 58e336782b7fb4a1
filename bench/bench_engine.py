"""Engine benchmark: event -> transport latency and events/s, each beside a bare asyncio baseline.

Run:  .venv/bin/python bench/bench_engine.py [--events 300000] [--pings 20000] [--full 2000]

1. Latency, one event in flight at a time (unloaded): the time from handing an event to the
   engine (``engine.emit``, as a source does) to the moment the order request is handed to the
   transport, through inbox -> state -> strategy -> intent task -> router.
   * engine, fake router: the router records the hand-off (the engine's own overhead);
   * engine, full path: the real RiskGate + Executor + Store (SQLite ``:memory:``) and the
     in-process simulator venue as the transport (time taken when ``create_trade`` is entered);
   * baseline: ``asyncio.Queue.put`` -> consumer task -> handler -> ``create_task`` -> "transport".
2. Throughput: PriceChange events through a trivial strategy (reads the event, emits nothing):
   * engine live loop (``emit`` into the inbox, the run loop drains);
   * engine backtest path (``await engine.feed(event)`` per event);
   * baseline: ``asyncio.Queue`` producer/consumer calling a trivial handler.

Prints p50/p99 latencies, events/s and ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kashbot import amm
from kashbot.clock import WallClock
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, OrderIntent, PriceChange, Side

POOL = amm.seed_pool(1_000_000 * 10**6)
PROBS = amm.probabilities(POOL)
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"


class Trivial(Strategy[StrategyParams]):
    """Reads the event and returns nothing (the throughput test)."""

    name: ClassVar[str] = "trivial"
    handles = (PriceChange,)

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        return []


class OnePerEvent(Strategy[StrategyParams]):
    """Buys 1 USDC on every price change (the latency test)."""

    name: ClassVar[str] = "one_per_event"
    handles = (PriceChange,)

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        return [OrderIntent("", "", MARKET, 0, Side.BUY, 1_000_000)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# ---- latency ---------------------------------------------------------------------------------


class Handoff:
    """Where the request meets the transport: records the latency and wakes the driver."""

    def __init__(self) -> None:
        self.t0 = 0
        self.samples: list[float] = []
        self.done = asyncio.Event()

    def hit(self) -> None:
        self.samples.append((time.perf_counter_ns() - self.t0) / 1000)
        self.done.set()


async def ping(emit: Any, handoff: Handoff, n: int) -> list[float]:
    for i in range(n):
        handoff.done.clear()
        handoff.t0 = time.perf_counter_ns()
        emit(PriceChange(float(i), MARKET, PROBS, POOL))
        await handoff.done.wait()
    return handoff.samples


async def latency_engine_fake(n: int) -> list[float]:
    handoff = Handoff()

    class Router:
        async def submit(self, intent: OrderIntent) -> None:
            handoff.hit()

    engine = Engine(WallClock(), router=Router(), run_id="b", max_inflight=10**9)
    engine.add_strategy(OnePerEvent(StrategyParams()))
    runner = asyncio.create_task(engine.run())
    samples = await ping(engine.emit, handoff, n)
    engine.request_stop()
    await runner
    return samples


async def latency_engine_full(n: int) -> list[float]:
    from kashbot.backtest.venue_adapter import SimVenueAdapter
    from kashbot.execution.router import OrderRouter
    from kashbot.execution.settings import ExecutionSettings
    from kashbot.risk.gate import RiskGate
    from kashbot.risk.limits import Limits
    from kashbot.sim.embedded import prepare_scenario
    from kashbot.sim.venue import Venue
    from kashbot.store.store import Store

    handoff = Handoff()
    venue = Venue(prepare_scenario(None, noise=False), clock=WallClock(), seed=0)
    key = next(k for k in venue.keys.values() if k.tier == "mm")

    class Timed(SimVenueAdapter):
        async def create_trade(self, *args: Any, **kwargs: Any) -> Any:
            handoff.hit()
            return await super().create_trade(*args, **kwargs)

    engine = Engine(WallClock(), run_id="b", max_inflight=10**9)
    store = await Store.open(":memory:")
    gate = RiskGate(Limits.for_tier("mm"), clock=WallClock(), emit=engine.emit)
    adapter = Timed(venue, key.api_key, enforce_rate_limit=False)
    settings = ExecutionSettings(adopt_venue_spend=False)
    router = OrderRouter(gate, adapter, store, emit=engine.emit, settings=settings)
    await router.recover()
    engine.attach_router(router)
    engine.add_strategy(OnePerEvent(StrategyParams()))
    runner = asyncio.create_task(engine.run())
    samples = await ping(engine.emit, handoff, n)
    engine.request_stop()
    await runner
    await engine.shutdown(grace=2.0)  # let the executor finish following the last trades
    await router.close()
    await store.close()
    return samples


async def latency_baseline(n: int) -> list[float]:
    handoff = Handoff()
    queue: asyncio.Queue[Event] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def send(intent: OrderIntent) -> None:
        handoff.hit()

    async def consumer() -> None:
        while True:
            event = await queue.get()
            assert isinstance(event, PriceChange)
            intent = OrderIntent("i", "s", event.market_id, 0, Side.BUY, 1_000_000)
            task = asyncio.create_task(send(intent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    worker = asyncio.create_task(consumer())
    samples = await ping(queue.put_nowait, handoff, n)
    worker.cancel()
    return samples


# ---- throughput ------------------------------------------------------------------------------


def events(n: int) -> list[PriceChange]:
    return [PriceChange(float(i), MARKET, PROBS, POOL) for i in range(n)]


async def throughput_engine_live(evs: list[PriceChange]) -> float:
    engine = Engine(WallClock(), run_id="b")
    engine.add_strategy(Trivial(StrategyParams()))
    runner = asyncio.create_task(engine.run())
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    emit = engine.emit
    for i, ev in enumerate(evs):
        emit(ev)
        if i % 1024 == 1023:
            await asyncio.sleep(0)  # a source yields now and then
    while len(engine.inbox):  # noqa: ASYNC110 - polling the drain is the measurement
        await asyncio.sleep(0)
    dt = time.perf_counter() - t0
    engine.request_stop()
    await runner
    assert engine.events_processed == len(evs)
    return len(evs) / dt


async def throughput_engine_feed(evs: list[PriceChange]) -> float:
    engine = Engine(WallClock(), run_id="b", inline_intents=True)
    engine.add_strategy(Trivial(StrategyParams()))
    t0 = time.perf_counter()
    feed = engine.feed
    for ev in evs:
        await feed(ev)
    return len(evs) / (time.perf_counter() - t0)


async def throughput_baseline(evs: list[PriceChange]) -> float:
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    count = 0

    def handler(event: Event) -> None:
        nonlocal count
        count += 1

    async def consumer() -> None:
        while True:
            event = await queue.get()
            if event is None:
                return
            handler(event)

    worker = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    put = queue.put_nowait
    for i, ev in enumerate(evs):
        put(ev)
        if i % 1024 == 1023:
            await asyncio.sleep(0)
    put(None)
    await worker
    assert count == len(evs)
    return len(evs) / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--pings", type=int, default=20_000)
    ap.add_argument("--full", type=int, default=2_000, help="pings through the full path")
    args = ap.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))

    base = await latency_baseline(args.pings)
    fake = await latency_engine_fake(args.pings)
    full = await latency_engine_full(args.full)
    print("latency: event handed to the engine -> request handed to the transport (µs)")
    print(f"{'path':48} {'p50':>8} {'p99':>8} {'mean':>8}")
    for name, s in (
        ("asyncio.Queue + create_task (baseline)", base),
        ("engine, fake router", fake),
        ("engine, gate + executor + store + sim venue", full),
    ):
        print(f"{name:48} {pct(s, 50):8.1f} {pct(s, 99):8.1f} {statistics.fmean(s):8.1f}")
    print(
        f"ratio p50 engine/baseline: {pct(fake, 50) / pct(base, 50):.2f}; "
        f"p99: {pct(fake, 99) / pct(base, 99):.2f}"
    )

    evs = events(args.events)
    rates = {}
    for name, fn in (
        ("asyncio.Queue producer/consumer (baseline)", throughput_baseline),
        ("engine live loop (emit -> inbox -> drain)", throughput_engine_live),
        ("engine backtest path (await feed(event))", throughput_engine_feed),
    ):
        rates[name] = max([await fn(evs) for _ in range(3)])  # best of 3
    print(f"\nthroughput: {args.events:,} PriceChange events, trivial strategy (best of 3)")
    baseline = rates["asyncio.Queue producer/consumer (baseline)"]
    for name, rate in rates.items():
        print(f"{name:48} {rate:12,.0f} events/s  ratio {rate / baseline:5.2f}")


if __name__ == "__main__":
    asyncio.run(main())
