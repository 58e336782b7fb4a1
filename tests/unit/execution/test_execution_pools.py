"""The pool view the daemon and the backtest hand the executor: the engine's market state."""

from __future__ import annotations

from types import SimpleNamespace

from exec_fakes import FakeVenue

from kashbot import amm
from kashbot.backtest.assembly import assemble
from kashbot.clock import SimClock
from kashbot.config import parse_config
from kashbot.engine.state import EngineState
from kashbot.events import PriceChange
from kashbot.execution.pools import pool_view_of
from kashbot.money import USDC_ONE

POOL = amm.seed_pool(1_000 * USDC_ONE)


def test_the_view_is_the_engine_pool_and_fees() -> None:
    state = EngineState()
    view = pool_view_of(state)
    assert view("m1") is None  # never seen
    state.apply(PriceChange(1.0, "m1", amm.probabilities(POOL)))
    assert view("m1") is None  # chances only (the REST API gives no pool)
    state.apply(PriceChange(2.0, "m1", amm.probabilities(POOL), pool=POOL))
    assert view("m1") == (POOL, state.market("m1").fees)


async def test_the_backtest_assembly_guards_limits_with_the_engine_pools() -> None:
    cfg = parse_config(
        "venue: {mode: paper, sim: {key_tier: developer}}\n"
        "strategies: [{name: fair_value, id: fv}]\n",
        "bt.yaml",
        {},
    )
    tape = SimpleNamespace(
        on_price=None,
        on_fair=None,
        on_denied=None,
        on_trade=None,
        on_redeemed=None,
        on_intent=None,
        fair={},
    )
    parts = await assemble(
        cfg,
        SimClock(),
        FakeVenue(),
        tape,
        venue_markets=["m1"],
        start=0.0,  # type: ignore[arg-type]
    )
    try:
        view = parts.router.executor.pool_view
        assert view is not None
        parts.engine.state.apply(PriceChange(1.0, "m1", amm.probabilities(POOL), pool=POOL))
        assert view("m1") == (POOL, parts.engine.state.market("m1").fees)
    finally:
        await parts.close()
