"""Request budget under sustained demand: the poller against the simulator, in virtual time.

The whole stack (simulator on a ``LoopClock``, the real ``KashClient``, the user's
``UserBudget``, ``PollerSource``) runs on a ``VirtualTimeLoop``, so minutes of a free key's
60/min quota take seconds and the figures are counts, not wall-clock timings. Demand is
``--demand`` times the budget's share (markets x 3 jobs per ``interval``). Prints, per pacing
mode: requests sent against the share (``share x limit`` per minute, plus the bucket's burst),
the venue's 429s, and the longest gap between two requests against the bucket's refill of one
request (``60 / (share x limit)`` s).

    .venv/bin/python bench/bench_budget.py --minutes 10 [--modes budget,headers]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
from dataclasses import dataclass

import structlog

from kashbot.client import KashClient
from kashbot.client.request_budget import BudgetRegistry
from kashbot.sim.embedded import run_sim
from kashbot.sources.poller import PollerConfig, PollerSource
from kashbot.vtime import LoopClock, run_virtual

GRACE_S = 0.0005  # real seconds the virtual loop waits for loopback I/O (see tests)


@dataclass(frozen=True, slots=True)
class BudgetRun:
    mode: str
    minutes: float
    sent: int
    share_requests: float  # what the configured share allows over the run
    n429: int
    max_gap_s: float
    refill_one_s: float

    @property
    def used(self) -> float:
        return self.sent / self.share_requests


def run_budget(minutes: float, demand: float, *, budget_paced: bool) -> BudgetRun:
    """One run of the poller at ``demand`` x the share for ``minutes`` of virtual time."""

    async def main() -> BudgetRun:
        async with run_sim(noise=False, clock=LoopClock()) as sim:
            key = sim.keys["free"]
            budget = BudgetRegistry().get(key.user_id, tier="free")  # 60/min, share 0.95
            per_min = budget.stats().budget
            markets = sim.market_ids
            jobs_per_s = demand * per_min / 60.0
            interval = 3 * len(markets) / jobs_per_s
            clock = LoopClock()
            async with KashClient(key.api_key, sim.base_url, budget=budget, clock=clock) as client:
                poller = PollerSource(
                    client,
                    markets,
                    clock,
                    PollerConfig(
                        markets_interval_s=interval,
                        predictions_interval_s=interval,
                        quotes_interval_s=interval,
                    ),
                    budget_paced=budget_paced,
                )
                try:
                    async with asyncio.timeout(minutes * 60.0):
                        await poller.run(lambda e: None)
                except TimeoutError:
                    pass
            mine = [r for r in sim.venue.requests if r["keyName"] == "free"]
            times = [float(r["time"]) for r in mine]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            return BudgetRun(
                "budget" if budget_paced else "headers",
                minutes,
                len(mine),
                per_min * minutes,
                sum(1 for r in mine if r["status"] == 429),
                max(gaps, default=math.inf),
                60.0 / per_min,
            )

    return run_virtual(main(), grace_s=GRACE_S)


def rows(runs: list[BudgetRun]) -> list[str]:
    out = []
    for r in runs:
        out.append(
            f"  poller paced by {r.mode:<8} {r.sent:>6} req in {r.minutes:g} min"
            f" = {r.used:6.1%} of the share ({r.share_requests:.0f}); 429s {r.n429};"
            f" longest gap {r.max_gap_s:.2f} s (one request's refill {r.refill_one_s:.2f} s)"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="virtual minutes per run")
    ap.add_argument("--demand", type=float, default=6.0, help="demand as a multiple of the share")
    ap.add_argument("--modes", default="budget,headers", help="budget (daemon) and/or headers")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    runs = [
        run_budget(args.minutes, args.demand, budget_paced=mode == "budget")
        for mode in args.modes.split(",")
    ]
    print(f"request budget: free key (60/min, share 0.95), demand {args.demand:g}x the share")
    print("\n".join(rows(runs)))


if __name__ == "__main__":
    main()
