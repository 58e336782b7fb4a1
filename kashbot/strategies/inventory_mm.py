"""Inventory-aware market maker: trade toward fair value, sized by edge and confidence, skewed by
inventory, with a loss limit per market.

Per outcome ``i`` of a market (WAD probabilities; :mod:`kashbot.strategies.pricing` for
``buy_limit``, ``sell_limit`` and ``push``): ``f_i`` the fair chance (latest ``FairValueUpdate``),
``c`` its confidence (the event's, else the last one kept on ``MarketView.fair_confidence``,
else ``params.confidence``), ``k = kelly_fraction``,
``h_i`` our cost basis in the outcome, ``T`` the market's inventory target, ``H`` the position
cap (``max_position_usdc``), ``γ`` the market's skew (``skew_bps``):

    r_i = f_i - γ * (h_i - T) / H                    reservation chance (Avellaneda-Stoikov skew)
    buy  when q_i < Lb = buy_limit(r_i):   to   t = push(q_i, Lb, k * c)
         amount = min(buy_amount_to_reach(pool, i, t), max_trade, H - h_i)
    sell when held and q_i > Ls = sell_limit(r_i): to   t = push(q_i, Ls, k * c)
         tokens = min(sell_tokens_to_reach(pool, i, t), shares_i); amount = its payout

*Fractional Kelly against price impact*: on an AMM each marginal dollar buys at a worse price,
so a full-edge trade would push the pool right to the limit, where the last dollar earns
nothing; stopping at ``push(q, L, k*c)`` keeps ``(1 - k*c)`` of the edge on the last dollar,
so size grows with both the edge (the gap to the limit) and the confidence in the fair value.
Inventory above target lowers ``r_i``: buying needs a bigger gap and selling starts sooner.

*Wind-down* (a market maker does not carry inventory into a resolution: the outcome's whole
variance is realised at once there, which no edge of a few points pays for): with
``τ = freezeAt - now``, ``W = wind_down_s``, ``F = flat_by_s``, from ``τ <= W`` nothing is bought
and every outcome is sold down to the allowance ``A(τ) = H * clamp((τ - F) / (W - F), 0, 1)`` of
cost basis (``pricing.wind_down_allowance``), at most ``max_trade_usdc`` a sale, guarded
``slippage_bps`` below the chance after the sale: flat by ``τ = F``. A market without
``freezeAt`` never winds down.

*Loss limit*: once ``-market_pnl`` (realised + marked, net of fees) reaches
``loss_limit_usdc`` in a market, nothing more is bought there and what is held is sold down to
zero the same way (a limit that only stopped buys would leave the losing inventory on).

At most one intent per market per decision (the sell with the largest excess over its limit,
else the buy with the largest gap); nothing while one of ours is pending there, or when the
market is not tradeable. Protections (applied by the engine outside ``decide``): a 5 s
cooldown after a denial and a back-off after cap denials, as ``fair_value``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from kashbot import amm
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import StrategyParams
from kashbot.events import Event, OrderIntent
from kashbot.money import WAD, Wad, decimal_to_wad, usdc_to_atomic
from kashbot.strategies.base import MarketStrategy, WindDownParams
from kashbot.strategies.pricing import (
    buy_intent,
    buy_limit,
    clamp_chance,
    confidence,
    first,
    fmt,
    market_pnl,
    push,
    reduce_to,
    sell_intent,
    sell_limit,
)
from kashbot.units import UsdcDecimal


class Inventory(BaseModel):
    """One market's inventory target (cost basis per outcome) and skew."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_usdc: UsdcDecimal = Field(Decimal("0"), ge=0)
    skew_bps: int = Field(200, ge=0, le=5_000)


class InventoryMMParams(WindDownParams):
    edge_bps: int = Field(50, ge=0, le=5_000, description="edge beyond fees, bps of probability")
    kelly_fraction: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    confidence: Decimal = Field(
        Decimal("1"), ge=0, le=1, description="used when the fair value carries none"
    )
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(
        Decimal("250"), gt=0, description="cost basis per outcome"
    )
    loss_limit_usdc: UsdcDecimal = Field(
        Decimal("100"), gt=0, description="stop buying a market past this realised+marked loss"
    )
    inventory: Inventory = Field(default_factory=Inventory, description="every market's default")
    markets: dict[str, Inventory] = Field(
        default_factory=dict, description="market id -> its own inventory target and skew"
    )

    def inventory_for(self, market_id: str) -> Inventory:
        return self.markets.get(market_id, self.inventory)


