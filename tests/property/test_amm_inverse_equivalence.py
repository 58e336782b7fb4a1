"""The closed-form ``amm.tokens_for_payout`` equals the binary search it replaced, on any input.

The old implementation is kept here verbatim (as a reference, not imported from anywhere) so the
comparison covers every pool, fee schedule, payout and both payout conventions, including the
inputs where both must raise.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.money import WAD


def old_tokens_for_payout(
    pool: amm.Pool,
    outcome: int,
    payout: int,
    fees: amm.Fees = amm.DEFAULT_FEES,
    *,
    net_of_protocol_fee: bool = True,
) -> int:
    pool.check_outcome(outcome)
    if payout <= 0:
        raise amm.AmmError("payout must be positive")

    def paid(t: int) -> int:
        r = amm.sell(pool, outcome, t, fees)
        return r.payout if net_of_protocol_fee else r.usdc_out

    hi = pool.supplies[outcome] - 1
    if paid(hi) < payout:
        raise amm.AmmError("the pool cannot pay that much for this outcome")
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if paid(mid) >= payout:
            hi = mid
        else:
            lo = mid
    return hi


@st.composite
def any_pools(draw: st.DrawFn) -> amm.Pool:
    """Arbitrary valid pools: any weights, supplies and reserve (not only seeded ones)."""
    n = draw(st.integers(2, 5))
    raw = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n))
    weights = [r * WAD // sum(raw) for r in raw]
    weights[-1] += WAD - sum(weights)
    if any(w <= 0 for w in weights):
        weights = [WAD // n] * (n - 1) + [WAD - WAD // n * (n - 1)]
    supplies = draw(
        st.lists(st.one_of(st.integers(1, 10**4), st.integers(1, 10**30)), min_size=n, max_size=n)
    )
    reserve = draw(st.one_of(st.integers(1, 10**13), st.integers(1, 10**30)))
    return amm.Pool(reserve=reserve, supplies=tuple(supplies), weights=tuple(weights))


fees_st = st.builds(amm.Fees, st.integers(0, 9_999), st.integers(0, 9_999))


def _outcome(f: object, *args: object, **kw: object) -> tuple[str, object]:
    try:
        return "ok", f(*args, **kw)  # type: ignore[operator]
    except amm.AmmError:
        return "error", None


@settings(max_examples=1500, deadline=None)
@given(
    any_pools(),
    st.data(),
    fees_st,
    st.booleans(),
)
def test_closed_form_equals_search(
    pool: amm.Pool, data: st.DataObject, fees: amm.Fees, net: bool
) -> None:
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    s = pool.supplies[i]
    most = 0
    if s > 1:
        r = amm.sell(pool, i, s - 1, fees)
        most = r.payout if net else r.usdc_out
    payout = data.draw(
        st.one_of(
            st.integers(-2, 3),
            st.integers(max(most - 3, 1), most + 3),
            st.integers(1, max(most, 1)),
            st.integers(1, 10**25),
        )
    )
    old = _outcome(old_tokens_for_payout, pool, i, payout, fees, net_of_protocol_fee=net)
    new = _outcome(amm.tokens_for_payout, pool, i, payout, fees, net_of_protocol_fee=net)
    assert new == old


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_closed_form_equals_search_on_seeded_pools(data: st.DataObject) -> None:
    """Pools as the simulator seeds and trades them (realistic sizes and fees)."""
    reserve = data.draw(st.integers(20 * 10**6, 5_000_000 * 10**6))
    p = data.draw(st.integers(WAD // 1000, WAD - WAD // 1000))
    pool = amm.seed_pool(reserve, (p, WAD - p))
    i = data.draw(st.integers(0, 1))
    pool = amm.buy(pool, i, data.draw(st.integers(1, 10_000 * 10**6))).pool
    payout = data.draw(st.integers(1, 20_000 * 10**6))
    old = _outcome(old_tokens_for_payout, pool, i, payout)
    new = _outcome(amm.tokens_for_payout, pool, i, payout)
    assert new == old


@settings(max_examples=1000, deadline=None)
@given(any_pools(), st.data(), fees_st)
def test_fair_value_payout_bound_never_below_the_sale(
    pool: amm.Pool, data: st.DataObject, fees: amm.Fees
) -> None:
    """fair_value skips pricing a sale when this bound is under min_trade: it must never be
    below what the sale pays, or a sale worth making would be skipped."""
    from kashbot.strategies.fair_value import FairValueParams, payout_bound

    i = data.draw(st.integers(0, pool.outcome_count - 1))
    s = pool.supplies[i]
    if s <= 1:
        return
    t = data.draw(st.one_of(st.integers(1, s - 1), st.integers(max(1, s - 3), s - 1)))
    p = FairValueParams(protocol_fee_bps=fees.protocol_bps, amm_sell_fee_bps=fees.amm_sell_bps)
    assert payout_bound(pool, i, t, p) >= amm.sell(pool, i, t, fees).payout
