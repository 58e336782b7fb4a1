"""Several OrderRouters on one key, one real redis-server and one simulator (issue 14).

Each "daemon" here is a whole order path of its own — KashClient, gate, executor, in-memory
store, OrderRouter with a :class:`SharedSpend` on its own Redis connection — and the gates each
allow the key's full daily cap, as N daemons started with one config would. All buy at once:

* the key's combined buys stay within the cap, and the venue never answers
  SPENDING_LIMIT_EXCEEDED (it has the same cap: it would, without the shared ledger);
* a daemon killed mid-reservation (its tasks cancelled, nothing released) loses its headroom
  to the others once the lease lapses;
* with Redis killed mid-run no buy reaches the venue (all SHARED_STATE_UNAVAILABLE); once it is
  back (empty), the daemons rejoin and trading resumes, still within the cap.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kashbot.client import KashClient
from kashbot.client.request_budget import BudgetRegistry
from kashbot.clock import WallClock
from kashbot.events import Event, OrderIntent, Side
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.execution.shared_spend import SharedSpend
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits
from kashbot.shared import SharedStateConfig
from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict
from kashbot.store.store import Store

U = USDC_ONE
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"
KEY = "developer"
CAP = 100 * U
_ids = itertools.count()


@dataclass
class Daemon:
    router: OrderRouter
    shared: SharedSpend
    events: list[Event] = field(default_factory=list)

    async def buy(self, amount: int) -> Approval | Denial:
        intent = OrderIntent(f"d-{next(_ids)}", "mm", MARKET, 0, Side.BUY, amount)
        return await self.router.submit(intent)


class Hanging:
    """A venue whose POST never answers: the daemon holds its reservation until it dies."""

    def __init__(self, inner: KashClient) -> None:
        self.inner = inner
        self.sending = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_trade(self, *args: Any, **kwargs: Any) -> Any:
        self.sending.set()
        await asyncio.Event().wait()


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    scen = scenario_dict()
    for k in scen["keys"]:
        if k["name"] == KEY:
            k["caps"] = {"daily_spend_limit_usdc": "100"}  # the venue's cap = ours
    async with run_sim(scen, time_scale=20, noise=False) as handle:
        yield handle


class Fleet:
    """Daemons on one key; closed (routers, stores, clients, Redis connections) on exit."""

    def __init__(self, sim: SimHandle, url: str, prefix: str, **cfg: Any) -> None:
        self.sim, self.url, self.prefix = sim, url, prefix
        self.cfg = SharedStateConfig.model_validate(
            {"url": url, "prefix": prefix, "op_timeout_s": 0.5, **cfg}
        )
        self.budgets = BudgetRegistry()
        self.stack = AsyncExitStack()

    async def start(self, hang: bool = False, store_path: str = ":memory:") -> Daemon:
        key = self.sim.keys[KEY]
        budget = self.budgets.get(key.user_id, tier=KEY)
        client = await self.stack.enter_async_context(
            KashClient(key.api_key, self.sim.base_url, budget=budget)
        )
        store = await Store.open(store_path)
        self.stack.push_async_callback(store.close)
        shared = SharedSpend.connect(self.cfg, key.api_key)  # closed with the router
        shared.retry_s = 0.05
        clock = WallClock()
        events: list[Event] = []
        gate = RiskGate(Limits.for_tier(KEY, daily_cap=CAP), clock=clock, emit=events.append)
        venue: Any = Hanging(client) if hang else client
        settings = ExecutionSettings(poll_after_s=60.0, max_intent_age_s=None)
        executor = Executor(venue, gate, store, clock=clock, emit=events.append, settings=settings)
        router = OrderRouter(
            gate, venue, store, clock=clock, executor=executor, shared_spend=shared
        )
        self.stack.push_async_callback(router.close)
        await router.recover()
        return Daemon(router, shared, events)

    def venue_buys(self) -> int:
        """The key's buy volume on the venue (ground truth)."""
        ks = self.sim.venue.find_key(KEY)
        return int(ks.volume.used(self.sim.venue.clock.now()))

    def spending_limit_answers(self) -> int:
        return [r.get("code") for r in self.sim.venue.requests].count("SPENDING_LIMIT_EXCEEDED")


def reasons(verdicts: list[Approval | Denial]) -> set[Reason]:
    return {v.reason for v in verdicts if isinstance(v, Denial)}


def spent(verdicts: list[Approval | Denial]) -> int:
    return sum(v.intent.amount for v in verdicts if isinstance(v, Approval))


