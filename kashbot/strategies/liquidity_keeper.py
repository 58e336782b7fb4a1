"""Liquidity keeper for market creators: keep an organisation's own pools near fair value, within
a budget, so its markets stay attractive to trade (Kash pays the creating organisation a share
of the trading fees of every trade in them; see :mod:`kashbot.strategies.creator_fees` for the
estimate of what that earns).

Only the markets in ``own_markets`` are touched. Per market, with ``f_i`` the fair chance,
``q_i`` the pool's, ``β = band_bps``, ``k = push_fraction × c`` with ``c`` the fair value's
confidence (the last ``FairValueUpdate``'s, kept on ``MarketView.fair_confidence``; 1 when the
source gives none), so an unsure fair value moves the pool less:

* the outcome that strays most, ``i = argmax |q_i - f_i|``, is acted on when ``|q_i - f_i| > β``;
* **too cheap** (``q_i < f_i - β``): buy ``i`` toward ``push(q_i, buy_limit(f_i), k)``
  (``buy_limit`` with ``edge_bps``: the keeper never pays more than fair after fees);
* **too dear** (``q_i > f_i + β``): sell held shares of ``i`` toward
  ``push(q_i, sell_limit(f_i), k)``; holding none, buy instead the outcome ``j`` that is most
  below its own buy limit (buying ``j`` lowers every other chance, ``i``'s included);
* **budget**: a buy is at most ``max_trade_usdc``, at most ``max_position_usdc`` of cost basis
  per outcome, and at most ``daily_budget_usdc`` of buys per market over the last 24 h
  (fills plus pending buys, read from the engine state: the strategy keeps no memory).

One intent per market per decision; nothing while one of ours is pending there, or when the
market is not tradeable. Protections: a 5 s cooldown after a denial.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from kashbot import amm
from kashbot.engine.protections import CooldownConfig, ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import StrategyParams
from kashbot.events import Event, OrderIntent
from kashbot.money import WAD, decimal_to_wad, usdc_to_atomic
from kashbot.strategies.base import MarketStrategy
from kashbot.strategies.pricing import (
    EDGE_UNIT,
    buy_intent,
    buy_limit,
    clamp_chance,
    confidence,
    fmt,
    push,
    sell_intent,
    sell_limit,
    spent_since,
)
from kashbot.units import UsdcDecimal

DAY_S = 86_400.0


class KeeperParams(StrategyParams):
    own_markets: list[str] = Field(min_length=1, description="ids of the markets we created")
    band_bps: int = Field(200, ge=0, le=5_000, description="tolerated |q - f| before acting")
    edge_bps: int = Field(0, ge=0, le=5_000, description="edge beyond fees on each trade")
    push_fraction: Decimal = Field(Decimal("1"), gt=0, le=1)
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(Decimal("250"), gt=0)
    daily_budget_usdc: UsdcDecimal = Field(
        Decimal("500"), gt=0, description="buys per market per rolling 24 h"
    )
    revenue_share_bps: int = Field(
        0, ge=0, le=10_000, description="our share of the protocol fee (creator_fees estimate)"
    )


def decide_market(
    state: EngineState,
    view: MarketView,
    p: KeeperParams,
    now: float,
    strategy: str,
    event: Event | None = None,
) -> list[OrderIntent]:
    """The decision for one own market (the module docstring has the rule)."""
    pool, fair, q = view.pool, view.fair, view.probabilities
    if pool is None or fair is None or len(fair) != len(q) or len(q) != pool.outcome_count:
        return []
    i = max(range(len(q)), key=lambda j: (abs(q[j] - fair[j]), -j))
    if abs(q[i] - fair[i]) <= p.band_bps * EDGE_UNIT:
        return []
    k = decimal_to_wad(p.push_fraction) * confidence(event, view, WAD) // WAD
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    budget = usdc_to_atomic(p.daily_budget_usdc) - spent_since(state, view.market_id, now - DAY_S)
    cap = usdc_to_atomic(p.max_position_usdc)
    held = state.position(view.market_id, i).shares
    if q[i] > fair[i] and held > 0:
        ls = sell_limit(fair[i], view.fees, p.edge_bps)
        if ls < WAD and q[i] > ls:
            t = clamp_chance(push(q[i], ls, k))
            tokens = min(amm.sell_tokens_to_reach(pool, i, t), held)
            why = f"keep: q={fmt(q[i])} > f={fmt(fair[i])} + band"
            found = sell_intent(view, strategy, i, tokens, t, most, least, why)
            if found is not None:
                return [found]
    if q[i] > fair[i]:  # too dear and nothing (sellable) held: buy the cheapest other outcome
        others = [j for j in range(len(q)) if j != i]
        i = max(others, key=lambda j: (buy_limit(fair[j], view.fees, p.edge_bps) - q[j], -j))
    lb = buy_limit(fair[i], view.fees, p.edge_bps)
    if lb <= 0 or q[i] >= lb:
        return []
    t = clamp_chance(push(q[i], lb, k))
    room = min(most, budget, cap - state.position(view.market_id, i).cost)
    why = f"keep: q={fmt(q[i])} f={fmt(fair[i])} budget left {budget}"
    found = buy_intent(view, strategy, i, t, room, least, why)
    return [] if found is None else [found]


class LiquidityKeeper(MarketStrategy[KeeperParams]):
    name: ClassVar[str] = "liquidity_keeper"
    Params: ClassVar[type[StrategyParams]] = KeeperParams
    protections: ClassVar[ProtectionsConfig] = ProtectionsConfig(
        cooldown=CooldownConfig(seconds=5.0)
    )

    def trades_in(self, market_id: str, params: KeeperParams) -> bool:
        return market_id in params.own_markets

    def decide_market(
        self, state: EngineState, view: MarketView, event: Event, params: KeeperParams, now: float
    ) -> list[OrderIntent]:
        return decide_market(state, view, params, now, self.strategy_id, event)


STRATEGY = LiquidityKeeper
