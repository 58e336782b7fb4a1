"""The limit-probability guard as ``kashbot run`` wires it, against the simulator (run_sim).

The daemon's router re-checks an intent's ``limit_probability`` against the engine's current
pool right before sending. Someone else moves the pool after the strategy decided: the intent is
denied ``LIMIT_BREACHED`` and the venue never sees a POST for it; an intent whose limit still
holds trades as usual.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from daemon_cfg import daemon_cfg

from kashbot import amm
from kashbot.app.daemon import Daemon
from kashbot.config import KashbotConfig
from kashbot.events import OrderIntent, Side
from kashbot.money import USDC_ONE, WAD
from kashbot.obs.logging import configure
from kashbot.risk.gate import Approval, Reason
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(60)
U = USDC_ONE


def make_cfg(store: Path) -> KashbotConfig:
    poller = {"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 0.2}
    return daemon_cfg(store, poller=poller, sim_truth=False, strategies=(), shutdown_grace_s=2)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3, noise=False) as handle:
        yield handle


async def wait_for(predicate: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def trade_posts(sim: SimHandle) -> list[str]:
    return [r["path"] for r in sim.venue.requests if r["route"] == "POST /v1/trades"]


async def test_an_intent_past_its_limit_is_denied_before_the_venue(
    sim: SimHandle, tmp_path: Path
) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    market = sim.market_ids[0]
    async with Daemon(make_cfg(tmp_path / "g.sqlite"), sim=sim, control_port=0) as d:
        runner = asyncio.create_task(d.run())
        try:
            view = d.engine.state.market(market)
            await wait_for(lambda: view.pool is not None)
            pool = view.pool
            assert pool is not None
            # the strategy's limit: at most 2 points above the chance after its own 5 USDC buy
            mine = amm.probability(amm.buy(pool, 0, 5 * U, view.fees).pool, 0)
            limit = mine + 2 * WAD // 100
            # someone else buys outcome 0 hard before our intent leaves
            sim.venue.apply_external_trade(market, 0, "buy", 400 * U)
            moved = amm.probability(sim.venue.markets[market].pool, 0)
            assert moved > limit
            await wait_for(lambda: view.pool is not None and amm.probability(view.pool, 0) > limit)

            posts = len(trade_posts(sim))
            late = OrderIntent(
                "late-1", "manual", market, 0, Side.BUY, 5 * U, limit_probability=limit
            )
            assert isinstance(await d.router.submit(late), Approval)  # the gate approved it
            assert [(d_.intent.intent_id, d_.reason) for d_ in d.gate.recent_denials] == [
                ("late-1", Reason.LIMIT_BREACHED)
            ]
            assert len(trade_posts(sim)) == posts  # nothing reached the venue
            assert all(t.client_request_id != "late-1" for t in sim.venue.trades.values())
            assert d.gate.ledger.used(d.clock.now()) == 0  # its reservation came back
            assert ("late-1", "LIMIT_BREACHED") in [
                (i, r)
                for i, r, _ in d.router.status()["recent_denials"]  # type: ignore[union-attr]
            ]

            # the same intent with a limit above the moved pool still trades
            fresh = amm.probability(amm.buy(view.pool, 0, 5 * U, view.fees).pool, 0)  # type: ignore[arg-type]
            ok = OrderIntent(
                "fresh-1",
                "manual",
                market,
                0,
                Side.BUY,
                5 * U,
                limit_probability=fresh + WAD // 100,
            )
            assert isinstance(await d.router.submit(ok), Approval)
            assert len(trade_posts(sim)) == posts + 1
            await wait_for(
                lambda: any(
                    t.client_request_id == "fresh-1" and t.status == "completed"
                    for t in sim.venue.trades.values()
                )
            )
            assert [d_.intent.intent_id for d_ in d.gate.recent_denials] == ["late-1"]
        finally:
            d.stop()
            await runner


async def test_the_daemon_takes_the_execution_section(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    base = make_cfg(tmp_path / "x.sqlite")
    cfg = base.model_copy(
        update={
            "execution": base.execution.model_copy(
                update={
                    "max_intent_age_s": 3.0,
                    "reconcile_interval_s": 7.0,
                    "unknown_settle_s": 45.0,
                    "recovery_attempts": 2,
                    "recovery_backoff_s": 0.25,
                    "recovery_backoff_max_s": 2.0,
                }
            )
        }
    )
    async with Daemon(cfg, sim=sim, control_port=0) as d:
        r, ex = d.router, d.router.executor
        s, rs = ex.settings, r.settings
        assert (s.max_intent_age_s, s.unknown_settle_s) == (3.0, 45.0)
        assert rs.reconcile_interval_s == 7.0
        recovery = (rs.recovery_attempts, rs.recovery_backoff_s, rs.recovery_backoff_max_s)
        assert recovery == (2, 0.25, 2)
        assert ex.pool_view is not None
