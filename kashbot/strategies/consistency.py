"""Cross-market consistency: keep related markets coherent, trading the one that strays.

A **group** is a list of legs ``"market_id:outcome"`` that all price the *same* event, so their
chances should be equal:

* complements, two binary markets whose YES sum to 1 (A = "X happens", B = "X does not"):
  ``["A:0", "B:1"]`` (A's YES is B's NO);
* a binary market and one outcome of a multi-outcome market on the same event:
  ``["BIN:0", "MULTI:2"]``.

With ``q_l`` a leg's pool chance and ``R_l`` its pool's reserve (a deeper pool moves less per
dollar of noise, so it says more), the group's implied fair chance is the reserve-weighted mean

    g = sum_l R_l q_l / sum_l R_l

and the leg with the largest ``|q_l - g|`` is traded (``pricing.buy_limit``/``sell_limit`` with
the leg market's own fees, ``k = kelly_fraction``):

* ``q_l < buy_limit(g)``: buy the leg's outcome toward ``push(q_l, buy_limit(g), k)``;
* ``q_l > sell_limit(g)``: sell held shares of it toward ``push(q_l, sell_limit(g), k)``; holding
  none, in a *binary* leg market buy the other outcome (whose fair is ``1 - g``) the same way;
  a multi-outcome leg that is too dear and not held is left alone.

Buys are capped by ``max_trade_usdc`` and ``max_position_usdc`` (cost basis per outcome); only
legs whose market is tradeable with a known pool count (a group needs two). One intent per
group per decision, none in a market where one of ours is pending. Fair values from sources are
not used: the group's own prices are the reference. Protections: a 5 s cooldown and the cap
back-off, as ``fair_value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from pydantic import Field, field_validator

from kashbot import amm
from kashbot.engine.protections import BackOffConfig, CooldownConfig, ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, MarketSnapshot, OrderIntent, PriceChange
from kashbot.money import WAD, Wad, decimal_to_wad, usdc_to_atomic
from kashbot.strategies.pricing import (
    buy_intent,
    buy_limit,
    clamp_chance,
    fmt,
    push,
    sell_intent,
    sell_limit,
)
from kashbot.units import UsdcDecimal

DECIDES_ON = (MarketSnapshot, PriceChange)
PROTECTIONS = ProtectionsConfig(
    cooldown=CooldownConfig(seconds=5.0),
    backoff=BackOffConfig(base_s=10.0, factor=2.0, max_s=600.0),
)


def parse_leg(text: str) -> tuple[str, int]:
    market, sep, outcome = text.rpartition(":")
    if not sep or not market or not outcome.isdigit():
        raise ValueError(f"leg {text!r} is not 'market_id:outcome'")
    return market, int(outcome)


class ConsistencyParams(StrategyParams):
    groups: list[list[str]] = Field(
        min_length=1, description="legs 'market_id:outcome' that price the same event"
    )
    edge_bps: int = Field(100, ge=0, le=5_000, description="edge beyond fees, bps of probability")
    kelly_fraction: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(Decimal("250"), gt=0)

    @field_validator("groups")
    @classmethod
    def _legs(cls, v: list[list[str]]) -> list[list[str]]:
        for n, group in enumerate(v):
            if len(group) < 2:
                raise ValueError(f"groups[{n}]: a group needs at least two legs")
            legs = [parse_leg(leg) for leg in group]
            if len({m for m, _ in legs}) != len(legs):
                raise ValueError(f"groups[{n}]: each leg must be a different market")
        return v


@dataclass(frozen=True, slots=True)
class Leg:
    view: MarketView
    outcome: int
    q: Wad
    reserve: int


def live_legs(state: EngineState, group: list[str], now: float) -> list[Leg]:
    """The group's legs whose market is tradeable with a known pool."""
    out = []
    for text in group:
        market, outcome = parse_leg(text)
        view = state.markets.get(market)
        if view is None or not view.tradeable(now) or view.pool is None:
            continue
        if outcome >= view.pool.outcome_count:
            continue
        out.append(Leg(view, outcome, view.probabilities[outcome], view.pool.reserve))
    return out


def group_fair(legs: list[Leg]) -> Wad:
    """Reserve-weighted mean of the legs' chances."""
    total = sum(leg.reserve for leg in legs)
    return sum(leg.q * leg.reserve for leg in legs) // total


def decide_group(
    state: EngineState, group: list[str], p: ConsistencyParams, now: float, strategy: str
) -> OrderIntent | None:
    legs = live_legs(state, group, now)
    if len(legs) < 2:
        return None
    g = clamp_chance(group_fair(legs))
    k = decimal_to_wad(p.kelly_fraction)
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    cap = usdc_to_atomic(p.max_position_usdc)
    for leg in sorted(legs, key=lambda lg: -abs(lg.q - g)):
        view, i = leg.view, leg.outcome
        if state.has_pending(strategy, view.market_id):
            continue
        pool = view.pool
        assert pool is not None
        why = f"group fair {fmt(g)}: {view.market_id}:{i} q={fmt(leg.q)}"
        lb = buy_limit(g, view.fees, p.edge_bps)
        if leg.q < lb:
            room = min(most, cap - state.position(view.market_id, i).cost)
            return buy_intent(view, strategy, i, clamp_chance(push(leg.q, lb, k)), room, least, why)
        ls = sell_limit(g, view.fees, p.edge_bps)
        if leg.q <= ls or ls >= WAD:
            continue
        held = state.position(view.market_id, i).shares
        t = clamp_chance(push(leg.q, ls, k))
        if held > 0:
            tokens = min(amm.sell_tokens_to_reach(pool, i, t), held)
            found = sell_intent(view, strategy, i, tokens, t, most, least, why)
            if found is not None:
                return found
        if pool.outcome_count == 2:
            o = 1 - i
            lo = buy_limit(WAD - g, view.fees, p.edge_bps)
            qo = view.probabilities[o]
            if qo < lo:
                room = min(most, cap - state.position(view.market_id, o).cost)
                return buy_intent(
                    view, strategy, o, clamp_chance(push(qo, lo, k)), room, least, why
                )
    return None


class Consistency(Strategy[ConsistencyParams]):
    name: ClassVar[str] = "consistency"
    Params: ClassVar[type[StrategyParams]] = ConsistencyParams
    handles = DECIDES_ON
    protections: ClassVar[ProtectionsConfig] = PROTECTIONS

    def decide(
        self, state: EngineState, event: Event, params: ConsistencyParams, now: float
    ) -> list[OrderIntent]:
        if not isinstance(event, DECIDES_ON):
            return []
        out = []
        for group in params.groups:
            if any(parse_leg(leg)[0] == event.market_id for leg in group):
                found = decide_group(state, group, params, now, self.strategy_id)
                if found is not None and all(o.market_id != found.market_id for o in out):
                    out.append(found)
        return out


STRATEGY = Consistency
