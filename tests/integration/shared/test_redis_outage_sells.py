"""Redis down, one daemon's order path on the redis backend (the daemon's own wiring: the user's
budget from ``SharedState.request_budget``, the key's ledger from ``SharedSpend.connect``),
against a real simulator and a real redis-server that is killed and started again:

* with ``sells_when_unavailable`` and ``budget_fallback_share`` a sell reaches the venue while
  Redis is down (its requests go through the in-process fallback bucket), a buy never does;
* the outage is logged once per Redis client (``shared_state_down``), its end once
  (``shared_state_up``), and the failed calls are counted, however many requests retried.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from kashbot.app.fleet import SharedState
from kashbot.client import KashClient
from kashbot.clock import WallClock
from kashbot.events import OrderIntent, Side
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.execution.shared_spend import SharedSpend
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits
from kashbot.shared import SharedStateConfig
from kashbot.sim.embedded import SimHandle, run_sim
from kashbot.store.store import Store

U = USDC_ONE
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"
KEY = "developer"
_ids = itertools.count()


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(time_scale=20, noise=False) as handle:
        yield handle


def venue_trades(sim: SimHandle, side: str) -> int:
    return sum(1 for t in sim.venue.trades.values() if t.side == side)


def posts(sim: SimHandle) -> list[Any]:
    """What the venue answered each POST /v1/trades (its error code, None if accepted)."""
    return [r.get("code") for r in sim.venue.requests if r.get("route") == "POST /v1/trades"]


async def completed(sim: SimHandle, side: str) -> None:
    """Until the venue completed a trade of ``side`` (the buy's tokens are ours to sell)."""
    for _ in range(600):  # 30 s: generous on a loaded machine
        if any(t.side == side and t.status == "completed" for t in sim.venue.trades.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no completed {side} at the venue within 30 s")


async def order(router: OrderRouter, side: Side, amount: int) -> Approval | Denial:
    intent = OrderIntent(f"o-{next(_ids)}", "mm", MARKET, 0, side, amount)
    async with asyncio.timeout(30):  # a request stuck waiting for Redis would hang here
        return await router.submit(intent)


async def test_sells_go_out_while_redis_is_down_and_the_outage_is_logged_once(
    sim: SimHandle, private_redis: Any, redis_prefix: str
) -> None:
    cfg = SharedStateConfig.model_validate(
        {
            "backend": "redis",
            "url": private_redis.url,
            "prefix": redis_prefix,
            "op_timeout_s": 0.3,
            "rejoin_grace_s": 0,
            "sells_when_unavailable": True,
            "budget_fallback_share": 0.3,
        }
    )
    key = sim.keys[KEY]
    clock = WallClock()
    state = SharedState(cfg, key.user_id, clock=clock)
    budget = state.request_budget(tier=KEY, requests_per_min=None, share=0.9)
    shared = SharedSpend.connect(cfg, key.api_key)
    state.spend = shared
    async with KashClient(key.api_key, sim.base_url, budget=budget) as client:
        store = await Store.open(":memory:")
        gate = RiskGate(Limits.for_tier(KEY), clock=clock)
        settings = ExecutionSettings(poll_after_s=60.0, max_intent_age_s=None)
        executor = Executor(client, gate, store, clock=clock, settings=settings)
        router = OrderRouter(
            gate, client, store, clock=clock, executor=executor, shared_spend=shared
        )
        try:
            await router.recover()
            assert isinstance(await order(router, Side.BUY, 20 * U), Approval)
            await shared.flush()
            assert venue_trades(sim, "buy") == 1
            await completed(sim, "buy")

            with capture_logs() as logs:
                private_redis.kill()
                sold = await order(router, Side.SELL, 5 * U)
                assert isinstance(sold, Approval), sold
                assert venue_trades(sim, "sell") == 1, posts(sim)  # went out with Redis down
                for _ in range(3):  # more requests, each retrying Redis first
                    await client.get_market(MARKET)
                bought = await order(router, Side.BUY, 5 * U)
                assert isinstance(bought, Denial)
                assert bought.reason is Reason.SHARED_STATE_UNAVAILABLE
                assert venue_trades(sim, "buy") == 1  # no buy went out unchecked
                failed = state.failed_calls()
                assert failed >= 5  # every request and the buy's reservation tried Redis

                private_redis.start()
                for _ in range(150):  # buys resume once the ledger answers (15 s at most)
                    if isinstance(await order(router, Side.BUY, 5 * U), Approval):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("buys did not resume within 15 s of Redis's return")
                await client.get_market(MARKET)  # the budget's client is back too

            shared_lines = [e for e in logs if e["event"].startswith("shared_")]
            warnings = [e for e in shared_lines if e["log_level"] == "warning"]
            assert [e["event"] for e in warnings] == ["shared_state_down"] * 2, warnings
            assert sorted(e["client"] for e in warnings) == ["budget", "ledger"]
            ups = [e for e in logs if e["event"] == "shared_state_up"]
            assert sorted(e["client"] for e in ups) == ["budget", "ledger"]
            assert sum(e["failed_calls"] for e in ups) == state.failed_calls() >= failed
            assert state.status()["failed_calls"] == state.failed_calls()
        finally:
            await router.close()
            await store.close()
            await state.close()