@pytest.mark.parametrize("n", [2, 4])
async def test_daemons_on_one_key_never_overspend_together(
    n: int, sim: SimHandle, redis_url: str, redis_prefix: str
) -> None:
    fleet = Fleet(sim, redis_url, redis_prefix, rejoin_grace_s=0)
    async with fleet.stack:
        daemons = [await fleet.start() for _ in range(n)]
        # each gate alone would allow 100 USDC: n × 8 × 9 USDC asked, 11 × 9 = 99 fit
        verdicts = await asyncio.gather(*(d.buy(9 * U) for d in daemons for _ in range(8)))
        assert spent(verdicts) == 99 * U
        assert reasons(verdicts) == {Reason.DAILY_CAP_SHARED}
        assert fleet.venue_buys() == 99 * U
        assert fleet.spending_limit_answers() == 0
        now = WallClock().now()
        assert await daemons[0].shared.ledger.used(now) == 99 * U
        for d in daemons:  # the commits landed on Redis: nothing left reserved
            await d.shared.flush()
            assert d.shared.ledger.held() == []


async def test_killed_daemons_reservation_lapses_by_lease(
    sim: SimHandle, redis_url: str, redis_prefix: str
) -> None:
    fleet = Fleet(sim, redis_url, redis_prefix, rejoin_grace_s=0, lease_s=1.0)
    async with fleet.stack:
        a, b = await fleet.start(), await fleet.start()
        victim = await fleet.start(hang=True)
        send = asyncio.create_task(victim.buy(40 * U))
        await victim.router.executor.ctx.venue.sending.wait()  # stuck in its POST
        assert victim.shared.ledger.held()  # reserved on Redis before that
        for t in (send, *victim.shared.tasks):  # kill -9: nothing released, no more renewals
            t.cancel()
        await asyncio.gather(send, *victim.shared.tasks, return_exceptions=True)

        first = await asyncio.gather(*(d.buy(10 * U) for d in (a, b) for _ in range(4)))
        assert spent(first) == 60 * U  # the victim's 40 still held
        assert reasons(first) == {Reason.DAILY_CAP_SHARED}
        await asyncio.sleep(1.2)  # its lease lapses on the Redis clock
        after = await asyncio.gather(*(d.buy(10 * U) for d in (a, b) for _ in range(3)))
        assert spent(after) == 40 * U
        assert fleet.venue_buys() == 100 * U
        assert fleet.spending_limit_answers() == 0


async def test_redis_killed_mid_run_fails_closed_then_resumes(
    sim: SimHandle, private_redis: Any, redis_prefix: str
) -> None:
    fleet = Fleet(
        sim, private_redis.url, redis_prefix, rejoin_grace_s=0.5, lease_s=1.5, renew_every_s=0.2
    )
    async with fleet.stack:
        daemons = [await fleet.start() for _ in range(2)]
        await asyncio.sleep(0.6)  # a fresh ledger holds buys for the grace
        before = await asyncio.gather(*(d.buy(10 * U) for d in daemons for _ in range(2)))
        assert spent(before) == 40 * U
        await asyncio.gather(*(d.shared.flush() for d in daemons))  # the commits landed

        private_redis.kill()
        down = await asyncio.gather(*(d.buy(10 * U) for d in daemons for _ in range(3)))
        assert spent(down) == 0
        assert reasons(down) == {Reason.SHARED_STATE_UNAVAILABLE}
        assert fleet.venue_buys() == 40 * U  # nothing went out unchecked

        private_redis.start()  # empty: the daemons rejoin and put their entries back
        resumed: list[Approval | Denial] = []
        async with asyncio.timeout(10):
            while spent(resumed) == 0:
                resumed.append(await daemons[len(resumed) % 2].buy(10 * U))
                await asyncio.sleep(0.05)
        rest = await asyncio.gather(*(d.buy(10 * U) for d in daemons for _ in range(5)))
        assert spent(resumed) + spent(rest) == 60 * U  # the 40 before the outage still count
        assert Reason.DAILY_CAP_SHARED in reasons(rest)
        assert fleet.venue_buys() == 100 * U
        assert fleet.spending_limit_answers() == 0


async def test_a_restarted_daemon_puts_its_spend_back_on_an_empty_ledger(
    sim: SimHandle, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    db = str(tmp_path / "a.db")
    first = Fleet(sim, redis_url, redis_prefix, rejoin_grace_s=0)
    async with first.stack:
        a = await first.start(store_path=db)
        assert spent([await a.buy(10 * U) for _ in range(3)]) == 30 * U
    # the same daemon (same store) restarts on an empty ledger (a new prefix stands for one)
    again = Fleet(sim, redis_url, redis_prefix + "b", rejoin_grace_s=0)
    async with again.stack:
        a = await again.start(store_path=db)
        await a.shared.flush()
        assert await a.shared.ledger.used(WallClock().now()) == 30 * U
        b = await again.start()
        rest = await asyncio.gather(*(b.buy(10 * U) for _ in range(9)))
        assert spent(rest) == 70 * U
        assert fleet_ok(again)


def fleet_ok(fleet: Fleet) -> bool:
    return fleet.venue_buys() == 100 * U and fleet.spending_limit_answers() == 0
