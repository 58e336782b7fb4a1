"""The executor's view of current pools: the engine's market state, for the limit guard.

Daemon and backtest pass the same function, so ``limit_probability`` is re-checked against the
pool the strategy saw (plus every trade observed since) right before an intent is sent.
"""

from __future__ import annotations

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.execution.settings import PoolView


def pool_view_of(state: EngineState) -> PoolView:
    """``market_id -> (pool, fees)`` from ``state``, None while the market's pool is unknown."""

    def view(market_id: str) -> tuple[amm.Pool, amm.Fees] | None:
        v = state.markets.get(market_id)
        if v is None:
            return None
        pool = v.pool  # replays trades observed since the last pool observation
        return None if pool is None else (pool, v.fees)

    return view
