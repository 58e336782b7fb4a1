"""Backtest cost of two revisions of kashbot, measured side by side in one run.

    .venv/bin/python bench/compare_revisions.py --base REV [--head REV] [--events 100000]
        [--rounds 3] [--cases trivial,flow,trade,swing]

For a refactor that must not make backtests slower. Each revision runs in its own child process
(``PYTHONPATH`` = a git worktree of that revision, ``--head`` defaults to this working tree), the
two alternating ``--rounds`` times, and each child reports the *CPU time* of the cases of
``bench/bench_backtest.py`` (``--cases``, default all: ``trivial`` market data with a trivial
strategy; ``flow`` others' trades, each applied to the pool; ``trade`` our AMM trade every 100
events; ``swing`` ``fair_value`` on swinging fair values, ordering every ~44 events). CPU time
of the process, not wall time, so a busy machine disturbs it less; the minimum over rounds is
kept. Prints seconds per case and the ratio head / base (below 1: head is faster).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import asyncio, json, logging, sys, time
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
import bench_backtest as b
sys.modules["__main__"] = b  # the bench's strategy is loaded as "__main__:Trivial"
n = int(sys.argv[1])
wanted = sys.argv[2].split(",")
cases = {  # name: (journal, trade_every, strategy)
    "trivial": ("market data, trivial strategy", b.fair_journal, 0, "trivial"),
    "flow": ("others' trades (AMM each)", b.trade_journal, 0, "trivial"),
    "trade": ("our AMM trade / 100 events", b.fair_journal, 100, "trivial"),
    "swing": ("fair_value, swinging fair values", b.fair_swing_journal, 0, "fair_value"),
}
out = {}
for key in wanted:
    name, journal, every, strategy = cases[key]
    events = journal(n)
    t = time.process_time()
    asyncio.run(b.full(events, every, strategy))
    out[name] = time.process_time() - t
print(json.dumps(out))
"""


def _worktree(rev: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(into), rev], check=True
    )
    return into


def _measure(tree: Path, events: int, cases: str) -> dict[str, float]:
    env = {"PYTHONPATH": f"{tree}:{tree / 'bench'}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(events), cases],
        cwd=tree / "bench",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--head", default=None, help="git revision (default: this working tree)")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cases", default="trivial,flow,trade,swing", help="comma-separated")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kashbot-compare-"))
    trees = {"base": _worktree(args.base, tmp / "base")}
    trees["head"] = _worktree(args.head, tmp / "head") if args.head else ROOT
    best: dict[str, dict[str, float]] = {"base": {}, "head": {}}
    try:
        for r in range(args.rounds):
            for side in ("base", "head") if r % 2 == 0 else ("head", "base"):
                for case, s in _measure(trees[side], args.events, args.cases).items():
                    best[side][case] = min(s, best[side].get(case, s))
                print(f"round {r + 1}/{args.rounds}: {side} done", file=sys.stderr, flush=True)
    finally:
        for tree in trees.values():
            if tree != ROOT:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                    check=False,
                )
    print(f"{args.events} events per case, CPU seconds (min of {args.rounds}); base {args.base}")
    print(f"{'case':34s} {'base s':>8s} {'head s':>8s} {'head/base':>10s}")
    for case, b in best["base"].items():
        h = best["head"][case]
        print(f"{case:34s} {b:8.2f} {h:8.2f} {h / b:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
