"""Expiry manager: trade toward fair value, then reduce or hold positions as the freeze nears.

Notation as :mod:`kashbot.strategies.inventory_mm` (``f_i`` fair, ``q_i`` pool chance, ``k``
Kelly fraction, ``H = max_position_usdc``, ``h_i`` cost basis, ``shares_i``), plus
``τ = freeze_at - now`` (Kash's ``freezeAt``: trading closes then, see
:mod:`kashbot.lifecycle`), ``W = window_s``, ``S = sell_by_s``, ``κ = keep_fraction``.

* **Before the window** (``τ > W``, or a market without ``freezeAt``): buy when
  ``q_i < Lb = buy_limit(f_i)`` up to ``push(q_i, Lb, k)`` and ``H - h_i``; sell holdings when
  ``q_i > Ls = sell_limit(f_i)`` down to ``push(q_i, Ls, k)`` (both as ``inventory_mm``,
  without skew).
* **In the window** (``τ <= W``) nothing is bought. Each held outcome is

  - *held* when ``f_i - q_i >= hold_edge_bps``: the pool underprices it by at least that, so
    keeping it to resolution is worth more than selling it now;
  - else *sold down* to the allowance ``A(τ) = H * (κ + (1 - κ) * clamp((τ - S) / (W - S), 0, 1))``
    (cost basis): ``tokens = shares_i * (h_i - A) / h_i``, at most ``max_trade_usdc`` a sale,
    guarded so the pool stays at or above ``q_after - slippage_bps``. From ``τ = S`` on, at most
    ``κ H`` is carried into the freeze.

What is still held at the freeze is left to the lifecycle: the redeemer claims winners (and
cancellation refunds) once the market settles; this strategy never redeems. Sells in the
``FREEZING`` margin are still allowed by the gate, buys are not.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import ClassVar

from pydantic import Field, model_validator

from kashbot import amm
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import StrategyParams
from kashbot.events import Event, OrderIntent
from kashbot.money import WAD, Atomic, decimal_to_wad, usdc_to_atomic
from kashbot.strategies.base import MarketStrategy
from kashbot.strategies.pricing import (
    EDGE_UNIT,
    buy_intent,
    buy_limit,
    clamp_chance,
    first,
    floor_usdc,
    fmt,
    push,
    ramp,
    reduce_to,
    sell_intent,
    sell_limit,
    time_to_freeze,
)
from kashbot.units import UsdcDecimal


class ExpiryParams(StrategyParams):
    edge_bps: int = Field(100, ge=0, le=5_000, description="entry edge beyond fees")
    kelly_fraction: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(Decimal("250"), gt=0)
    window_s: float = Field(3600.0, gt=0, description="manage positions this long before freeze")
    sell_by_s: float = Field(600.0, ge=0, description="be down to keep_fraction by T-minus this")
    keep_fraction: Decimal = Field(Decimal("0.25"), ge=0, le=1)
    hold_edge_bps: int = Field(500, ge=0, le=10_000, description="hold if f - q >= this")
    slippage_bps: int = Field(200, ge=0, le=5_000, description="sell guard below q after sale")

    @model_validator(mode="after")
    def _window(self) -> ExpiryParams:
        if self.sell_by_s >= self.window_s:
            raise ValueError("sell_by_s must be less than window_s")
        return self


def allowance(p: ExpiryParams, tau: float) -> Atomic:
    """Cost basis an outcome may still carry ``tau`` seconds before the freeze (exact:
    ``floor(H * (κ + (1 - κ) * ramp))``, the ramp a ``Fraction`` of the float times)."""
    keep = Fraction(p.keep_fraction)
    share = keep + (1 - keep) * ramp(tau, p.sell_by_s, p.window_s)
    return floor_usdc(usdc_to_atomic(p.max_position_usdc) * share)


def manage(
    state: EngineState, view: MarketView, p: ExpiryParams, tau: float, strategy: str
) -> list[OrderIntent]:
    """In the window: hold what the pool underprices, sell the rest down to the allowance."""
    fair, q = view.fair, view.probabilities
    assert fair is not None
    allowed = allowance(p, tau)
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    out: list[OrderIntent | None] = []
    for i in range(len(q)):
        if fair[i] - q[i] >= p.hold_edge_bps * EDGE_UNIT:
            continue
        cost = state.position(view.market_id, i).cost
        why = f"T-{tau:.0f}s: cost {cost} > allowance {allowed}, f-q={fmt(fair[i] - q[i])}"
        out.append(reduce_to(state, view, strategy, i, allowed, most, least, p.slippage_bps, why))
    return first(out)


def trade(
    state: EngineState, view: MarketView, p: ExpiryParams, strategy: str
) -> list[OrderIntent]:
    """Before the window: the fair-value band with a fractional-Kelly push."""
    pool, fair, q = view.pool, view.fair, view.probabilities
    assert pool is not None and fair is not None
    k = decimal_to_wad(p.kelly_fraction)
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    cap = usdc_to_atomic(p.max_position_usdc)
    out: list[OrderIntent | None] = []
    for i in range(len(q)):
        h = state.position(view.market_id, i)
        ls = sell_limit(fair[i], view.fees, p.edge_bps)
        if h.shares > 0 and ls < WAD and q[i] > ls:
            t = clamp_chance(push(q[i], ls, k))
            tokens = min(amm.sell_tokens_to_reach(pool, i, t), h.shares)
            why = f"q={fmt(q[i])} > sell_limit={fmt(ls)}"
            out.append(sell_intent(view, strategy, i, tokens, t, most, least, why))
    for i in sorted(range(len(q)), key=lambda j: q[j] - fair[j]):
        lb = buy_limit(fair[i], view.fees, p.edge_bps)
        if lb > 0 and q[i] < lb:
            t = clamp_chance(push(q[i], lb, k))
            room = min(most, cap - state.position(view.market_id, i).cost)
            why = f"q={fmt(q[i])} < buy_limit={fmt(lb)}"
            out.append(buy_intent(view, strategy, i, t, room, least, why))
    return first(out)


class ExpiryManager(MarketStrategy[ExpiryParams]):
    name: ClassVar[str] = "expiry_manager"
    Params: ClassVar[type[StrategyParams]] = ExpiryParams

    def decide_market(
        self, state: EngineState, view: MarketView, event: Event, params: ExpiryParams, now: float
    ) -> list[OrderIntent]:
        if view.pool is None or view.fair is None or len(view.fair) != view.pool.outcome_count:
            return []
        tau = time_to_freeze(view, now)
        if tau is not None and tau <= params.window_s:
            return manage(state, view, params, tau, self.strategy_id)
        return trade(state, view, params, self.strategy_id)


STRATEGY = ExpiryManager
