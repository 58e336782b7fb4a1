"""``decide_market`` skips the sell inversion when even the whole holding cannot pay
``min_trade``: sound only because ``payout_bound`` never shrinks as the tokens grow, and
because it bounds the real payout (both checked here on random pools)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.money import USDC_ONE, WAD
from kashbot.strategies.fair_value import FairValueParams, payout_bound

chances = st.integers(min_value=WAD // 100, max_value=WAD - WAD // 100)
reserves = st.integers(min_value=10 * USDC_ONE, max_value=10_000_000 * USDC_ONE)


@settings(max_examples=300, deadline=None)
@given(reserves, chances, st.integers(0, 1), st.integers(0, 10**6), st.integers(0, 10**6))
def test_payout_bound_grows_with_the_tokens_and_bounds_the_payout(
    reserve: int, p0: int, outcome: int, k1: int, k2: int
) -> None:
    pool = amm.seed_pool(reserve, (p0, WAD - p0))
    p = FairValueParams()
    top = pool.supplies[outcome] - 1
    small, large = sorted((top * k1 // 10**6, top * k2 // 10**6))
    assert payout_bound(pool, outcome, small, p) <= payout_bound(pool, outcome, large, p)
    if large > 0:
        fees = amm.Fees(protocol_bps=p.protocol_fee_bps, amm_sell_bps=p.amm_sell_fee_bps)
        paid = amm.sell(pool, outcome, large, fees).payout
        assert paid <= payout_bound(pool, outcome, large, p)


def test_params_amounts_follow_a_copy_with_other_amounts() -> None:
    """The atomic amounts are cached per Decimal value, never per params object."""
    from decimal import Decimal

    p = FairValueParams(min_trade_usdc=Decimal("2"))
    q = p.model_copy(update={"min_trade_usdc": Decimal("3.5")})
    assert (p.min_trade, q.min_trade) == (2 * USDC_ONE, 3_500_000)
    assert p.max_trade == 25 * USDC_ONE and p.max_position == 250 * USDC_ONE


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, WAD - 1),
    st.integers(0, 5_000),
    st.integers(0, 9_999),
    st.integers(0, 9_999),
)
def test_the_decision_loop_limits_are_the_documented_functions(
    fair: int, edge: int, protocol: int, sell_fee: int
) -> None:
    """``decide_market`` runs the limit formulas inline: the same integers as the functions."""
    from kashbot.strategies.fair_value import BPS, EDGE_UNIT, buy_limit, sell_limit

    p = FairValueParams(edge_bps=edge, protocol_fee_bps=protocol, amm_sell_fee_bps=sell_fee)
    keep = BPS - protocol
    denom = keep * (BPS - sell_fee)
    assert fair * keep // BPS - edge * EDGE_UNIT == buy_limit(fair, p)
    assert -(-fair * BPS * BPS // denom) + edge * EDGE_UNIT == sell_limit(fair, p)
