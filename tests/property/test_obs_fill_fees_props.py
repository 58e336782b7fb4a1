"""Fees in /metrics (kashbot.obs.book.fill_fee) against the AMM's own arithmetic: a buy's fee is
exact; a sell's, inverted from the USDC that reached us, is at most 2 atomic units low."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.events import Side
from kashbot.money import WAD
from kashbot.obs.book import fill_fee
from kashbot.valuation import Fill

fee_schedules = st.builds(amm.Fees, st.integers(0, 500), st.integers(0, 500))


def fill(side: Side, usdc: int) -> Fill:
    return Fill(0.0, "t", "i", "m", 0, side, usdc, 1)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**12), fee_schedules)
def test_buy_fee_is_the_protocol_fee(gross: int, fees: amm.Fees) -> None:
    pool = amm.seed_pool(1_000_000 * 10**6, (WAD // 2, WAD - WAD // 2))
    assume(gross < 10**11)
    assert fill_fee(fill(Side.BUY, gross), fees) == amm.buy(pool, 0, gross, fees).protocol_fee


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), st.integers(10**5, 10**12), fee_schedules)
def test_sell_fee_is_within_two_units(milli_tokens: int, reserve: int, fees: amm.Fees) -> None:
    pool = amm.seed_pool(reserve, (WAD // 2, WAD - WAD // 2))
    tokens = milli_tokens * WAD // 1000
    assume(tokens < pool.supplies[0])
    sale = amm.sell(pool, 0, tokens, fees)
    net = sale.usdc_out - sale.protocol_fee
    assume(net > 0)
    true_fee = sale.amm_fee + sale.protocol_fee
    derived = fill_fee(fill(Side.SELL, net), fees)
    assert 0 <= true_fee - derived <= 2


def test_a_fill_that_knows_its_fee_keeps_it() -> None:
    known = Fill(0.0, "t", "i", "m", 0, Side.SELL, 990, 1, fee=17)
    assert fill_fee(known, amm.DEFAULT_FEES) == 17
