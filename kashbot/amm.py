"""Pure maths of Kash's weighted "Pythagorean" pool.

Shared by the simulator, strategies and backtests.

State: reserve ``R`` (WAD USDC), supplies ``s_i`` (WAD tokens), weights ``a_i`` (WAD, sum = 1e18)::

    A = sum_i a_i * s_i**2      N = sqrt(A)      c = R / N
    q_i = a_i * s_i**2 / A                        (capital share = implied chance, sums to 1)
    p_i = dR/ds_i = c * a_i * s_i / N = R * a_i * s_i / A   (marginal price, USDC per token)

Buy (documented: ``c`` is unchanged by buys). Net USDC ``x`` goes into the reserve, ``R' = R + x``,
``A' = A * (R'/R)**2`` and ``s_i' = sqrt(s_i**2 + (A' - A) / a_i)``; tokens out = ``s_i' - s_i``.
The 1% protocol fee is taken from the USDC before it reaches the curve.

Sell (kashbot's choice; Kash documents no sell formula). Burning ``t`` tokens walks the same
constant-``c`` curve back down: gross release ``G = R - c * sqrt(A')``, the exact mirror of a buy,
so a round trip can never extract value before fees. The AMM sell fee (``sell_fee_bps`` of G) is
taken from the seller and *stays in the reserve*, and the protocol fee is taken from what is left.
Kash's quote docs say ``c`` falls on sells; with a fee retained in the reserve, ``c`` can only
fall if sellers are paid above the curve, which would let buy-then-sell extract value, so
here ``c`` rises by exactly ``fee / N'``. ``docs/simulator.md`` records this deviation.

Rounding always favours the pool: tokens out and USDC out round down, fees and burns round up.
Every function is pure: it returns a new :class:`Pool` and never mutates its input.

Units: results are :data:`~kashbot.units.Usdc` (atomic USDC) or :data:`~kashbot.units.Wad`, so
mypy refuses a result used in the other unit wherever a parameter or field asks for one.
Parameters and a pool's fields take plain ints, named for their unit: callers across the tree
still hold ints. One exception: :func:`tokens_for_payout` returns an int (WAD tokens), because its
callers fall back to, and ``min()`` it with, token counts they hold as plain ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt
from typing import cast

from kashbot.money import ATOMIC_TO_WAD, WAD
from kashbot.units import Usdc, Wad

BPS = 10_000
MIN_OUTCOMES = 2
MAX_OUTCOMES = 8


class AmmError(ValueError):
    """An impossible trade or pool (e.g. selling more tokens than exist)."""


@dataclass(frozen=True, slots=True)
class Fees:
    """Fee schedule in basis points (Kash: 1% protocol on both sides, 1% AMM sell fee)."""

    protocol_bps: int = 100
    amm_sell_bps: int = 100

    def __post_init__(self) -> None:
        for name in ("protocol_bps", "amm_sell_bps"):
            v = getattr(self, name)
            if not 0 <= v < BPS:
                raise AmmError(f"{name} must be in [0, {BPS}), got {v}")


DEFAULT_FEES = Fees()


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _ceil_isqrt(n: int) -> int:
    r = isqrt(n)
    return r if r * r == n else r + 1


def fee_of(amount: int, bps: int) -> int:
    """A fee in the unit of ``amount``, rounded up (the venue never undercharges)."""
    return _ceil_div(amount * bps, BPS)


@dataclass(frozen=True, slots=True)
class Pool:
    """One market's curve state. Immutable; trades return a new Pool."""

    reserve: int  # WAD USDC
    supplies: tuple[int, ...]  # WAD tokens
    weights: tuple[int, ...]  # WAD, summing to 1e18

    def __post_init__(self) -> None:
        n = len(self.supplies)
        if len(self.weights) != n:
            raise AmmError("supplies and weights differ in length")
        if not MIN_OUTCOMES <= n <= 100:
            raise AmmError(f"a pool has 2..100 outcomes, got {n}")
        if sum(self.weights) != WAD:
            raise AmmError(f"weights must sum to 1e18, got {sum(self.weights)}")
        if any(w <= 0 for w in self.weights) or any(s <= 0 for s in self.supplies):
            raise AmmError("weights and supplies must be positive")
        if self.reserve <= 0:
            raise AmmError("reserve must be positive")

    @property
    def outcome_count(self) -> int:
        return len(self.supplies)

    def check_outcome(self, outcome: int) -> None:
        if not 0 <= outcome < self.outcome_count:
            raise AmmError(f"outcome index {outcome} not in [0, {self.outcome_count})")


_new = object.__new__
_set = object.__setattr__


