"""Backtest throughput: replayed events per second, next to a bare asyncio queue hop.

    .venv/bin/python bench/bench_backtest.py [--events 100000] [--profile]
        [--profile-case trade|flow|swing]

Runs, in one process:

1. baseline: a producer task handing events to a consumer task through ``asyncio.Queue(1)``
   (one task switch per event: the cheapest possible "event loop" of an asyncio framework);
2. engine only: ``Engine.feed`` with a trivial strategy (no venue, no pools);
3. full backtest, market data only: a journal of ``FairValueUpdate`` events through the runner
   (driver loop, SimClock, venue scheduler, engine, trivial strategy);
4. full backtest, trade flow: a journal of others' trades, each re-applied to the pool with
   ``kashbot.amm`` (every event is an AMM execution plus two engine events);
5. as 3, with the strategy buying 1 USDC every 100 events (gate → executor → store → venue
   lifecycle → webhook → fill), the case the issue sets the 100k/s floor for.

Prints events/s and the ratio to the baseline; ``--profile`` prints where case 5 (or, with
``--profile-case flow``, case 4; with ``swing``, ``fair_value`` on swinging fair values) spends
its time: own time summed per area of the code, then the top functions. The backtests run
exactly as ``kashbot backtest`` does (the runner's synchronous in-memory store and its replay
GC settings).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from kashbot import amm
from kashbot.backtest.recording import Recordable, read_journal, write_journal
from kashbot.backtest.runner import run_backtest_async
from kashbot.clock import SimClock
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    Side,
)
from kashbot.money import USDC_ONE, WAD

T0 = 1_767_225_600.0
MARKETS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]


class TrivialParams(StrategyParams):
    trade_every: int = 0  # 0 = never trade


class Trivial(Strategy[TrivialParams]):
    """Looks at every event; optionally buys 1 USDC every ``trade_every`` events."""

    name: ClassVar[str] = "trivial"
    Params = TrivialParams
    handles = (FairValueUpdate, PriceChange, PredictionSeen)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen = 0

    def decide(
        self, state: EngineState, event: Event, params: TrivialParams, now: float
    ) -> list[OrderIntent]:
        self.seen += 1
        every = params.trade_every
        if not every or self.seen % every:
            return []
        market_id: str = getattr(event, "market_id", MARKETS[0])
        return [OrderIntent("", "", market_id, self.seen // every % 2, Side.BUY, USDC_ONE)]


def _snapshots() -> list[Recordable]:
    pool = amm.seed_pool(100_000 * USDC_ONE, (WAD // 2, WAD // 2))
    return [MarketSnapshot(T0, m, "ACTIVE", amm.probabilities(pool), pool) for m in MARKETS]


def fair_journal(n: int) -> list[Recordable]:
    out = _snapshots()
    for i in range(n):
        p = WAD // 2 + (i % 1000) * 10**13
        out.append(FairValueUpdate(T0 + 1 + i * 0.01, MARKETS[i % 3], (p, WAD - p), "feed"))
    return out


def trade_journal(n: int) -> list[Recordable]:
    out = _snapshots()
    for i in range(n):
        out.append(
            PredictionSeen(
                T0 + 1 + i * 0.01,
                MARKETS[i % 3],
                f"p{i}",
                i % 2,
                Side.BUY,
                1_000_000 + (i % 7) * 100_000,
                0,
                0,
            )
        )
    return out


def fair_swing_journal(n: int) -> list[Recordable]:
    """Fair values that swing 0.4 -> 0.6 -> 0.4 over 6,000 updates, so ``fair_value`` buys,
    holds, sells and keeps re-deciding with positions open (what the issue profiled)."""
    out = _snapshots()
    for i in range(n):
        k = i // 3 % 2000
        p = WAD * 4 // 10 + (k if k < 1000 else 2000 - k) * WAD // 5000
        out.append(FairValueUpdate(T0 + 1 + i * 0.01, MARKETS[i % 3], (p, WAD - p), "feed"))
    return out


def config(trade_every: int, strategy: str = "trivial") -> dict[str, Any]:
    """The backtest config of a case: ``Trivial`` (ordering every ``trade_every`` events) or,
    with ``strategy="fair_value"``, the built-in strategy with its default params."""
    entry: dict[str, Any] = {"name": "fair_value", "id": "fv", "params": {}}
    if strategy == "trivial":
        entry = {"name": "__main__:Trivial", "id": "t", "params": {"trade_every": trade_every}}

    return {
        "venue": {"mode": "paper", "sim": {"key_tier": "developer"}},
        "risk": {"max_market_exposure_usdc": 5000, "max_total_exposure_usdc": 10000},
        "markets": MARKETS,
        "strategies": [entry],
        "backtest": {
            "plots": False,
            "latency_s": 0.2,
            "settle_s": 1,
            "initial_cash_usdc": "100000",
            "mark_interval_s": 3600,
        },
    }


async def baseline(n: int) -> float:
    q: asyncio.Queue[object] = asyncio.Queue(1)
    item = object()

    async def produce() -> None:
        for _ in range(n):
            await q.put(item)

    async def consume() -> None:
        for _ in range(n):
            await q.get()

    t = time.perf_counter()
    await asyncio.gather(produce(), consume())
    return n / (time.perf_counter() - t)


async def engine_only(n: int) -> float:
    clock = SimClock(start=T0)
    engine = Engine(clock, inline_intents=True, run_id="bench")
    engine.add_strategy(Trivial(TrivialParams()))
    events = [e for e in fair_journal(n) if isinstance(e, Event)]
    t = time.perf_counter()
    for e in events:
        clock.advance_to(e.ts)
        await engine.feed(e)
    return len(events) / (time.perf_counter() - t)


async def full(
    events: list[Recordable], trade_every: int, strategy: str = "trivial"
) -> tuple[float, dict[str, Any]]:
    """Recorded events replayed per second (decoding excluded: it is measured on its own)."""
    cfg = config(trade_every, strategy)
    t = time.perf_counter()
    report = await run_backtest_async(cfg, data=events, progress=False)
    dt = time.perf_counter() - t
    return len(events) / dt, report.metrics


async def store_transactions(events: list[Recordable], trade_every: int) -> tuple[int, int]:
    """(store transactions committed, orders sent) of one backtest (not timed): the backtest's
    own in-memory store, watched through ``Store.open``."""
    from kashbot.backtest import assembly
    from kashbot.store.store import Store

    opened: list[Store] = []
    real_open = Store.open

    async def spy(path: Any, **kw: Any) -> Store:
        store = await real_open(path, **kw)
        opened.append(store)
        return store

    assembly.Store.open = spy  # type: ignore[method-assign]
    try:
        report = await run_backtest_async(config(trade_every), data=events, progress=False)
    finally:
        assembly.Store.open = real_open  # type: ignore[method-assign]
    per_order = opened[0].per_order
    return (per_order.transactions if per_order else -1), int(report.metrics["intents"])


AREAS = (  # (label, path fragments), first match wins
    ("sqlite / aiosqlite / event-loop waits", ("sqlite", "select.", "_queue.", "threading")),
    ("backtest runner + metrics", ("kashbot/backtest/",)),
    ("sim venue", ("kashbot/sim/",)),
    ("pool maths (kashbot/amm.py)", ("kashbot/amm.py",)),
    ("engine (bus, state, strategies)", ("kashbot/engine/", "bench_backtest")),
    ("built-in strategies (kashbot/strategies)", ("kashbot/strategies/",)),
    ("risk gate + ledger", ("kashbot/risk/",)),
    ("executor + router", ("kashbot/execution/",)),
    ("store (kashbot/store)", ("kashbot/store/",)),
    ("client models (pydantic)", ("kashbot/client/", "pydantic")),
    ("asyncio", ("asyncio",)),
    ("builtins (isinstance, len, sum, dict ops...)", ("~:",)),
    ("stdlib (dataclasses.replace, json, hmac ...)", ("",)),
)


def by_area(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time (tottime) of every profiled function, summed per area of the code."""
    totals = dict.fromkeys((label for label, _ in AREAS), 0.0)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (path, _, func), (_, _, tottime, _, _) in raw.items():
        where = f"{path}:{func}"
        label = next(lb for lb, frags in AREAS if any(f in where for f in frags))
        totals[label] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


