"""Shared pure helpers of the built-in strategies: fee-aware limits, AMM sizing, market PnL.

Everything is exact integers (USDC atomic, WAD). Notation: ``f`` a fair chance, ``q`` the pool's
chance, ``φp``/``φs`` the market's protocol and AMM sell fees (``MarketView.fees``: the config
override, else what the venue published, else the default), ``e`` an edge in bps of probability.

    buy_limit(f)  = f * (1 - φp) - e            a buy beats fair below this
    sell_limit(f) = f / ((1 - φp)(1 - φs)) + e  a sale beats holding above this
    push(q, L, k) = q + k * (L - q)             fractional-Kelly target: stop short of L

A buy of ``buy_amount_to_reach(pool, i, push(q, L, k))`` leaves the pool *short* of the limit by
``(1 - k)`` of the gap, so the last dollar in still earns ``(1 - k)`` of the edge the first one did.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from kashbot import amm
from kashbot.engine.protections import BackOffConfig, CooldownConfig, ProtectionsConfig
from kashbot.engine.state import EngineState, MarketView
from kashbot.events import Event, FairValueUpdate, MarketSnapshot, OrderIntent, PriceChange, Side
from kashbot.money import WAD, Atomic, Wad, wad_to_decimal
from kashbot.valuation import exit_value

# What the built-in market strategies decide on, and the protections they run with unless their
# config says otherwise (a cooldown after a denial, a capped back-off after cap denials).
DECIDES_ON = (MarketSnapshot, PriceChange, FairValueUpdate)
PROTECTIONS = ProtectionsConfig(
    cooldown=CooldownConfig(seconds=5.0),
    backoff=BackOffConfig(base_s=10.0, factor=2.0, max_s=600.0),
)


BPS = 10_000
EDGE_UNIT = WAD // BPS  # one basis point of probability


def buy_limit(fair: Wad, fees: amm.Fees, edge_bps: int) -> Wad:
    return fair * (BPS - fees.protocol_bps) // BPS - edge_bps * EDGE_UNIT


def sell_limit(fair: Wad, fees: amm.Fees, edge_bps: int) -> Wad:
    denom = (BPS - fees.protocol_bps) * (BPS - fees.amm_sell_bps)
    return -(-fair * BPS * BPS // denom) + edge_bps * EDGE_UNIT


def push(q: Wad, limit: Wad, fraction: Wad) -> Wad:
    """``q`` moved ``fraction`` (WAD) of the way to ``limit``, rounded toward ``q``."""
    step = abs(limit - q) * fraction // WAD
    return q + step if limit >= q else q - step


def clamp_chance(p: Wad) -> Wad:
    """A probability kept strictly inside (0, 1), as the AMM inversions require."""
    return max(1, min(WAD - 1, p))


def confidence(event: Event | None, view: MarketView, default: Wad) -> Wad:
    """The fair value's confidence: the event's own when it is a ``FairValueUpdate`` for this
    market that carries one, else the last one the market view kept
    (``MarketView.fair_confidence``), else ``default``; kept within 0..1."""
    c: Wad | None = None
    if isinstance(event, FairValueUpdate) and event.market_id == view.market_id:
        c = event.confidence
    if c is None:
        c = view.fair_confidence
    return default if c is None else max(0, min(WAD, c))


def fmt(w: Wad) -> str:
    return f"{wad_to_decimal(w):.4f}"


def market_pnl(state: EngineState, view: MarketView) -> Atomic:
    """Realised + marked PnL of our trading in one market, net of fees.

    Cash out of our fills there (sales and redemptions paid minus buys paid, fees included), plus
    what selling what we still hold into the pool would pay now (cost basis when the pool is
    unknown).
    """
    m = view.market_id
    cash = state.fills.cash(m)
    cash += sum(r.payout for r in state.redemptions if r.market_id == m)
    pool = view.pool
    for (market, outcome), h in state.positions.items():
        if market != m or h.shares <= 0:
            continue
        ok = pool is not None and 0 <= outcome < pool.outcome_count
        cash += exit_value(pool, outcome, h.shares, view.fees) if pool and ok else h.cost
    return cash


def spent_since(state: EngineState, market_id: str, since: float) -> Atomic:
    """USDC our buys in ``market_id`` paid since ``since``, plus buys still pending there."""
    done = state.fills.bought_since(market_id, since)
    pending = sum(
        i.amount for i in state.pending.values() if i.market_id == market_id and i.side is Side.BUY
    )
    return done + pending


def buy_intent(
    view: MarketView,
    strategy: str,
    outcome: int,
    target: Wad,
    cap: Atomic,
    least: Atomic,
    reason: str,
) -> OrderIntent | None:
    """Buy ``outcome`` until the pool reaches ``target`` (never past it), at most ``cap`` USDC;
    None under ``least``. Guard: the pool must still be at or under ``target``."""
    pool = view.pool
    if pool is None or cap < least or not 0 < target < WAD:
        return None
    worth = amm.buy_amount_to_reach(pool, outcome, target, view.fees)
    return _sized(view, strategy, outcome, Side.BUY, worth, cap, least, target, reason)


def sell_intent(
    view: MarketView,
    strategy: str,
    outcome: int,
    tokens: Wad,
    floor: Wad,
    cap: Atomic,
    least: Atomic,
    reason: str,
) -> OrderIntent | None:
    """Sell up to ``tokens`` (already bounded by what we hold) for what they pay now, at most
    ``cap`` USDC; None under ``least``. Guard: the pool must stay at or above ``floor``."""
    pool = view.pool
    if pool is None:
        return None
    tokens = min(tokens, pool.supplies[outcome] - 1)
    if tokens <= 0:
        return None
    worth = amm.sell(pool, outcome, tokens, view.fees).payout
    return _sized(view, strategy, outcome, Side.SELL, worth, cap, least, floor, reason)


def _sized(
    view: MarketView,
    strategy: str,
    outcome: int,
    side: Side,
    worth: Atomic,
    cap: Atomic,
    least: Atomic,
    lim: Wad,
    reason: str,
) -> OrderIntent | None:
    """The intent for ``worth`` USDC cut to ``cap``; None when that is under ``least`` (the
    one sizing rule every buy and sell follows)."""
    amount = min(worth, cap)
    if amount < least:
        return None
    return intent(strategy, view.market_id, outcome, side, amount, lim, reason)


def intent(
    strategy: str,
    market_id: str,
    outcome: int,
    side: Side,
    amount: Atomic,
    lim: Wad | None,
    reason: str,
) -> OrderIntent:
    """One intent; sells only ever close a held position."""
    return OrderIntent(
        intent_id="",
        strategy=strategy,
        market_id=market_id,
        outcome=outcome,
        side=side,
        amount=amount,
        limit_probability=lim,
        reason=reason,
        closing=side is Side.SELL,
    )


def first(intents: Iterable[OrderIntent | None]) -> list[OrderIntent]:
    """The first intent that is not None, as a list (at most one intent per market)."""
    for i in intents:
        if i is not None:
            return [i]
    return []


def time_to_freeze(view: MarketView, now: float) -> float | None:
    """Seconds until the market's ``freezeAt`` (None: it has none)."""
    return None if view.freeze_at is None else view.freeze_at - now


