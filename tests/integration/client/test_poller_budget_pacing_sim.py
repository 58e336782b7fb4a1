"""The poller paced by the request budget, against the simulator in virtual loop time.

Demand at 6x a free key's share for 5 virtual minutes (the simulator on a ``LoopClock``, the
real ``KashClient`` and ``UserBudget``): the poller uses >= 95 % of the configured share, meets
no 429, and never leaves a gap between requests longer than the bucket's refill of one request.
Counts of the venue's request log, in virtual time: no wall-clock assertion.
"""

from __future__ import annotations

import asyncio
import itertools

from kashbot.client import KashClient
from kashbot.client.request_budget import BudgetRegistry
from kashbot.sim.embedded import run_sim
from kashbot.sources.poller import PollerConfig, PollerSource
from kashbot.vtime import LoopClock, run_virtual

GRACE_S = 0.0005  # real seconds the virtual loop waits for loopback I/O before jumping
MINUTES = 5.0


async def _poll(budget_paced: bool) -> tuple[list[dict[str, object]], float, int]:
    async with run_sim(noise=False, clock=LoopClock()) as sim:
        key = sim.keys["free"]
        budget = BudgetRegistry().get(key.user_id, tier="free")  # 60/min, share 0.95
        per_min = budget.stats().budget
        markets = sim.market_ids
        interval = 3 * len(markets) / (6.0 * per_min / 60.0)  # demand: 6x the share
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
                async with asyncio.timeout(MINUTES * 60.0):
                    await poller.run(lambda e: None)
            except TimeoutError:
                pass
        mine = [r for r in sim.venue.requests if r["keyName"] == "free"]
        return mine, per_min, len(sim.venue.find_key("free").rate_rejections)


def test_budget_paced_poller_uses_the_share_without_429_or_idle_gaps() -> None:
    requests, per_min, rejections = run_virtual(_poll(True), grace_s=GRACE_S)
    assert rejections == 0
    assert [r for r in requests if r["status"] == 429] == []
    assert len(requests) >= 0.95 * per_min * MINUTES
    times = [float(str(r["time"])) for r in requests]
    refill_one = 60.0 / per_min
    # a missed wake-up of the virtual loop costs at most a few ms of loop time
    assert max(b - a for a, b in itertools.pairwise(times)) <= refill_one + 0.1


def test_header_paced_poller_stops_at_the_reserve() -> None:
    """Without a budget the poller still yields at ``reserve_fraction`` (the old behaviour):
    safe, but it leaves the share partly unused — the reason the daemon paces on the budget."""
    requests, per_min, rejections = run_virtual(_poll(False), grace_s=GRACE_S)
    assert rejections == 0
    assert len(requests) < 0.95 * per_min * MINUTES
