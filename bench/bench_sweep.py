"""Sweep wall time by worker count: the local process pool against a Dask LocalCluster.

    .venv/bin/python bench/bench_sweep.py [--points 8] [--seeds 2] [--duration 3600]
        [--workers 1,2,4] [--rounds 1]

One sweep (``--points`` values of ``strategies.0.params.edge_bps`` × ``--seeds`` seeds, each a
scenario backtest of ``--duration`` simulated seconds, the CLI's unit of work) runs on each
backend at each worker count, in this process. Printed per row:

- ``run s``: from handing the tasks over to the last result (minimum over ``--rounds``);
- ``total s``: the same plus starting and stopping the pool or cluster (what a user waits);
- speed-ups of both against the first (by default 1-worker) row of the same backend, same run.

Every row's results (metrics and report sha256, in grid order) must equal the first row's,
or the bench fails: the speed-up is only worth printing for identical work.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.sweep import grid
from kashbot.backtest.sweep_backends import Outcome, open_backend
from kashbot.backtest.sweep_unit import run_unit_digest

ROOT = Path(__file__).resolve().parents[1]
EDGES = [25, 50, 75, 100, 150, 200, 300, 400, 600, 800]


def _config(duration: float) -> dict[str, Any]:
    cfg = load_backtest_file(ROOT / "configs" / "backtest.example.yaml")
    cfg["backtest"].update(
        duration_s=duration, plots=False, scenario=str(ROOT / "configs/sim/default.yaml")
    )
    return cfg


def _once(
    cluster: str | None, workers: int, cfg: dict[str, Any], tasks: list[Any]
) -> tuple[float, float, list[Outcome]]:
    t0 = time.perf_counter()
    with open_backend(cluster, workers if cluster is None else None) as backend:
        t1 = time.perf_counter()
        outcomes = sorted(backend.run(run_unit_digest, cfg, tasks), key=lambda o: o[0])
        t2 = time.perf_counter()
    return t2 - t1, time.perf_counter() - t0, outcomes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=8, help=f"grid points (<= {len(EDGES)})")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=3600.0, help="simulated s per backtest")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    cfg = _config(args.duration)
    points = grid({"strategies.0.params.edge_bps": EDGES[: args.points]})
    tasks = [(p, s) for p in points for s in range(1, args.seeds + 1)]
    counts = [int(w) for w in args.workers.split(",")]
    print(
        f"{len(tasks)} backtests ({len(points)} points x {args.seeds} seeds, "
        f"{args.duration:g} simulated s each), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print("| backend | workers | run s | total s | run speed-up | total speed-up |")
    print("|---|---|---|---|---|---|")
    reference: list[Outcome] | None = None
    for name in ("process pool", "dask LocalCluster"):
        base: tuple[float, float] | None = None
        for w in counts:
            cluster = None if name == "process pool" else f"local:{w}"
            best = (float("inf"), float("inf"))
            for _ in range(args.rounds):
                run_s, total_s, outcomes = _once(cluster, w, cfg, tasks)
                best = (min(best[0], run_s), min(best[1], total_s))
                if any(err is not None for _, _, err in outcomes):
                    sys.exit(f"{name} x{w}: a run failed: {outcomes}")
                reference = reference or outcomes
                if outcomes != reference:
                    sys.exit(f"{name} x{w}: results differ from the first row's")
            base = base or best
            print(
                f"| {name} | {w} | {best[0]:.2f} | {best[1]:.2f} | "
                f"{base[0] / best[0]:.2f}x | {base[1] / best[1]:.2f}x |",
                flush=True,
            )
    print(
        f"all {len(counts) * 2} rows: identical results ({len(tasks)} report sha256s); "
        f"load average {os.getloadavg()[0]:.1f} at end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