def _traded_pool(pool: Pool, reserve: int, supplies: tuple[int, ...]) -> Pool:
    """The pool after a trade, built without ``Pool.__post_init__``.

    Only ``buy`` and ``sell`` call it, on a valid pool: they keep the weights and the outcome
    count and leave every supply and the reserve positive (a buy only adds; a sell burns fewer
    tokens than the supply and pays out less than the reserve above the curve), so re-checking
    would only cost time — about a quarter of a ``buy`` when every replayed trade runs one.
    """
    after: Pool = _new(Pool)
    _set(after, "reserve", reserve)
    _set(after, "supplies", supplies)
    _set(after, "weights", pool.weights)
    return after


def curve_sum(pool: Pool) -> int:
    """``sum a_i * s_i**2`` in raw WAD**3 units (exact)."""
    return sum(a * s * s for a, s in zip(pool.weights, pool.supplies, strict=True))


def norm(pool: Pool) -> Wad:
    """``N = sqrt(A)`` in WAD."""
    return Wad(isqrt(curve_sum(pool) // WAD))


def coefficient(pool: Pool) -> Wad:
    """``c = R / N`` in WAD."""
    return Wad(pool.reserve * WAD // norm(pool))


_Wads = tuple[Wad, ...]


def _shares(parts: list[int]) -> tuple[Wad, ...]:
    total = sum(parts)
    out = [p * WAD // total for p in parts]
    out[-1] += WAD - sum(out)  # the last element absorbs rounding so the sum is exactly 1e18
    return cast(_Wads, tuple(out))


def probabilities(pool: Pool) -> tuple[Wad, ...]:
    """Capital shares ``q_i`` (implied chances), WAD, summing to exactly 1e18."""
    return _shares([a * s * s for a, s in zip(pool.weights, pool.supplies, strict=True)])


def probability(pool: Pool, outcome: int) -> Wad:
    pool.check_outcome(outcome)
    a, s = pool.weights[outcome], pool.supplies[outcome]
    return Wad(a * s * s * WAD // curve_sum(pool))


def probabilities_and_price(pool: Pool, outcome: int) -> tuple[tuple[Wad, ...], Wad]:
    """``(probabilities(pool), marginal_price(pool, outcome))`` from one pass over the curve
    (what the simulator records for every execution)."""
    pool.check_outcome(outcome)
    parts = [a * s * s for a, s in zip(pool.weights, pool.supplies, strict=True)]
    total = sum(parts)
    price = pool.reserve * pool.weights[outcome] * pool.supplies[outcome] * WAD // total
    probs = [p * WAD // total for p in parts]
    probs[-1] += WAD - sum(probs)  # as ``_shares``: the sum is exactly 1e18
    return cast(_Wads, tuple(probs)), Wad(price)


def marginal_prices(pool: Pool) -> tuple[Wad, ...]:
    """``p_i = R * a_i * s_i / A``: USDC (WAD) per whole token at the margin."""
    total = curve_sum(pool)
    return cast(
        _Wads,
        tuple(
            pool.reserve * a * s * WAD // total
            for a, s in zip(pool.weights, pool.supplies, strict=True)
        ),
    )


def marginal_price(pool: Pool, outcome: int) -> Wad:
    """``marginal_prices(pool)[outcome]`` without computing the other outcomes' prices."""
    pool.check_outcome(outcome)
    reserve, weight, supply = pool.reserve, pool.weights[outcome], pool.supplies[outcome]
    return Wad(reserve * weight * supply * WAD // curve_sum(pool))


def normalized_prices(pool: Pool) -> tuple[Wad, ...]:
    """Marginal prices normalised to sum to 1e18 (the quote's ``pAfter``)."""
    return _shares([a * s for a, s in zip(pool.weights, pool.supplies, strict=True)])


@dataclass(frozen=True, slots=True)
class BuyResult:
    amount_in: Usdc  # gross USDC the trader pays
    protocol_fee: Usdc
    net_in: Usdc  # USDC that entered the reserve
    tokens_out: Wad
    pool: Pool  # state after the trade


@dataclass(frozen=True, slots=True)
class SellResult:
    tokens_in: Wad
    gross_release: Wad  # curve release before fees (the quote's grossRelease)
    amm_fee: Usdc  # retained in the reserve
    usdc_out: Usdc  # net of the AMM fee (the quote's usdcOut)
    protocol_fee: Usdc  # taken from usdc_out
    payout: Usdc  # what reaches the seller
    pool: Pool


def buy(pool: Pool, outcome: int, amount_in: int, fees: Fees = DEFAULT_FEES) -> BuyResult:
    """Spend ``amount_in`` USDC (gross, before the protocol fee) on ``outcome``."""
    pool.check_outcome(outcome)
    if amount_in <= 0:
        raise AmmError("buy amount must be positive")
    pfee = fee_of(amount_in, fees.protocol_bps)
    net = amount_in - pfee
    r0 = pool.reserve
    r1 = r0 + net * ATOMIC_TO_WAD
    s_sum = curve_sum(pool)
    s_sum_after = s_sum * r1 * r1 // (r0 * r0)
    a, s = pool.weights[outcome], pool.supplies[outcome]
    s_new = isqrt(s * s + (s_sum_after - s_sum) // a)
    tokens = s_new - s
    supplies = list(pool.supplies)
    supplies[outcome] = s_new
    after = _traded_pool(pool, r1, tuple(supplies))
    return BuyResult(Usdc(amount_in), Usdc(pfee), Usdc(net), Wad(tokens), after)


def sell(pool: Pool, outcome: int, tokens_in: int, fees: Fees = DEFAULT_FEES) -> SellResult:
    """Burn ``tokens_in`` of ``outcome`` and release USDC down the constant-``c`` curve."""
    pool.check_outcome(outcome)
    s = pool.supplies[outcome]
    if tokens_in <= 0:
        raise AmmError("sell amount must be positive")
    if tokens_in >= s:
        raise AmmError(f"cannot sell {tokens_in} tokens of an outcome whose supply is {s}")
    a = pool.weights[outcome]
    s_new = s - tokens_in
    s_sum = curve_sum(pool)
    s_sum_after = s_sum - a * (s * s - s_new * s_new)
    r0 = pool.reserve
    r_curve = _ceil_isqrt(_ceil_div(r0 * r0 * s_sum_after, s_sum))
    gross = r0 - r_curve
    gross_atomic = gross // ATOMIC_TO_WAD
    amm_fee = fee_of(gross_atomic, fees.amm_sell_bps)
    usdc_out = gross_atomic - amm_fee
    pfee = fee_of(usdc_out, fees.protocol_bps)
    supplies = list(pool.supplies)
    supplies[outcome] = s_new
    after = _traded_pool(pool, r0 - usdc_out * ATOMIC_TO_WAD, tuple(supplies))
    paid = Usdc(usdc_out)
    return SellResult(
        Wad(tokens_in), Wad(gross), Usdc(amm_fee), paid, Usdc(pfee), Usdc(paid - pfee), after
    )


def _least_input(out: int, bps: int) -> int:
    """Smallest ``x`` with ``x - fee_of(x, bps) >= out`` (``x - fee_of(x, bps)`` rises by 0 or 1
    per unit of ``x``, so the least such ``x`` is found from the real inverse in a step or two)."""
    x = out * BPS // (BPS - bps)
    while x - fee_of(x, bps) >= out and x > 0:
        x -= 1
    while x - fee_of(x, bps) < out:
        x += 1
    return x


def tokens_for_payout(
    pool: Pool,
    outcome: int,
    payout: int,
    fees: Fees = DEFAULT_FEES,
    *,
    net_of_protocol_fee: bool = True,
) -> int:
    """Fewest tokens (WAD) whose sale pays at least ``payout`` USDC (a REST sell's ``amount``).

    ``net_of_protocol_fee`` chooses whether ``payout`` is what reaches the seller (default)
    or ``usdc_out`` before the protocol fee. Raises AmmError when no sale can pay that much.

    Closed form, exactly :func:`sell`'s rounding inverted (a search over ``sell`` did the same
    ~74 times per call). Every step of a sale is monotone in the tokens burnt, so
    ``payout(t) >= P`` iff ``gross_atomic >= g`` (``g`` the least gross paying ``P`` after the
    fees) iff ``r_curve <= X = R - g * 1e12`` iff ``R**2 * A' <= X**2 * A`` (``r_curve`` is a
    ceiling square root of a ceiling quotient) iff ``a * s'**2 * R**2 <= X**2 * A -
    R**2 * (A - a * s**2)``; the largest such ``s'`` is an integer square root, and
    ``t = s - s'``.
    """
    pool.check_outcome(outcome)
    if payout <= 0:
        raise AmmError("payout must be positive")
    s = pool.supplies[outcome]
    if s <= 1:
        raise AmmError("sell amount must be positive")
    usdc_out = _least_input(payout, fees.protocol_bps) if net_of_protocol_fee else payout
    gross_atomic = _least_input(usdc_out, fees.amm_sell_bps)
    r0 = pool.reserve
    x = r0 - gross_atomic * ATOMIC_TO_WAD
    a = pool.weights[outcome]
    s_sum = curve_sum(pool)
    room = x * x * s_sum - r0 * r0 * (s_sum - a * s * s)
    if x <= 0 or room < r0 * r0 * a:  # even s' = 1 (burning s - 1) pays too little
        raise AmmError("the pool cannot pay that much for this outcome")
    return s - isqrt(room // (r0 * r0 * a))


def _supply_for_share(pool: Pool, outcome: int, target: int) -> tuple[int, int]:
    """Squared supply of ``outcome`` that makes ``q_outcome == target``, and the rest of A."""
    a, s = pool.weights[outcome], pool.supplies[outcome]
    rest = curve_sum(pool) - a * s * s
    return rest * target // (a * (WAD - target)), rest


def buy_amount_to_reach(pool: Pool, outcome: int, target: int, fees: Fees = DEFAULT_FEES) -> Usdc:
    """Largest gross USDC buy of ``outcome`` leaving ``q_outcome <= target`` (0 if already there).

    Closed form from ``q_i' = a_i s_i'**2 / A'`` with the other supplies fixed, then
    ``R' = R * sqrt(A'/A)``; a short walk corrects integer rounding so the target is never passed.
    """
    pool.check_outcome(outcome)
    if not 0 < target < WAD:
        raise AmmError("target probability must be strictly between 0 and 1")
    if probability(pool, outcome) >= target:
        return Usdc(0)
    s_sq, rest = _supply_for_share(pool, outcome, target)
    s_sum_after = rest + pool.weights[outcome] * s_sq
    r1 = isqrt(pool.reserve * pool.reserve * s_sum_after // curve_sum(pool))
    net = (r1 - pool.reserve) // ATOMIC_TO_WAD
    gross = net * BPS // (BPS - fees.protocol_bps)

    def lands(g: int) -> Wad:
        return probability(buy(pool, outcome, g, fees).pool, outcome)

    while gross > 0 and lands(gross) > target:
        gross -= max(1, gross // 1_000_000)
    for _ in range(64):  # rounding leaves at most a few atomic units on the table
        if lands(gross + 1) > target:
            break
        gross += 1
    return Usdc(max(gross, 0))


def sell_tokens_to_reach(pool: Pool, outcome: int, target: int) -> Wad:
    """Most tokens of ``outcome`` to sell leaving ``q_outcome >= target`` (0 if already there)."""
    pool.check_outcome(outcome)
    if not 0 < target < WAD:
        raise AmmError("target probability must be strictly between 0 and 1")
    if probability(pool, outcome) <= target:
        return Wad(0)
    s_sq, _ = _supply_for_share(pool, outcome, target)
    return Wad(max(pool.supplies[outcome] - _ceil_isqrt(s_sq), 0))


def seed_pool(reserve: int, chances: tuple[int, ...] | None = None, n: int = 2) -> Pool:
    """A fresh pool with equal weights whose implied chances are ``chances`` (default uniform).

    Supplies are chosen so that ``c == 1``: with equal weights ``q_i ∝ s_i**2``.
    """
    if chances is None:
        chances = _shares([1] * n)
    n = len(chances)
    if not MIN_OUTCOMES <= n <= MAX_OUTCOMES:
        raise AmmError(f"a market has {MIN_OUTCOMES}..{MAX_OUTCOMES} outcomes, got {n}")
    if sum(chances) != WAD or any(p <= 0 for p in chances):
        raise AmmError("seed chances must be positive and sum to 1e18")
    weights = _shares([1] * n)
    r = reserve * ATOMIC_TO_WAD
    # With c = 1, N = R; s_i = R * sqrt(q_i / a_i) because a_i s_i**2 = q_i N**2.
    supplies = tuple(max(1, isqrt(r * r * p // w)) for p, w in zip(chances, weights, strict=True))
    return Pool(reserve=r, supplies=supplies, weights=weights)


def redemption(pool: Pool, winners: tuple[int, ...], tokens: int) -> Usdc:
    """USDC paid for ``tokens`` of a winning outcome: ``R * tokens / total winning supply``."""
    total = sum(pool.supplies[w] for w in winners)
    return Usdc(pool.reserve * tokens // total // ATOMIC_TO_WAD)


def cancellation_refund(pool: Pool, outcome: int, tokens: int) -> Usdc:
    """USDC refunded for ``tokens`` of ``outcome`` when the market is cancelled: each token at its
    outcome's marginal price in the pool snapshotted at cancellation (refunds sum to ``R``)."""
    pool.check_outcome(outcome)
    price = marginal_price(pool, outcome)
    return Usdc(tokens * price // WAD // ATOMIC_TO_WAD)


def settlement_payout(
    pool: Pool, outcome: int, tokens: int, *, winners: tuple[int, ...], cancelled: bool
) -> Usdc:
    """What a position redeems for (§13): a refund if cancelled, ``R × tokens / winning supply``
    for a winner, 0 for a loser. No redemption fee."""
    pool.check_outcome(outcome)
    if tokens <= 0:
        return Usdc(0)
    if cancelled:
        return cancellation_refund(pool, outcome, tokens)
    if outcome not in winners:
        return Usdc(0)
    return redemption(pool, winners, tokens)
