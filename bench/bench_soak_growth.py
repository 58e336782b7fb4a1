"""Where a paper daemon's memory grows: tracemalloc snapshots of an in-process soak, diffed.

Runs the same paper daemon as ``bench/bench_soak.py`` (``configs/paper.yaml``, the simulator
in-process, risk caps raised so trading goes on), but in this process under ``tracemalloc``. It
takes one snapshot at the end of the warm-up and one near the end, and prints the allocation
sites that grew most between them, grouped by traceback (the innermost frames inside kashbot
first, so a grower reads as the code that keeps it). tracemalloc slows the daemon several
times, so run it at a high ``--time-scale`` to cover venue hours in a few wall minutes.

    .venv/bin/python bench/bench_soak_growth.py --minutes 6 --time-scale 20 --warmup-min 2
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_soak import soak_config

from kashbot.app.run import run_async
from kashbot.config.check import load_config


def _where(f: tracemalloc.Frame) -> str:
    name = f.filename
    for root in ("/kashbot/", "/site-packages/", "/lib/python3"):
        if root in name:
            name = name.split(root)[-1]
            break
    return f"{name}:{f.lineno}"


def _site(stat: tracemalloc.StatisticDiff, depth: int) -> str:
    """Where the block was allocated, then the kashbot frames that led there (innermost first)."""
    frames = list(stat.traceback)[::-1]  # tracemalloc stores the most recent call last
    ours = [f for f in frames[1:] if "/kashbot/" in f.filename][: depth - 1]
    return " <- ".join(_where(f) for f in [frames[0], *ours])


def print_growth(
    first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, what: str, top: int, depth: int
) -> None:
    """The traced growth from ``first`` to ``last``, largest growers first (shared with
    bench_backtest_growth.py)."""
    diff = last.compare_to(first, "traceback")
    total = sum(s.size_diff for s in diff)
    print(f"traced growth {what}: {total / 2**20:+.2f} MiB")
    print(f"{'KiB':>9} {'blocks':>8}  site (kashbot frames, innermost first)")
    for s in diff[:top]:
        print(f"{s.size_diff / 1024:+9.1f} {s.count_diff:+8d}  {_site(s, depth)}")


def _snap() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)
    )


async def soak(minutes: float, time_scale: float, warmup_min: float) -> list[tracemalloc.Snapshot]:
    snaps: list[tracemalloc.Snapshot] = []
    with tempfile.TemporaryDirectory(prefix="kashbot-growth-") as d:
        cfg = load_config(soak_config(Path(d), time_scale))

        async def snapper() -> None:
            await asyncio.sleep(warmup_min * 60.0)
            snaps.append(_snap())
            await asyncio.sleep(max(1.0, (minutes - warmup_min) * 60.0 - 10.0))
            snaps.append(_snap())

        task = asyncio.create_task(snapper())
        try:
            summary = await run_async(cfg, duration=minutes * 60.0, status=False)
        finally:
            task.cancel()
        print(f"daemon: {summary}"[:400])
    return snaps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=6.0, help="wall minutes of the soak")
    ap.add_argument("--time-scale", type=float, default=20.0, help="paper venue speed-up")
    ap.add_argument("--warmup-min", type=float, default=2.0)
    ap.add_argument("--top", type=int, default=25, help="how many growers to list")
    ap.add_argument("--frames", type=int, default=25, help="traceback depth kept")
    ap.add_argument("--depth", type=int, default=5, help="frames shown per grower")
    args = ap.parse_args()
    if args.warmup_min >= args.minutes:
        raise SystemExit("--warmup-min: must be shorter than --minutes")
    tracemalloc.start(args.frames)
    snaps = asyncio.run(soak(args.minutes, args.time_scale, args.warmup_min))
    if len(snaps) < 2:
        raise SystemExit("the daemon stopped before the second snapshot")
    first, last = snaps
    print_growth(first, last, "between snapshots", args.top, args.depth)


if __name__ == "__main__":
    main()
