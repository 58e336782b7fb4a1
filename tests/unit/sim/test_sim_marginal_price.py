"""``amm.marginal_price`` (what each sim prediction row carries) is one element of
``amm.marginal_prices``, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.money import WAD


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=2, max_size=8),
    st.integers(20 * 10**6, 5_000_000 * 10**6),
    st.integers(1_000, 10_000 * 10**6),
)
def test_marginal_price_is_one_element_of_marginal_prices(
    raw: list[int], reserve: int, spend: int
) -> None:
    chances = [r * WAD // sum(raw) for r in raw]
    chances[-1] += WAD - sum(chances)
    pool = amm.buy(amm.seed_pool(reserve, tuple(chances)), 0, spend).pool
    assert [amm.marginal_price(pool, i) for i in range(len(raw))] == list(amm.marginal_prices(pool))


def test_marginal_price_checks_the_outcome() -> None:
    with pytest.raises(amm.AmmError):
        amm.marginal_price(amm.seed_pool(10**8, (WAD // 2, WAD // 2)), 2)