class GcTimer:
    """Wall time spent in the cyclic garbage collector (cProfile books it to whichever
    function happened to allocate when a collection started)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._t = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t
            self.collections += 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--profile-case", choices=("trade", "flow", "swing"), default="trade")
    args = ap.parse_args()
    n = args.events
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    tmp = Path(tempfile.mkdtemp(prefix="kashbot-bench-"))
    fair_path, trade_path = tmp / "fair.jsonl.gz", tmp / "trades.jsonl.gz"
    write_journal(fair_path, fair_journal(n))
    write_journal(trade_path, trade_journal(n))
    t = time.perf_counter()
    _, fair = read_journal(fair_path)
    decode = (n + 3) / (time.perf_counter() - t)
    _, trades = read_journal(trade_path)
    return run_cases(args, n, fair, trades, decode)


def run_cases(
    args: argparse.Namespace,
    n: int,
    fair: list[Recordable],
    trades: list[Recordable],
    decode: float,
) -> int:
    base = asyncio.run(baseline(n))
    rows: list[tuple[str, float, str]] = [("asyncio.Queue(1) hop (baseline)", base, "")]
    rows.append(("engine.feed, trivial strategy", asyncio.run(engine_only(n)), ""))
    rate, _ = asyncio.run(full(fair, 0))
    rows.append(("backtest, market data, trivial strategy", rate, ""))
    rate, m = asyncio.run(full(trades, 0))
    rows.append(("backtest, others' trades (AMM each)", rate, f"{m['events']} engine events"))
    rate, m = asyncio.run(full(fair, 100))
    rows.append(("backtest, market data, our AMM trade/100 ev", rate, f"{m['trades']} trades"))
    print(f"python {sys.version.split()[0]}, {n} recorded events per run")
    print(f"journal decode (gzip JSONL -> events): {decode:,.0f} events/s")
    for name, r, note in rows:
        print(f"{name:46s} {r:12,.0f} ev/s  {r / base:6.2f}x baseline  {note}")
    if args.profile:
        swing = fair_swing_journal(n) if args.profile_case == "swing" else []
        gc_timer = GcTimer()
        gc.callbacks.append(gc_timer)
        prof = cProfile.Profile()
        prof.enable()
        if args.profile_case == "flow":
            asyncio.run(full(trades, 0))
        elif args.profile_case == "swing":
            asyncio.run(full(swing, 0, "fair_value"))
        else:
            asyncio.run(full(fair, 100))
        prof.disable()
        gc.callbacks.remove(gc_timer)
        s = io.StringIO()
        stats = pstats.Stats(prof, stream=s)
        total = sum(t for _, t in by_area(stats))
        print(f"profile of case {args.profile_case!r}: own time per area")
        for label, t in by_area(stats):
            print(f"  {label:44s} {t:6.2f} s  {100 * t / total:5.1f} %")
        print(
            f"  of which garbage collection: {gc_timer.seconds:.2f} s"
            f" ({gc_timer.collections} collections), booked to the allocating function"
        )
        stats.sort_stats("tottime").print_stats(18)
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