def ramp(tau: float, end_s: float, start_s: float) -> Fraction:
    """``clamp((τ - end_s) / (start_s - end_s), 0, 1)`` exactly (a float is a binary fraction,
    so ``Fraction`` of it loses nothing): 1 until ``start_s`` before the freeze, 0 from
    ``end_s`` before it. Money is then scaled by it in integers (:func:`floor_usdc`)."""
    if start_s <= end_s:
        return Fraction(1 if tau > end_s else 0)
    r = (Fraction(tau) - Fraction(end_s)) / (Fraction(start_s) - Fraction(end_s))
    return max(Fraction(0), min(Fraction(1), r))


def floor_usdc(amount: Fraction) -> Atomic:
    """An exact amount of atomic USDC, rounded down (an allowance never rounds up)."""
    return amount.numerator // amount.denominator


def wind_down_allowance(
    cap: Atomic, tau: float | None, window_s: float, flat_by_s: float
) -> Atomic:
    """Cost basis an outcome may still carry ``tau`` seconds before the freeze: all of ``cap``
    until ``window_s`` before it, falling linearly to 0 at ``flat_by_s`` before it.

        A(τ) = floor(cap * clamp((τ - flat_by_s) / (window_s - flat_by_s), 0, 1))
    """
    if tau is None or tau > window_s:
        return cap
    return floor_usdc(cap * ramp(tau, flat_by_s, window_s))


def reduce_to(
    state: EngineState,
    view: MarketView,
    strategy: str,
    outcome: int,
    allowed: Atomic,
    most: Atomic,
    least: Atomic,
    slippage_bps: int,
    reason: str,
) -> OrderIntent | None:
    """Sell the part of a held outcome whose cost basis is over ``allowed`` (in proportion:
    ``tokens = shares * (cost - allowed) / cost``), at most ``most`` USDC, for what it pays now;
    guarded so the pool stays at or above its chance after the sale minus ``slippage_bps``."""
    pool = view.pool
    h = state.position(view.market_id, outcome)
    if pool is None or h.shares <= 0 or h.cost <= allowed:
        return None
    tokens = h.shares if allowed <= 0 or h.cost <= 0 else h.shares * (h.cost - allowed) // h.cost
    tokens = min(tokens, pool.supplies[outcome] - 1)
    if tokens <= 0:
        return None
    after = amm.probability(amm.sell(pool, outcome, tokens, view.fees).pool, outcome)
    floor = clamp_chance(after - slippage_bps * EDGE_UNIT)
    return sell_intent(view, strategy, outcome, tokens, floor, most, least, reason)
