"""The shell every built-in market strategy shares: which events it decides on, its default
protections, and the checks before a market is decided (known, tradeable, nothing of ours
pending there). A subclass writes only :meth:`MarketStrategy.decide_market`, the pure rule for
one market, so the five strategies do not each repeat the same guard."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import Field, model_validator

from kashbot.engine.protections import ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, OrderIntent
from kashbot.money import Atomic
from kashbot.strategies.pricing import (
    DECIDES_ON,
    PROTECTIONS,
    time_to_freeze,
    wind_down_allowance,
)

P = TypeVar("P", bound=StrategyParams)


class WindDownParams(StrategyParams):
    """The wind-down before a freeze (``pricing.wind_down_allowance``) that ``inventory_mm`` and
    ``consistency`` share: no buys from ``wind_down_s`` before ``freezeAt``, flat by
    ``flat_by_s`` before it, each sale guarded ``slippage_bps`` below the chance after it."""

    wind_down_s: float = Field(
        3600.0, gt=0, description="stop buying and start going flat this long before freezeAt"
    )
    flat_by_s: float = Field(600.0, ge=0, description="hold nothing from this long before it")
    slippage_bps: int = Field(200, ge=0, le=5_000, description="unwind guard below q after sale")

    @model_validator(mode="after")
    def _wind_down(self) -> WindDownParams:
        if self.flat_by_s >= self.wind_down_s:
            raise ValueError("flat_by_s must be less than wind_down_s")
        return self

    def allowance_at(
        self, view: MarketView, now: float, cap: Atomic
    ) -> tuple[float | None, Atomic]:
        """(τ to the market's freeze, the cost basis an outcome may carry now: all of ``cap``
        outside the wind-down)."""
        tau = time_to_freeze(view, now)
        return tau, wind_down_allowance(cap, tau, self.wind_down_s, self.flat_by_s)


class MarketStrategy(Strategy[P]):
    """Decides one market per event (``MarketSnapshot``, ``PriceChange``, ``FairValueUpdate``)."""

    handles = DECIDES_ON
    protections: ClassVar[ProtectionsConfig] = PROTECTIONS

    def decide(self, state: EngineState, event: Event, params: P, now: float) -> list[OrderIntent]:
        if not isinstance(event, DECIDES_ON) or not self.trades_in(event.market_id, params):
            return []
        view = state.markets.get(event.market_id)
        if (
            view is None
            or not view.tradeable(now)
            or state.has_pending(self.strategy_id, view.market_id)
        ):
            return []
        return self.decide_market(state, view, event, params, now)

    def trades_in(self, market_id: str, params: P) -> bool:
        """Whether this strategy acts on ``market_id`` at all (default: every market it sees)."""
        return True

    def decide_market(
        self, state: EngineState, view: MarketView, event: Event, params: P, now: float
    ) -> list[OrderIntent]:
        """Pure: the intents for ``view``'s market (a tradeable one, nothing of ours pending)."""
        raise NotImplementedError
