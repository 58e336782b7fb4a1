"""Money-path properties of the pool maths: conservation, no free round trips, exact inverses."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.money import WAD


@st.composite
def pools(draw: st.DrawFn) -> amm.Pool:
    n = draw(st.integers(2, 8))
    raw = draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
    total = sum(raw)
    chances = [r * WAD // total for r in raw]
    chances[-1] += WAD - sum(chances)
    assume(all(c > WAD // 10_000 for c in chances))
    reserve = draw(st.integers(20 * 10**6, 5_000_000 * 10**6))
    return amm.seed_pool(reserve, tuple(chances))


@settings(max_examples=200, deadline=None)
@given(pools(), st.data())
def test_probabilities_sum_to_one_after_any_buy(pool: amm.Pool, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    x = data.draw(st.integers(1_000, 10_000 * 10**6))
    r = amm.buy(pool, i, x)
    assert sum(amm.probabilities(r.pool)) == WAD
    assert r.tokens_out >= 0
    assert r.protocol_fee + r.net_in == x
    # c never falls on a buy (rounding dust stays in the pool)
    assert amm.coefficient(r.pool) >= amm.coefficient(pool) - 1
    # the bought outcome's chance never falls, the others never rise
    q0, q1 = amm.probabilities(pool), amm.probabilities(r.pool)
    assert q1[i] >= q0[i] - 1


@settings(max_examples=200, deadline=None)
@given(pools(), st.data())
def test_round_trip_never_profits(pool: amm.Pool, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    x = data.draw(st.integers(10_000, 50_000 * 10**6))
    b = amm.buy(pool, i, x)
    assume(b.tokens_out > 0)
    s = amm.sell(b.pool, i, b.tokens_out)
    assert s.payout <= x
    assert s.usdc_out <= b.net_in
    # the reserve never pays out more than it took in
    assert s.pool.reserve >= pool.reserve


@settings(max_examples=150, deadline=None)
@given(pools(), st.data())
def test_tokens_for_payout_is_the_fewest(pool: amm.Pool, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    b = amm.buy(pool, i, data.draw(st.integers(10**6, 10_000 * 10**6)))
    best = amm.sell(b.pool, i, b.tokens_out).payout
    assume(best > 1)
    want = data.draw(st.integers(1, best))
    t = amm.tokens_for_payout(b.pool, i, want)
    assert amm.sell(b.pool, i, t).payout >= want
    if t > 1:
        assert amm.sell(b.pool, i, t - 1).payout < want


@settings(max_examples=150, deadline=None)
@given(pools(), st.data())
def test_buy_to_reach_never_overshoots(pool: amm.Pool, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    q = amm.probability(pool, i)
    assume(q < WAD - WAD // 50)
    target = data.draw(st.integers(q + 1, min(WAD - WAD // 100, q + WAD // 3)))
    assume(target < WAD - WAD // 100)
    g = amm.buy_amount_to_reach(pool, i, target)
    if g > 0:
        assert amm.probability(amm.buy(pool, i, g).pool, i) <= target
    assert amm.probability(amm.buy(pool, i, g + 100).pool, i) > target - WAD // 10**6


def test_seeded_pool_has_unit_coefficient_and_requested_chances() -> None:
    p = amm.seed_pool(20_000_000, (WAD // 5, WAD // 5, 3 * WAD // 5))
    assert amm.coefficient(p) == WAD
    q = amm.probabilities(p)
    assert all(
        abs(a - b) < 10**6 for a, b in zip(q, (WAD // 5, WAD // 5, 3 * WAD // 5), strict=True)
    )


def test_buy_matches_the_documented_closed_form() -> None:
    # s_i' = sqrt(s_i^2 + ((R+x)^2 - R^2) / (c^2 a_i)), with c = 1 for a seeded pool
    p = amm.seed_pool(100 * 10**6)
    r = amm.buy(p, 0, 10 * 10**6)
    x = 9.9  # net of the 1% protocol fee, in USDC; float only to check the formula's shape
    s, rr, a = 100.0, 100.0, 0.5
    expect = (s * s + ((rr + x) ** 2 - rr * rr) / a) ** 0.5 - s
    assert abs(r.tokens_out / WAD - expect) < 1e-9


def test_sell_fee_stays_in_reserve() -> None:
    p = amm.seed_pool(100 * 10**6)
    b = amm.buy(p, 1, 50 * 10**6)
    s = amm.sell(b.pool, 1, b.tokens_out // 2)
    assert s.amm_fee > 0
    assert b.pool.reserve - s.pool.reserve == s.usdc_out * 10**12
    assert s.gross_release // 10**12 == s.usdc_out + s.amm_fee


@settings(max_examples=200, deadline=None)
@given(pools(), st.data())
def test_traded_pools_pass_full_validation(pool: amm.Pool, data: st.DataObject) -> None:
    """buy/sell skip ``Pool.__post_init__`` on the pools they build: every such pool must be
    one the validating constructor accepts and equals, down to dust-sized and near-total trades."""
    for _ in range(6):
        i = data.draw(st.integers(0, pool.outcome_count - 1))
        if pool.supplies[i] < 2 or data.draw(st.booleans()):
            after = amm.buy(pool, i, data.draw(st.integers(1, 50_000 * 10**6))).pool
        else:
            supply = pool.supplies[i]
            t = data.draw(st.one_of(st.integers(1, supply - 1), st.just(supply - 1)))
            after = amm.sell(pool, i, t).pool
        rebuilt = amm.Pool(after.reserve, after.supplies, after.weights)
        assert rebuilt == after and hash(rebuilt) == hash(after)
        assert type(after.supplies) is tuple and after.weights is pool.weights
        pool = after


@given(pools(), st.data())
def test_probabilities_and_price_is_both_functions_in_one_pass(
    pool: amm.Pool, data: st.DataObject
) -> None:
    """The simulator records both from one curve pass: the same integers as each alone."""
    i = data.draw(st.integers(0, pool.outcome_count - 1))
    x = data.draw(st.integers(1_000, 10_000 * 10**6))
    after = amm.buy(pool, i, x).pool
    for p in (pool, after):
        assert amm.probabilities_and_price(p, i) == (
            amm.probabilities(p),
            amm.marginal_price(p, i),
        )
