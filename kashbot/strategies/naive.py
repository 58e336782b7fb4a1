"""BASELINE ONLY — not a strategy to run: the naive yardstick the built-in strategies must beat.

Every ``interval_s`` per market (no fill of ours there for that long, none pending), buy
``size_usdc`` of the outcome that looks cheapest against fair value, ``argmax_i (f_i - q_i)``
(ties: lowest index), whatever the gap: no edge threshold, no fee awareness, no price guard,
no selling, no sizing against the AMM's price impact. It stops buying an outcome once its cost
basis reaches ``max_position_usdc``. Holdings are left to the lifecycle's redemption.

It is what "trade toward fair value" looks like without any of the library's care, so a
strategy that cannot beat it (net of fees, on the same scenario) adds nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from kashbot.engine.protections import CooldownConfig, ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import StrategyParams
from kashbot.events import Event, OrderIntent, Side
from kashbot.money import usdc_to_atomic
from kashbot.strategies.base import MarketStrategy
from kashbot.strategies.pricing import fmt, intent
from kashbot.units import UsdcDecimal


class NaiveParams(StrategyParams):
    size_usdc: UsdcDecimal = Field(Decimal("10"), gt=0)
    interval_s: float = Field(600.0, gt=0)
    max_position_usdc: UsdcDecimal = Field(
        Decimal("250"), gt=0, description="cost basis per outcome"
    )


def last_buy_ts(state: EngineState, market_id: str) -> float | None:
    """When our last buy in ``market_id`` filled (None: never)."""
    return state.fills.last_buy_ts(market_id)


class Naive(MarketStrategy[NaiveParams]):
    name: ClassVar[str] = "naive"
    Params: ClassVar[type[StrategyParams]] = NaiveParams
    protections: ClassVar[ProtectionsConfig] = ProtectionsConfig(
        cooldown=CooldownConfig(seconds=60.0)
    )

    def decide_market(
        self, state: EngineState, view: MarketView, event: Event, params: NaiveParams, now: float
    ) -> list[OrderIntent]:
        q, fair = view.probabilities, view.fair
        if fair is None or len(q) != len(fair):
            return []
        last = last_buy_ts(state, view.market_id)
        if last is not None and now - last < params.interval_s:
            return []
        i = max(range(len(q)), key=lambda k: (fair[k] - q[k], -k))
        size = usdc_to_atomic(params.size_usdc)
        if state.position(view.market_id, i).cost + size > usdc_to_atomic(params.max_position_usdc):
            return []
        why = f"every {params.interval_s:g}s: cheapest vs fair q={fmt(q[i])} fair={fmt(fair[i])}"
        return [intent(self.strategy_id, view.market_id, i, Side.BUY, size, None, why)]


STRATEGY = Naive
