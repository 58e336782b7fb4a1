"""Fair-value band: trade the pool toward a fair probability when it strays past fees plus edge.

Notation (all WAD integers; BPS = 10_000): ``f_i`` fair chance of outcome ``i`` (from the latest
``FairValueUpdate`` for the market, else ``params.fair``), ``q_i`` the pool's implied chance
(capital share), ``φp = protocol_fee_bps``, ``φs = amm_sell_fee_bps``, ``e = edge_bps * 1e14``.

    buy_limit_i  = f_i * (BPS - φp) / BPS - e                        (floor)
    sell_limit_i = f_i * BPS**2 / ((BPS - φp) * (BPS - φs)) + e      (ceil)

* **Sell** (closing) outcome ``i`` when we hold shares of it and ``q_i > sell_limit_i``:
  ``tokens = min(sell_tokens_to_reach(pool, i, sell_limit_i), shares_i)``, and the intent's
  amount is the USDC that sale pays (``amm.sell(...).payout``, what a REST sell's ``amount`` means),
  capped at ``max_trade_usdc`` (priced only when :func:`payout_bound` says the sale could reach
  ``min_trade_usdc``). Guard: ``limit_probability = sell_limit_i`` (q must stay >= it).
  At the pool decided on, the venue burns ``tokens_for_payout(pool, i, amount) <= shares_i``; no
  sell is offered for an outcome we hold nothing of (``shares_i`` follows our sells, and the
  venue's own figure after each one — see ``kashbot.execution.executor``).
* **Buy** outcome ``i`` when ``q_i < buy_limit_i``:
  ``amount = min(buy_amount_to_reach(pool, i, buy_limit_i), max_trade_usdc,
  max_position_usdc - cost_basis_i)`` — the exact AMM inversion, so the trade never pushes the
  pool past the limit (not run when the two caps alone leave less than ``min_trade_usdc``).
  Guard: ``limit_probability = buy_limit_i`` (q must stay <= it).
* At most one intent per market per decision: the sell with the largest excess
  ``q_i - sell_limit_i`` if any (it reduces inventory), else the buy with the largest gap
  ``buy_limit_i - q_i``; ties go to the lower outcome index. Nothing is sent while this
  strategy has an intent pending in the market, for amounts under ``min_trade_usdc``, or when
  the market is not tradeable (not ACTIVE, stale, frozen) or its pool is unknown.
* **Protections** (applied by the engine, outside ``decide``; see
  :mod:`kashbot.engine.protections`): by default a 5 s cooldown in a market after a denial
  there, and a back-off after cap denials (no buy for ``min(600, 10 * 2**(n-1))`` s after the
  ``n``-th in a row; sells still go). The params ``cooldown_s``, ``backoff_base_s``,
  ``backoff_factor`` and ``backoff_max_s`` are deprecated aliases of
  ``protections.cooldown.seconds`` and ``protections.backoff.base_s``/``factor``/``max_s``.

Why fees enter this way: a buy puts only ``(1 - φp)`` of the USDC into the curve, so the pool must
sit below ``f_i (1 - φp)`` before buying beats fair; a sale pays out ``(1 - φs)(1 - φp)`` of the
curve release, so the pool must sit above ``f_i / ((1 - φs)(1 - φp))`` before selling does.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import ClassVar

from pydantic import Field, PrivateAttr, field_validator, model_validator

from kashbot import amm
from kashbot.engine.protections import BackOffConfig, CooldownConfig, ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PriceChange,
    Side,
)
from kashbot.money import (
    ATOMIC_TO_WAD,
    WAD,
    Atomic,
    Wad,
    decimal_to_wad,
    usdc_to_atomic,
    wad_to_decimal,
)
from kashbot.portfolio import Holding
from kashbot.strategies.pricing import intent
from kashbot.units import UsdcDecimal

BPS = 10_000
EDGE_UNIT = WAD // BPS  # one basis point of probability
# The events a decision is made on (denials and trade updates feed the engine's protections).
DECIDES_ON = (MarketSnapshot, PriceChange, FairValueUpdate)
# The protections fair_value runs with unless its config says otherwise (today's behaviour).
PROTECTIONS = ProtectionsConfig(
    cooldown=CooldownConfig(seconds=5.0),
    backoff=BackOffConfig(base_s=10.0, factor=2.0, max_s=600.0),
)
# Deprecated params -> the protection they set (they were params before protections existed).
PROTECTION_ALIASES: Mapping[str, str] = {
    "cooldown_s": "cooldown.seconds",
    "backoff_base_s": "backoff.base_s",
    "backoff_factor": "backoff.factor",
    "backoff_max_s": "backoff.max_s",
}


class FairValueParams(StrategyParams):
    fair: dict[str, list[Decimal]] = Field(
        default_factory=dict, description="market id -> fair chance per outcome (0..1)"
    )
    edge_bps: int = Field(100, ge=0, le=5_000, description="edge beyond fees, bps of probability")
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(
        Decimal("250"), gt=0, description="cost basis per outcome"
    )
    outcomes: list[int] | None = Field(None, description="outcome indexes to trade; None = all")
    protocol_fee_bps: int = Field(100, ge=0, lt=BPS)
    amm_sell_fee_bps: int = Field(100, ge=0, lt=BPS)
    cooldown_s: float | None = Field(
        None, ge=0, description="deprecated: protections.cooldown.seconds (default 5)"
    )
    backoff_base_s: float | None = Field(
        None, ge=0, description="deprecated: protections.backoff.base_s (default 10)"
    )
    backoff_factor: float | None = Field(
        None, ge=1, le=10, description="deprecated: protections.backoff.factor (default 2)"
    )
    backoff_max_s: float | None = Field(
        None, ge=0, description="deprecated: protections.backoff.max_s (default 600)"
    )
    sell: bool = Field(True, description="close inventory priced above fair")

    _fair_wad: dict[str, tuple[Wad, ...]] = PrivateAttr(default_factory=dict)

    @field_validator("fair")
    @classmethod
    def _chances(cls, v: dict[str, list[Decimal]]) -> dict[str, list[Decimal]]:
        for market, chances in v.items():
            if len(chances) < 2:
                raise ValueError(f"{market}: need one chance per outcome (at least 2)")
            if any(c <= 0 or c >= 1 for c in chances):
                raise ValueError(f"{market}: every chance must be strictly between 0 and 1")
            total = sum(chances, Decimal(0))
            if abs(total - 1) > Decimal("0.001"):
                raise ValueError(f"{market}: chances must sum to 1 (got {total})")
        return v

    @model_validator(mode="after")
    def _backoff_bounds(self) -> FairValueParams:
        base, most = self.backoff_base_s, self.backoff_max_s  # one alone: the engine checks
        if base is not None and most is not None and most < base:
            raise ValueError("backoff_max_s must be >= backoff_base_s")
        return self

    def model_post_init(self, __context: object) -> None:
        self._fair_wad = {
            m: tuple(decimal_to_wad(c) for c in chances) for m, chances in self.fair.items()
        }

    def fair_for(self, market_id: str) -> tuple[Wad, ...] | None:
        return self._fair_wad.get(market_id)

    @property
    def max_trade(self) -> int:
        return _atomic(self.max_trade_usdc)

    @property
    def min_trade(self) -> int:
        return _atomic(self.min_trade_usdc)

    @property
    def max_position(self) -> int:
        return _atomic(self.max_position_usdc)


# The params' USDC amounts in atomic units, read on every decision: converted once per value
# (a cache keyed by the Decimal, so a ``model_copy`` with other amounts is converted afresh;
# typed, since 1.5 == Decimal("1.5") and a float must still be refused on a hit).
_atomic = functools.lru_cache(maxsize=256, typed=True)(usdc_to_atomic)


def buy_limit(fair: Wad, p: FairValueParams) -> Wad:
    return fair * (BPS - p.protocol_fee_bps) // BPS - p.edge_bps * EDGE_UNIT


def sell_limit(fair: Wad, p: FairValueParams) -> Wad:
    denom = (BPS - p.protocol_fee_bps) * (BPS - p.amm_sell_fee_bps)
    return -(-fair * BPS * BPS // denom) + p.edge_bps * EDGE_UNIT


def payout_bound(pool: amm.Pool, outcome: int, tokens: Wad, p: FairValueParams) -> Atomic:
    """An upper bound on ``amm.sell(pool, outcome, tokens).payout``, without pricing the sale.

    Most decisions that find a sell worth closing hold only dust (what the venue left after the
    last sale), worth less than ``min_trade``; this bound lets them skip ``amm.sell`` with the
    same outcome. Why it holds: along the sale's constant-``c`` curve the reserve is
    ``R * sqrt(1 + a (x**2 - s**2) / A)``, convex in the supply ``x``, so burning ``t`` tokens
    releases at most the marginal price times ``t``: ``R * a * s * t / A`` (the integer gross
    release rounds down from the exact one); each fee keeps at most ``(BPS - fee) / BPS``.
    """
    a, s = pool.weights[outcome], pool.supplies[outcome]
    gross = pool.reserve * a * s * tokens // amm.curve_sum(pool) // ATOMIC_TO_WAD
    return gross * (BPS - p.amm_sell_fee_bps) * (BPS - p.protocol_fee_bps) // (BPS * BPS)


def _fmt(w: Wad) -> str:
    return f"{wad_to_decimal(w):.4f}"


# what an outcome we hold nothing of reads as; only read here, never handed out or mutated
_NOTHING = Holding()


def decide_market(
    state: EngineState,
    view: MarketView,
    strategy: str,
    p: FairValueParams,
    now: float,
) -> list[OrderIntent]:
    """The decision for one market (see the module docstring for the formula)."""
    pool = view.pool
    fair = view.fair or p.fair_for(view.market_id)
    if pool is None or fair is None or not view.tradeable(now):
        return []
    q = view.probabilities
    if len(fair) != len(q) or len(q) != pool.outcome_count:
        return []
    if state.has_pending(strategy, view.market_id):
        return []
    outcomes = range(len(q)) if p.outcomes is None else [i for i in p.outcomes if i < len(q)]

    mid = view.market_id
    # buy_limit / sell_limit's constants, once per decision (the loop runs their formulas)
    keep = BPS - p.protocol_fee_bps
    denom = keep * (BPS - p.amm_sell_fee_bps)
    edge = p.edge_bps * EDGE_UNIT
    sells = p.sell
    best_sell: tuple[int, int, Wad, Holding] | None = None  # (excess, outcome, limit, holding)
    best_buy: tuple[int, int, Wad, Holding] | None = None
    # the holdings map read directly: most outcomes hold nothing, and state.position would
    # build an empty Holding for each of them on every decision (decide never mutates state)
    held = state.positions
    for i in outcomes:
        f, qi = fair[i], q[i]
        pos = held.get((mid, i)) or _NOTHING
        if sells and pos.shares > 0:
            lim = -(-f * BPS * BPS // denom) + edge  # sell_limit(f, p)
            if lim < WAD and qi > lim and (best_sell is None or qi - lim > best_sell[0]):
                best_sell = (qi - lim, i, lim, pos)
        lim = f * keep // BPS - edge  # buy_limit(f, p)
        if lim > 0 and qi < lim and (best_buy is None or lim - qi > best_buy[0]):
            best_buy = (lim - qi, i, lim, pos)

    if best_sell is not None:
        _, i, lim, pos = best_sell
        most = min(pos.shares, pool.supplies[i] - 1)
        # payout_bound grows with the tokens: if even ``most`` cannot pay min_trade, no sale
        # of at most ``most`` can, and the inversion below is skipped with the same outcome
        if lim > 0 and (most <= 0 or payout_bound(pool, i, most, p) < p.min_trade):
            tokens = 0
        else:
            tokens = min(amm.sell_tokens_to_reach(pool, i, lim), most)
        if tokens > 0 and payout_bound(pool, i, tokens, p) >= p.min_trade:
            payout = amm.sell(pool, i, tokens, _fees(p)).payout
            amount = min(payout, p.max_trade)
            if amount >= p.min_trade:
                reason = f"q={_fmt(q[i])} > sell_limit={_fmt(lim)} fair={_fmt(fair[i])}"
                return [intent(strategy, view.market_id, i, Side.SELL, amount, lim, reason)]
    if best_buy is not None:
        _, i, lim, pos = best_buy
        # the cap first: at a full position (the usual case) the AMM inversion is not needed
        cap = min(p.max_trade, p.max_position - pos.cost)
        least = p.min_trade
        if cap >= least:
            amount = min(amm.buy_amount_to_reach(pool, i, lim, _fees(p)), cap)
            if amount >= least:
                reason = f"q={_fmt(q[i])} < buy_limit={_fmt(lim)} fair={_fmt(fair[i])}"
                return [intent(strategy, view.market_id, i, Side.BUY, amount, lim, reason)]
    return []


def _fees(p: FairValueParams) -> amm.Fees:
    return amm.Fees(protocol_bps=p.protocol_fee_bps, amm_sell_bps=p.amm_sell_fee_bps)


def decide(
    state: EngineState,
    event: Event,
    params: FairValueParams,
    now: float,
    strategy: str,
) -> list[OrderIntent]:
    """Pure: re-evaluate the market a price or fair-value event is about."""
    if not isinstance(event, DECIDES_ON):
        return []
    view = state.markets.get(event.market_id)
    if view is None:
        return []
    return decide_market(state, view, strategy, params, now)


class FairValue(Strategy[FairValueParams]):
    name: ClassVar[str] = "fair_value"
    Params: ClassVar[type[StrategyParams]] = FairValueParams
    handles = DECIDES_ON
    protections: ClassVar[ProtectionsConfig] = PROTECTIONS
    protection_aliases: ClassVar[Mapping[str, str]] = PROTECTION_ALIASES

    def decide(
        self, state: EngineState, event: Event, params: FairValueParams, now: float
    ) -> list[OrderIntent]:
        return decide(state, event, params, now, self.strategy_id)


STRATEGY = FairValue
