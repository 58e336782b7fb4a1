"""What a scenario backtest keeps that grows with its length: tracemalloc snapshots of a short
and a long run, diffed by traceback.

Each length runs ``kashbot backtest configs/backtest.example.yaml --scenario
configs/sim/default.yaml`` (plots off) in a fresh child under ``tracemalloc``; the child takes its
snapshot when the replay has ended and the report is about to be built (everything the run kept
is still alive then) and dumps it to a file. The parent diffs the long run's snapshot against the
short one's and prints the sites that grew most, with the kashbot frames that led there.
tracemalloc slows a run several times: a 10-day run takes minutes.

    .venv/bin/python bench/bench_backtest_growth.py [--short-h 60] [--long-h 240] [--top 25]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_soak_growth import print_growth

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import gc, logging, sys, tempfile, tracemalloc
tracemalloc.start(int(sys.argv[4]))
import structlog, yaml
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
from kashbot.backtest import runner
original = runner._artifacts

def snapshot_then(*args, **kwargs):
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)
    )
    snap.dump(sys.argv[5])
    print(f"traced {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB at the end of the replay")
    return original(*args, **kwargs)

runner._artifacts = snapshot_then
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["backtest"]["duration_s"] = int(sys.argv[3])
cfg["backtest"]["plots"] = False
runner.run_backtest(cfg, scenario=sys.argv[2], out_dir=tempfile.mkdtemp(), progress=False)
"""


def snapshot(hours: float, frames: int, path: Path) -> tracemalloc.Snapshot:
    args = [
        str(ROOT / "configs/backtest.example.yaml"),
        str(ROOT / "configs/sim/default.yaml"),
        str(int(hours * 3600)),
        str(frames),
        str(path),
    ]
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{hours:g} h run failed:\n{out.stderr[-3000:]}")
    print(f"  {hours:g} h: {out.stdout.strip()}")
    return tracemalloc.Snapshot.load(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short-h", type=float, default=60.0, help="hours of the short run")
    ap.add_argument("--long-h", type=float, default=240.0, help="hours of the long run")
    ap.add_argument("--top", type=int, default=25, help="how many growers to list")
    ap.add_argument("--frames", type=int, default=25, help="traceback depth kept")
    ap.add_argument("--depth", type=int, default=5, help="frames shown per grower")
    args = ap.parse_args()
    if args.long_h <= args.short_h:
        raise SystemExit("--long-h: must be longer than --short-h")
    with tempfile.TemporaryDirectory(prefix="kashbot-btgrowth-") as d:
        short = snapshot(args.short_h, args.frames, Path(d) / "short.snap")
        long = snapshot(args.long_h, args.frames, Path(d) / "long.snap")
    what = f"from {args.short_h:g} h to {args.long_h:g} h"
    print_growth(short, long, what, args.top, args.depth)


if __name__ == "__main__":
    main()
