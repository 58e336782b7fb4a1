"""FairGap: buy an outcome the pool prices below fair, sell it back once the pool prices it above.

All chances are WAD ints (1e18 = 100 %), all amounts USDC atomic ints (1e6 = 1 USDC). With
``f`` the fair chance of outcome ``i`` (the latest ``FairValueUpdate``), ``q`` the pool's
chance and ``e = edge_bps`` (bps of probability):

* sell ``i`` (held) when ``q > f + e``: burn ``min(sell_tokens_to_reach(pool, i, f + e),
  shares)`` and ask for what that sale pays (``amm.sell(...).payout``, fees off), at most
  ``trade_usdc`` (the venue then burns only the shares that amount needs);
* else buy ``i`` when ``q < f - e``: spend ``min(buy_amount_to_reach(pool, i, f - e),
  trade_usdc, max_position_usdc - cost)``;
* nothing under ``min_trade_usdc`` (the risk gate denies below 0.01 USDC: BELOW_MINIMUM), while
  an intent of ours is pending in the market, or when the market is not tradeable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PriceChange,
    RiskDenied,
    Side,
)
from kashbot.money import WAD, usdc_to_atomic, wad_to_decimal
from kashbot.units import UsdcDecimal  # a Decimal with at most 6 places

BPS = 10_000


class FairGapParams(StrategyParams):  # frozen; unknown keys are config errors
    edge_bps: int = Field(200, ge=0, le=5_000, description="distance from fair, bps")
    trade_usdc: UsdcDecimal = Field(Decimal("10"), gt=0, description="most USDC per intent")
    min_trade_usdc: UsdcDecimal = Field(Decimal("0.5"), ge=Decimal("0.01"))
    max_position_usdc: UsdcDecimal = Field(Decimal("100"), gt=0, description="cost per outcome")


class FairGap(Strategy[FairGapParams]):
    name: ClassVar[str] = "fair_gap"
    Params = FairGapParams
    # only these events reach decide(); RiskDenied is here so the table test can show a denial
    # changes nothing (waiting after one is the protections' job, set in YAML)
    handles = (MarketSnapshot, PriceChange, FairValueUpdate, RiskDenied)

    def decide(
        self, state: EngineState, event: Event, params: FairGapParams, now: float
    ) -> list[OrderIntent]:
        if not isinstance(event, MarketSnapshot | PriceChange | FairValueUpdate):
            return []  # a RiskDenied: event.reason is BELOW_MINIMUM, DAILY_CAP, ...
        view = state.markets.get(event.market_id)
        if view is None or view.pool is None or view.fair is None or not view.tradeable(now):
            return []
        if state.has_pending(self.strategy_id, view.market_id):
            return []  # one intent at a time per market
        pool, fees, edge = view.pool, view.fees, params.edge_bps * (WAD // BPS)
        least = usdc_to_atomic(params.min_trade_usdc)
        for i, (f, q) in enumerate(zip(view.fair, view.probabilities, strict=False)):
            held = state.position(view.market_id, i)
            if held.shares > 0 and q > f + edge:  # sell back toward fair
                most = min(held.shares, pool.supplies[i] - 1)  # the pool keeps one token
                tokens = min(amm.sell_tokens_to_reach(pool, i, f + edge), most)
                payout = amm.sell(pool, i, tokens, fees).payout if tokens > 0 else 0
                payout = min(payout, usdc_to_atomic(params.trade_usdc))
                if payout >= least:
                    return [self._intent(view.market_id, i, Side.SELL, payout, f + edge, q, f)]
        for i, (f, q) in enumerate(zip(view.fair, view.probabilities, strict=False)):
            if q < f - edge:  # buy toward fair, within the position cap
                room = usdc_to_atomic(params.max_position_usdc)
                room -= state.position(view.market_id, i).cost
                cap = min(usdc_to_atomic(params.trade_usdc), room)
                if cap < least:
                    continue
                amount = min(amm.buy_amount_to_reach(pool, i, f - edge, fees), cap)
                if amount >= least:
                    return [self._intent(view.market_id, i, Side.BUY, amount, f - edge, q, f)]
        return []

    def _intent(
        self, market_id: str, i: int, side: Side, amount: int, limit: int, q: int, f: int
    ) -> OrderIntent:
        """Leave intent_id, strategy and created_ts empty: the engine stamps them."""
        return OrderIntent(
            intent_id="",
            strategy="",
            market_id=market_id,
            outcome=i,
            side=side,
            amount=amount,  # buy: USDC to spend; sell: USDC to receive
            limit_probability=limit,  # the guard: the pool must not move past it
            reason=f"q={wad_to_decimal(q):.4f} fair={wad_to_decimal(f):.4f}",
            closing=side is Side.SELL,
        )


STRATEGY = FairGap