def reservation(fair: Wad, held: int, inv: Inventory, cap: int) -> Wad:
    """``f - γ (h - T) / H``, kept inside (0, 1)."""
    target = usdc_to_atomic(inv.target_usdc)
    shift = inv.skew_bps * (WAD // 10_000) * (held - target) // cap
    return clamp_chance(fair - shift)


def unwind(
    state: EngineState,
    view: MarketView,
    p: InventoryMMParams,
    allowed: int,
    strategy: str,
    why: str,
) -> list[OrderIntent]:
    """Sell every outcome down to ``allowed`` of cost basis, the largest excess first."""
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    n = view.pool.outcome_count if view.pool is not None else 0
    order = sorted(range(n), key=lambda i: (-state.position(view.market_id, i).cost, i))
    return first(
        reduce_to(state, view, strategy, i, allowed, most, least, p.slippage_bps, why)
        for i in order
    )


def decide_market(
    state: EngineState,
    view: MarketView,
    event: Event,
    p: InventoryMMParams,
    strategy: str,
    now: float,
) -> list[OrderIntent]:
    """The decision for one market (the module docstring has the formula)."""
    cap = usdc_to_atomic(p.max_position_usdc)
    tau, allowed = p.allowance_at(view, now, cap)
    if -market_pnl(state, view) >= usdc_to_atomic(p.loss_limit_usdc):
        return unwind(state, view, p, 0, strategy, "loss limit reached: going flat")
    if allowed < cap:
        assert tau is not None
        return unwind(state, view, p, allowed, strategy, f"T-{tau:.0f}s: winding down to {allowed}")
    pool, fair = view.pool, view.fair
    q = view.probabilities
    if pool is None or fair is None or len(fair) != len(q) or len(q) != pool.outcome_count:
        return []
    k = (
        decimal_to_wad(p.kelly_fraction)
        * confidence(event, view, decimal_to_wad(p.confidence))
        // WAD
    )
    least, most = usdc_to_atomic(p.min_trade_usdc), usdc_to_atomic(p.max_trade_usdc)
    inv = p.inventory_for(view.market_id)
    sells: list[tuple[int, int, Wad, Wad]] = []  # (excess, outcome, limit, reservation)
    buys: list[tuple[int, int, Wad, Wad]] = []
    for i in range(len(q)):
        h = state.position(view.market_id, i)
        r = reservation(fair[i], h.cost, inv, cap)
        ls = sell_limit(r, view.fees, p.edge_bps)
        if h.shares > 0 and ls < WAD and q[i] > ls:
            sells.append((q[i] - ls, i, ls, r))
        lb = buy_limit(r, view.fees, p.edge_bps)
        if lb > 0 and q[i] < lb:
            buys.append((lb - q[i], i, lb, r))
    sells.sort(key=lambda s: (-s[0], s[1]))
    buys.sort(key=lambda b: (-b[0], b[1]))

    def sell(c: tuple[int, int, Wad, Wad]) -> OrderIntent | None:
        _, i, lim, r = c
        t = clamp_chance(push(q[i], lim, k))
        tokens = min(amm.sell_tokens_to_reach(pool, i, t), state.position(view.market_id, i).shares)
        why = f"q={fmt(q[i])} > sell_limit={fmt(lim)} r={fmt(r)} to {fmt(t)}"
        return sell_intent(view, strategy, i, tokens, t, most, least, why)

    def buy(c: tuple[int, int, Wad, Wad]) -> OrderIntent | None:
        _, i, lim, r = c
        t = clamp_chance(push(q[i], lim, k))
        room = min(most, cap - state.position(view.market_id, i).cost)
        why = f"q={fmt(q[i])} < buy_limit={fmt(lim)} r={fmt(r)} to {fmt(t)}"
        return buy_intent(view, strategy, i, t, room, least, why)

    found = first(sell(c) for c in sells)
    if found or not buys:
        return found
    return first(buy(c) for c in buys)


class InventoryMM(MarketStrategy[InventoryMMParams]):
    name: ClassVar[str] = "inventory_mm"
    Params: ClassVar[type[StrategyParams]] = InventoryMMParams

    def decide_market(
        self,
        state: EngineState,
        view: MarketView,
        event: Event,
        params: InventoryMMParams,
        now: float,
    ) -> list[OrderIntent]:
        return decide_market(state, view, event, params, self.strategy_id, now)


STRATEGY = InventoryMM
