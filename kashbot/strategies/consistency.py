"""Cross-market consistency: keep related markets coherent, trading the one that strays.

A **group** is a list of legs ``"market_id:outcome"`` that all price the *same* event, so their
chances should be equal:

* complements, two binary markets whose YES sum to 1 (A = "X happens", B = "X does not"):
  ``["A:0", "B:1"]`` (A's YES is B's NO);
* a binary market and one outcome of a multi-outcome market on the same event:
  ``["BIN:0", "MULTI:2"]``.

**Anchored** (``anchor: fair``, the default, when a fair-value source prices at least one leg:
``view.fair[outcome]``): the group's implied fair ``g`` is the mean of the legs' fair values, so
a source that covers one market prices its related markets too. Every leg that strays from
``g`` is traded toward it, one intent per leg market: ``q_l < buy_limit(g)`` buys the leg's
outcome toward ``push(q_l, buy_limit(g), k)``; ``q_l > sell_limit(g)`` sells held shares of it
toward ``push(q_l, sell_limit(g), k)``; in a binary leg market the other outcome is treated
the same way with fair ``1 - g`` (sold when held and dear, bought when cheap), sales first
(a multi-outcome leg that is too dear and not held is left alone).

**Pools only** (``anchor: pools``, or no leg has a fair value): with ``q_l`` a leg's pool
chance, the group's cheapest leg ``lo`` and dearest leg ``hi`` price
the event at ``q_lo < q_hi``; their midpoint ``m = (q_lo + q_hi) / 2`` is the group's implied fair.
The strategy trades the pair that strays, **hedged** (``pricing.buy_limit`` with each market's
own fees, ``k = kelly_fraction``):

* buy the event in ``lo`` (its outcome) toward ``push(q_lo, buy_limit(m), k)``, and
* buy the event's negation in ``hi`` (a binary market's other outcome, fair ``1 - m``) toward
  ``push(1 - q_hi, buy_limit(1 - m), k)``; in a multi-outcome ``hi`` the negation is several
  outcomes, so it is hedged only by selling held shares of the leg's outcome
  (toward ``push(q_hi, sell_limit(m), k)``), else the group is left alone;
* both only when both sides clear their limits, sized so that **what each side would redeem
  for if it wins** (``amm.redemption`` on the pool after the buy: ``R * tokens / supply``) is
  equal: the larger side is cut down (bisection on its USDC) to the smaller's payout, so the
  pair carries little bet on the event itself, mostly one on the two prices converging. The
  match holds as of the buy: on this AMM a winning token redeems ``R / s_i``, which falls as
  others buy ``i``, so the two payouts drift apart with the pools until settlement.

**Net exposure** (anchored mode): the legs price one event, so a position in one leg is only a
relative-value trade while another leg offsets it. The group's net exposure
``E = Σ_legs (cost of the leg's outcome - cost of the leg market's other outcomes)`` (cost
basis, USDC; long the event minus short it) is kept within ``±max_net_usdc``: a buy that would
take ``|E|`` past it is cut to the room left (buys that reduce ``|E|`` are not limited by it).
Without it, two cheap legs of the same event (``A:0`` and ``B:1``) are bought to their caps
and the whole group is one bet on the event.

**Near the freeze** (both modes), per leg market with ``τ = freezeAt - now``: from
``τ <= wind_down_s`` nothing is bought in it and its outcomes are sold down to
``A(τ) = H * clamp((τ - flat_by_s) / (wind_down_s - flat_by_s), 0, 1)`` of cost basis
(``pricing.wind_down_allowance``; at most ``max_trade_usdc`` a sale, guarded ``slippage_bps``
below the chance after it), so no relative-value position is carried into a resolution, where
the legs stop converging and pay out on the event alone. In pools mode a group with a leg
winding down opens no new pair.

Both modes: buys are capped by ``max_trade_usdc`` and ``max_position_usdc`` (cost basis per
outcome); only legs whose market is tradeable with a known pool count (a group needs two); one
decision per group, none while one of ours is pending in any of its markets. If one side of a
pair is denied or fails, the other stands alone (the risk gate judges each intent on its own).
Protections: a 5 s cooldown and the cap back-off, as ``fair_value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from kashbot import amm
from kashbot.engine.state import EngineState, MarketView
from kashbot.engine.strategy import StrategyParams
from kashbot.events import (
    Event,
    OrderIntent,
    Side,
)
from kashbot.money import WAD, Atomic, Wad, decimal_to_wad, usdc_to_atomic
from kashbot.strategies.base import MarketStrategy, WindDownParams
from kashbot.strategies.pricing import (
    DECIDES_ON,
    buy_intent,
    buy_limit,
    clamp_chance,
    first,
    fmt,
    push,
    reduce_to,
    sell_intent,
    sell_limit,
)
from kashbot.units import UsdcDecimal


def parse_leg(text: str) -> tuple[str, int]:
    market, sep, outcome = text.rpartition(":")
    if not sep or not market or not outcome.isdigit():
        raise ValueError(f"leg {text!r} is not 'market_id:outcome'")
    return market, int(outcome)


class ConsistencyParams(WindDownParams):
    groups: list[list[str]] = Field(
        min_length=1, description="legs 'market_id:outcome' that price the same event"
    )
    edge_bps: int = Field(100, ge=0, le=5_000, description="edge beyond fees, bps of probability")
    kelly_fraction: Decimal = Field(Decimal("0.5"), gt=0, le=1)
    max_trade_usdc: UsdcDecimal = Field(Decimal("25"), gt=0)
    min_trade_usdc: UsdcDecimal = Field(Decimal("1"), gt=0)
    max_position_usdc: UsdcDecimal = Field(Decimal("250"), gt=0)
    anchor: Literal["fair", "pools"] = Field(
        "fair", description="fair: the legs' fair values set the group's fair when known"
    )
    max_net_usdc: UsdcDecimal = Field(
        Decimal("100"), ge=0, description="|long - short the event| per group, cost basis"
    )

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
    """Pools only: the midpoint of the cheapest and the dearest leg."""
    qs = [leg.q for leg in legs]
    return (min(qs) + max(qs)) // 2


def payout_if_won(view: MarketView, outcome: int, amount: Atomic) -> Atomic:
    """What buying ``amount`` of ``outcome`` now would redeem for if it wins (pool as after the
    buy)."""
    assert view.pool is not None
    if amount <= 0:
        return 0
    bought = amm.buy(view.pool, outcome, amount, view.fees)
    return amm.redemption(bought.pool, (outcome,), bought.tokens_out)


def matched(view: MarketView, outcome: int, most: Atomic, payout: Atomic) -> Atomic:
    """The largest buy of at most ``most`` whose win payout does not exceed ``payout``."""
    lo, hi = 0, most
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if payout_if_won(view, outcome, mid) <= payout:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True, slots=True)
class PairSide:
    view: MarketView
    outcome: int
    amount: Atomic  # USDC to buy, before matching
    target: Wad


def buy_side(
    state: EngineState,
    view: MarketView,
    outcome: int,
    q: Wad,
    fair: Wad,
    p: ConsistencyParams,
    net_room: Atomic | None = None,
) -> PairSide | None:
    """The buy of ``outcome`` toward ``push(q, buy_limit(fair), k)``, within the caps (and
    ``net_room``, the USDC the group's net exposure allows in this direction, when given)."""
    lb = buy_limit(fair, view.fees, p.edge_bps)
    if view.pool is None or q >= lb:
        return None
    t = clamp_chance(push(q, lb, decimal_to_wad(p.kelly_fraction)))
    room = min(
        usdc_to_atomic(p.max_trade_usdc),
        usdc_to_atomic(p.max_position_usdc) - state.position(view.market_id, outcome).cost,
        net_room if net_room is not None else usdc_to_atomic(p.max_trade_usdc),
    )
    amount = min(amm.buy_amount_to_reach(view.pool, outcome, t, view.fees), max(room, 0))
    return PairSide(view, outcome, amount, t)


def hedge_sell(
    state: EngineState, leg: Leg, g: Wad, p: ConsistencyParams, strategy: str, why: str
) -> OrderIntent | None:
    """A multi-outcome dear leg: sell held shares of its outcome toward the group."""
    view, i = leg.view, leg.outcome
    held = state.position(view.market_id, i).shares
    ls = sell_limit(g, view.fees, p.edge_bps)
    if held <= 0 or view.pool is None or ls >= WAD or leg.q <= ls:
        return None
    t = clamp_chance(push(leg.q, ls, decimal_to_wad(p.kelly_fraction)))
    tokens = min(amm.sell_tokens_to_reach(view.pool, i, t), held)
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    return sell_intent(view, strategy, i, tokens, t, most, least, why)


def leg_fair(leg: Leg) -> Wad | None:
    fair = leg.view.fair
    pool = leg.view.pool
    if fair is None or pool is None or len(fair) != pool.outcome_count:
        return None
    return fair[leg.outcome]


def net_exposure(state: EngineState, legs: list[Leg]) -> Atomic:
    """``E``: cost basis long the group's event minus short it, over the legs' markets."""
    total = 0
    for leg in legs:
        assert leg.view.pool is not None
        for o in range(leg.view.pool.outcome_count):
            cost = state.position(leg.view.market_id, o).cost
            total += cost if o == leg.outcome else -cost
    return total


def wind_down(
    state: EngineState, leg: Leg, p: ConsistencyParams, now: float, strategy: str
) -> tuple[bool, list[OrderIntent]]:
    """(is the leg's market winding down, the sale that brings it toward its allowance)."""
    cap = usdc_to_atomic(p.max_position_usdc)
    tau, allowed = p.allowance_at(leg.view, now, cap)
    if allowed >= cap:
        return False, []
    assert leg.view.pool is not None
    most, least = usdc_to_atomic(p.max_trade_usdc), usdc_to_atomic(p.min_trade_usdc)
    why = f"T-{tau:.0f}s: winding the leg down to {allowed}"
    return True, first(
        reduce_to(state, leg.view, strategy, o, allowed, most, least, p.slippage_bps, why)
        for o in range(leg.view.pool.outcome_count)
    )


def winding_down(
    state: EngineState, legs: list[Leg], p: ConsistencyParams, now: float, strategy: str
) -> tuple[list[Leg], list[OrderIntent]]:
    """The legs still trading, and the sales of the legs winding down."""
    live: list[Leg] = []
    sales: list[OrderIntent] = []
    for leg in legs:
        down, sale = wind_down(state, leg, p, now, strategy)
        if not down:
            live.append(leg)
        sales.extend(sale)
    return live, sales


def anchored(
    state: EngineState, legs: list[Leg], g: Wad, p: ConsistencyParams, strategy: str
) -> list[OrderIntent]:
    """Every leg that strays from the fair-anchored group fair ``g``, traded toward it, within
    the group's net exposure."""
    out: list[OrderIntent] = []
    least = usdc_to_atomic(p.min_trade_usdc)
    net_cap = usdc_to_atomic(p.max_net_usdc)
    side_of = {leg.view.market_id: leg.outcome for leg in legs}
    for leg in legs:
        view, i = leg.view, leg.outcome
        assert view.pool is not None
        why = f"group fair {fmt(g)} (anchored): leg q={fmt(leg.q)}"
        e = net_exposure(state, legs) + sum(  # the buys already decided in this group
            x.amount if x.outcome == side_of[x.market_id] else -x.amount
            for x in out
            if x.side is Side.BUY
        )
        # (outcome, its chance, its fair): the leg's outcome, and a binary market's other one
        sides = [(i, leg.q, g)]
        if view.pool.outcome_count == 2:
            sides.append((1 - i, view.probabilities[1 - i], WAD - g))
        found: OrderIntent | None = None
        for o, q, f in sides:  # close what is dear first
            found = found or hedge_sell(state, Leg(view, o, q, leg.reserve), f, p, strategy, why)
        for o, q, f in sides:
            room = net_cap - e if o == i else net_cap + e  # long the event, or short it
            cheap = None if found else buy_side(state, view, o, q, f, p, max(room, 0))
            if cheap is not None:
                found = buy_intent(view, strategy, o, cheap.target, cheap.amount, least, why)
        if found is not None:
            out.append(found)
    return out


def decide_group(
    state: EngineState, group: list[str], p: ConsistencyParams, now: float, strategy: str
) -> list[OrderIntent]:
    """The intents for one group (the module docstring has the rules)."""
    every = live_legs(state, group, now)
    if len(every) < 2 or any(state.has_pending(strategy, lg.view.market_id) for lg in every):
        return []
    legs, sales = winding_down(state, every, p, now, strategy)
    fairs = [f for f in (leg_fair(lg) for lg in every) if f is not None]
    if p.anchor == "fair" and fairs:
        g = clamp_chance(sum(fairs) // len(fairs))
        return sales + anchored(state, legs, g, p, strategy)
    if sales or len(legs) < len(every):
        return sales  # pools mode: no new pair while a leg winds down
    lo = min(legs, key=lambda lg: lg.q)
    hi = max(legs, key=lambda lg: lg.q)
    if lo.q >= hi.q:
        return []
    g = clamp_chance(group_fair(legs))
    why = f"group {fmt(lo.q)}..{fmt(hi.q)} fair {fmt(g)}"
    least = usdc_to_atomic(p.min_trade_usdc)
    cheap = buy_side(state, lo.view, lo.outcome, lo.q, g, p)
    if cheap is None or cheap.amount < least:
        return []
    assert hi.view.pool is not None
    if hi.view.pool.outcome_count != 2:
        sold = hedge_sell(state, hi, g, p, strategy, why)
        if sold is None:
            return []
        a = cheap.amount
        first_leg = buy_intent(lo.view, strategy, lo.outcome, cheap.target, a, least, why)
        return [] if first_leg is None else [first_leg, sold]
    o = 1 - hi.outcome
    dear = buy_side(state, hi.view, o, hi.view.probabilities[o], WAD - g, p)
    if dear is None or dear.amount < least:
        return []
    win_cheap = payout_if_won(lo.view, lo.outcome, cheap.amount)
    win_dear = payout_if_won(hi.view, o, dear.amount)
    a_cheap, a_dear = cheap.amount, dear.amount
    if win_cheap > win_dear:
        a_cheap = matched(lo.view, lo.outcome, cheap.amount, win_dear)
    else:
        a_dear = matched(hi.view, o, dear.amount, win_cheap)
    one = buy_intent(lo.view, strategy, lo.outcome, cheap.target, a_cheap, least, why)
    two = buy_intent(hi.view, strategy, o, dear.target, a_dear, least, why)
    return [one, two] if one is not None and two is not None else []


class Consistency(MarketStrategy[ConsistencyParams]):
    """Decides per group of legs, not per market: ``decide`` is its own."""

    name: ClassVar[str] = "consistency"
    Params: ClassVar[type[StrategyParams]] = ConsistencyParams

    def decide(
        self, state: EngineState, event: Event, params: ConsistencyParams, now: float
    ) -> list[OrderIntent]:
        if not isinstance(event, DECIDES_ON):
            return []
        out: list[OrderIntent] = []
        for group in params.groups:
            if any(parse_leg(leg)[0] == event.market_id for leg in group):
                pair = decide_group(state, group, params, now, self.strategy_id)
                if all(o.market_id != i.market_id for i in pair for o in out):
                    out.extend(pair)
        return out


STRATEGY = Consistency
