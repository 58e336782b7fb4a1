"""Peak RSS of scenario backtests at several lengths: does memory grow with the run?

    .venv/bin/python bench/bench_memory.py [--hours 6] [--scales 1,10] [--days 0] [--plots]

Each run is ``kashbot backtest configs/backtest.example.yaml --scenario
configs/sim/default.yaml`` with ``backtest.duration_s`` set to ``hours * scale`` (``--days 30``
adds a 30-day run), in a fresh child process that prints its own peak RSS
(``VmHWM`` from ``/proc/self/status``: Linux carries ``ru_maxrss`` over from the parent across
``exec``, so a big parent would hide the child's figure) and CPU time. The 1x run is the
anchor: a length-independent backtest shows a ratio near 1.00 at every scale. Plots are off
unless ``--plots`` (matplotlib's own memory is then part of the figure).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, logging, resource, sys, tempfile, time

def hwm_kib():
    # VmHWM starts afresh at exec; ru_maxrss would carry over the parent's peak on Linux
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

import structlog, yaml
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
from kashbot.backtest.runner import run_backtest
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["backtest"]["duration_s"] = int(sys.argv[3])
cfg["backtest"]["plots"] = sys.argv[4] == "1"
t = time.process_time()
report = run_backtest(cfg, scenario=sys.argv[2], out_dir=tempfile.mkdtemp(), progress=False)
print(json.dumps({
    "peak_mib": hwm_kib() / 1024,
    "cpu_s": time.process_time() - t,
    "events": report.metrics.get("events"),
    "trades": report.metrics.get("trades"),
}))
"""


def measure(duration_s: int, plots: bool = False) -> dict[str, float]:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(ROOT / "configs/backtest.example.yaml"),
            str(ROOT / "configs/sim/default.yaml"),
            str(duration_s),
            "1" if plots else "0",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(
    hours: float, scales: list[float], days: float, plots: bool
) -> list[tuple[str, dict[str, float]]]:
    rows = [(f"{hours * s:g} h ({s:g}x)", measure(int(hours * 3600 * s), plots)) for s in scales]
    if days:
        rows.append((f"{days:g} days", measure(int(days * 86_400), plots)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--days", type=float, default=0.0, help="also a run of this many days")
    ap.add_argument("--plots", action="store_true")
    args = ap.parse_args()
    rows = run(args.hours, [float(s) for s in args.scales.split(",")], args.days, args.plots)
    anchor = rows[0][1]["peak_mib"]
    head = ("scenario backtest", "peak RSS MiB", "vs first", "CPU s", "events", "our trades")
    print("{:22s} {:>12s} {:>9s} {:>8s} {:>10s} {:>10s}".format(*head))
    for name, r in rows:
        print(
            f"{name:22s} {r['peak_mib']:12.1f} {r['peak_mib'] / anchor:8.2f}x "
            f"{r['cpu_s']:8.1f} {r['events']!s:>10s} {r['trades']!s:>10s}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
