"""Every row of issue 17 as a ratio to an anchor measured in the same run.

    .venv/bin/python bench/run_all.py [--events 100000] [--repeat 3] [--webhook-seconds 3]
        [--skip-webhook] [--skip-nautilus] [--budget-minutes 5] [--soak-minutes 0]

Anchors, all measured by this run (no figure from another day):

- an ``asyncio.Queue(1)`` hop (one task switch per event) and a *batched* asyncio queue
  (``put_nowait`` with a yield every 1,024 events, as ``bench_engine.py``'s throughput baseline);
- NautilusTrader's ``BacktestEngine`` on quote ticks (``bench/bench_nautilus.py`` in a child
  process; install with ``pip install -e '.[bench]'``). When it is not installed the suite says
  so and prints the rest;
- a bare aiohttp + HMAC webhook server (``bench/bench_webhook.py``).

Like for like: a kashbot market-data row (a fair-value update, nothing moves) is set against a
Nautilus tick with a trivial strategy; a kashbot row of others' trades (each moves a pool: an
AMM execution plus two engine events) against the same Nautilus tick (a tick moves the book);
our AMM trade every 100 events against a Nautilus market order every 100 ticks. Rates are the
median of ``--repeat`` runs (wall time; the machine is shared). Each goal line says met or the gap.

The request budget rows (``bench/bench_budget.py``) run the poller against the simulator in
virtual loop time (counts, not timings); the daemon soak (``bench/bench_soak.py``) runs a paper
daemon for ``--soak-minutes`` of wall time (0: not run, the line says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_backtest as bb
import bench_engine as be
import structlog
from bench_backtest import Trivial  # noqa: F401  (the bench configs load "__main__:Trivial")

HERE = Path(__file__).resolve().parent
Row = tuple[str, float, str, float | None]  # name, value, anchor name, anchor value


def best(n: int, fn: Any) -> float:
    """The median of ``n`` runs (a shared machine: one lucky or unlucky run does not count)."""
    return statistics.median(fn() for _ in range(n))


def backtest_rates(n: int, repeat: int) -> dict[str, float]:
    fair, trades, swing = bb.fair_journal(n), bb.trade_journal(n), bb.fair_swing_journal(n)

    def rate(events: list[Any], every: int, strategy: str = "trivial") -> float:
        return asyncio.run(bb.full(events, every, strategy))[0]

    evs = be.events(n)
    tx, orders = asyncio.run(bb.store_transactions(fair, 100))
    return {
        "store_tx": tx,
        "store_orders": orders,
        "queue1": best(repeat, lambda: asyncio.run(bb.baseline(n))),
        "batched": best(repeat, lambda: asyncio.run(be.throughput_baseline(evs))),
        "feed": best(repeat, lambda: asyncio.run(be.throughput_engine_feed(evs))),
        "md": best(repeat, lambda: rate(fair, 0)),
        "flow": best(repeat, lambda: rate(trades, 0)),
        "trade100": best(repeat, lambda: rate(fair, 100)),
        "fv_md": best(repeat, lambda: rate(fair, 0, "fair_value")),
        "fv": best(repeat, lambda: rate(swing, 0, "fair_value")),
        "md_swing": best(repeat, lambda: rate(swing, 0)),
    }


def latency_p99(pings: int) -> tuple[float, float]:
    base = asyncio.run(be.latency_baseline(pings))
    eng = asyncio.run(be.latency_engine_fake(pings))
    return be.pct(eng, 99), be.pct(base, 99)


def nautilus(n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "bench_nautilus.py"), "--ticks", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"absent": f"bench_nautilus.py failed: {proc.stderr.strip().splitlines()[-1:]}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def show(rows: list[Row]) -> None:
    for name, value, anchor, base in rows:
        ratio = f"{value / base:7.2f}x  {anchor}" if base else f"{'':8s}  {anchor}"
        print(f"  {name:58s} {value:12,.0f}  {ratio}")


def goal(text: str, ratio: float | None, target: float) -> None:
    if ratio is None:
        print(f"  GOAL {text}: not measured (anchor absent)")
        return
    verdict = "met" if ratio >= target else f"NOT met (gap: {ratio / target:.2f} of the target)"
    print(f"  GOAL {text}: {ratio:.2f}x, target >= {target:g}x -> {verdict}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pings", type=int, default=10_000)
    ap.add_argument("--webhook-seconds", type=float, default=3.0)
    ap.add_argument("--webhook-concurrency", type=int, default=8)
    ap.add_argument("--skip-webhook", action="store_true")
    ap.add_argument("--skip-nautilus", action="store_true")
    ap.add_argument("--memory-scales", default="1,10", help="scenario backtest lengths (x 6 h)")
    ap.add_argument("--memory-days", type=float, default=0.0, help="also an N-day backtest")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--budget-minutes", type=float, default=5.0, help="virtual minutes (0: off)")
    ap.add_argument("--soak-minutes", type=float, default=0.0, help="wall minutes (0: not run)")
    ap.add_argument("--soak-time-scale", type=float, default=4.0)
    ap.add_argument("--soak-warmup-min", type=float, default=3.0)
    return ap.parse_args()


def print_backtest(r: dict[str, float], naut: dict[str, Any]) -> None:
    nrows: dict[str, float] = naut.get("rows", {})
    ntick, norder = nrows.get("ticks, trivial strategy"), nrows.get("ticks, market order every 100")
    print("\nanchors (events/s)")
    show([("asyncio.Queue(1) hop, one task switch per event", r["queue1"], "", None)])
    show([("batched asyncio queue (put_nowait, yield every 1,024)", r["batched"], "", None)])
    if "absent" in naut:
        print(f"  NautilusTrader: absent -- {naut['absent']}")
    else:
        for name, v in nrows.items():
            show([(f"NautilusTrader {naut['version']} {name}", v, "", None)])
    print("\nkashbot backtest (recorded events/s; ratio to the anchor named)")
    show(
        [
            ("engine.feed, trivial strategy", r["feed"], "batched queue", r["batched"]),
            ("backtest, market data, trivial strategy", r["md"], "batched queue", r["batched"]),
            ("  same", r["md"], "Nautilus tick, trivial strategy", ntick),
            ("backtest, others' trades (each moves a pool)", r["flow"], "Nautilus tick", ntick),
            (
                "backtest, our AMM trade every 100 events",
                r["trade100"],
                "Nautilus order/100",
                norder,
            ),
            (
                "backtest, fair_value, market data (never trades)",
                r["fv_md"],
                "trivial, same",
                r["md"],
            ),
            (
                "backtest, fair_value, swinging fair values",
                r["fv"],
                "trivial, same journal",
                r["md_swing"],
            ),
        ]
    )


def print_memory(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    import bench_memory

    scales = [float(x) for x in args.memory_scales.split(",")]
    mem: list[tuple[str, dict[str, float]]] = bench_memory.run(
        6.0, scales, args.memory_days, plots=False
    )
    print("\nmemory: peak RSS of scenario backtests (MiB; ratio to the first, plots off)")
    for name, m in mem:
        label = f"{name}, {m['events']:,} events, {m['trades']} our trades"
        show([(label, m["peak_mib"], "first", mem[0][1]["peak_mib"])])
    return mem


def print_budget(minutes: float) -> list[Any]:
    import bench_budget

    runs = [bench_budget.run_budget(minutes, 6.0, budget_paced=p) for p in (True, False)]
    print("\nrequest budget: poller vs simulator, free key 60/min, share 0.95, demand 6x")
    print("\n".join(bench_budget.rows(runs)))
    return runs


def print_soak(args: argparse.Namespace) -> Any:
    import bench_soak

    s = bench_soak.run_soak(args.soak_minutes, args.soak_time_scale, args.soak_warmup_min, 5.0)
    print("\ndaemon RSS soak (paper daemon, in-process simulator)")
    print("\n".join(bench_soak.rows(s)))
    return s


def print_goals(
    args: argparse.Namespace,
    r: dict[str, float],
    naut: dict[str, Any],
    wh: dict[str, float],
    mem: list[tuple[str, dict[str, float]]],
    budget: list[Any],
    soak: Any,
) -> None:
    nrows: dict[str, float] = naut.get("rows", {})
    ntick, norder = nrows.get("ticks, trivial strategy"), nrows.get("ticks, market order every 100")
    print("\ngoals of issue 17")
    goal("others' trades vs Nautilus tick", r["flow"] / ntick if ntick else None, 2)
    goal("AMM trade/100 vs Nautilus order/100", r["trade100"] / norder if norder else None, 2)
    goal("fair_value vs trivial, market data (within 2x)", r["fv_md"] / r["md"], 0.5)
    goal("fair_value vs trivial, swinging fair (within 2x)", r["fv"] / r["md_swing"], 0.5)
    tx, orders = r["store_tx"], r["store_orders"]
    print(
        f"  GOAL one store transaction per order in backtests: {tx:,.0f} transactions for"
        f" {orders:,.0f} orders (trade/100 row) -> {'met' if 0 < tx <= orders else 'NOT met'}"
    )
    goal("webhook ingest vs bare anchor", wh["kashbot"] / wh["bare"] if wh else None, 0.9)
    days = [m for name, m in mem if name.endswith("days")]
    if days:
        peak = days[0]["peak_mib"]
        verdict = "met" if peak < 300 else "NOT met"
        print(
            f"  GOAL {args.memory_days:g}-day backtest under 300 MiB: {peak:.0f} MiB -> {verdict}"
        )
    if len(mem) > 1:
        growth = mem[-1][1]["peak_mib"] / mem[0][1]["peak_mib"]
        print(f"  GOAL peak RSS independent of length: {growth:.2f}x from shortest to longest")
    if budget:
        b = budget[0]
        ok = b.used >= 0.95 and b.n429 == 0 and b.max_gap_s <= b.refill_one_s + 0.1
        print(
            f"  GOAL request budget >= 95 % used, 0 x 429, no gap > one refill: {b.used:.1%},"
            f" {b.n429} x 429, longest gap {b.max_gap_s:.2f} s / {b.refill_one_s:.2f} s"
            f" -> {'met' if ok else 'NOT met'}"
        )
    else:
        print("  GOAL request budget: not run (--budget-minutes 0)")
    if soak is not None:
        verdict = "met" if soak.growth < 0.05 else "NOT met"
        print(
            f"  GOAL daemon RSS flat after warm-up (< 5 %): {soak.growth:+.1%} over"
            f" {soak.minutes:g} min wall (x{soak.time_scale:g} sim time) -> {verdict}"
        )
    else:
        print("  GOAL daemon RSS soak: not run (pass --soak-minutes N; bench/bench_soak.py)")


def main() -> int:
    args = parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    n = args.events
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}; {n:,} events per "
        f"backtest row, median of {args.repeat}"
    )
    naut = {"absent": "skipped (--skip-nautilus)"} if args.skip_nautilus else nautilus(n)
    r = backtest_rates(n, args.repeat)
    print_backtest(r, naut)
    p99, base99 = latency_p99(args.pings)
    print("\nlatency, event -> transport, p99 µs (lower is better)")
    print(f"  {'asyncio.Queue + create_task (anchor)':58s} {base99:12,.1f}")
    print(f"  {'engine, fake router':58s} {p99:12,.1f}  {p99 / base99:7.2f}x the anchor's p99")
    wh: dict[str, float] = {}
    if not args.skip_webhook:
        import bench_webhook

        wh = bench_webhook.measure(args.webhook_seconds, args.webhook_concurrency)
        print("\nwebhook ingest (req/s, signed first deliveries, loopback)")
        show([("bare aiohttp + HMAC (anchor)", wh["bare"], "", None)])
        show(
            [("kashbot receiver, SQLite dedupe (daemon wiring)", wh["kashbot"], "bare", wh["bare"])]
        )
    mem = [] if args.skip_memory else print_memory(args)
    budget = print_budget(args.budget_minutes) if args.budget_minutes > 0 else []
    soak = print_soak(args) if args.soak_minutes > 0 else None
    print_goals(args, r, naut, wh, mem, budget, soak)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
