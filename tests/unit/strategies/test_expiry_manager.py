"""expiry_manager: table-driven (time to freeze, edge, holding) -> hold, sell down or trade."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import build_strategy
from kashbot.events import FairValueUpdate, MarketSnapshot, OrderIntent, Side
from kashbot.money import WAD
from kashbot.strategies.expiry_manager import ExpiryManager, ExpiryParams, allowance

U = 10**6
NOW = 10_000.0
M = "m1"
PARAMS: dict[str, Any] = {
    "window_s": 3600,
    "sell_by_s": 600,
    "keep_fraction": "0.25",
    "hold_edge_bps": 500,
    "max_position_usdc": 200,
    "max_trade_usdc": 1000,
}


def w(x: str) -> int:
    return int(Decimal(x) * WAD)


def make_state(q0: str, fair0: str, tau: float | None, shares: int, cost: int) -> EngineState:
    pool = amm.seed_pool(5_000 * U, (w(q0), WAD - w(q0)))
    st = EngineState()
    freeze = None if tau is None else NOW + tau
    st.apply(MarketSnapshot(NOW, M, "ACTIVE", amm.probabilities(pool), pool, freeze_at=freeze))
    st.apply(FairValueUpdate(NOW, M, (w(fair0), WAD - w(fair0))))
    if shares:
        st.set_position(M, 0, shares, cost)
    return st


def run(st: EngineState, **over: Any) -> list[OrderIntent]:
    strat = build_strategy(
        "kashbot.strategies.expiry_manager:ExpiryManager", {**PARAMS, **over}, strategy_id="x"
    )
    assert isinstance(strat, ExpiryManager)
    view = st.markets[M]
    ev = MarketSnapshot(NOW, M, "ACTIVE", view.probabilities, view.pool, freeze_at=view.freeze_at)
    return strat.decide(st, ev, strat.params, NOW)


@dataclass
class Case:
    name: str
    q: str
    fair: str
    tau: float | None
    cost: int
    expect: Side | None


CASES = [
    Case("far from freeze, cheap: buy", "0.40", "0.50", 10_000, 0, Side.BUY),
    Case("no freezeAt: trades as usual", "0.40", "0.50", None, 0, Side.BUY),
    Case("in the window, cheap: no new buys", "0.40", "0.50", 3_000, 0, None),
    Case("in the window, big edge held: hold", "0.40", "0.50", 300, 200 * U, None),
    Case("in the window, small edge: sell down", "0.48", "0.50", 300, 200 * U, Side.SELL),
    Case("in the window, under the allowance: hold", "0.48", "0.50", 3_000, 150 * U, None),
    Case(
        "in the window, over the ramp's allowance: sell", "0.48", "0.50", 1_800, 200 * U, Side.SELL
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_table(case: Case) -> None:
    st = make_state(case.q, case.fair, case.tau, 400 * WAD if case.cost else 0, case.cost)
    out = run(st)
    if case.expect is None:
        assert out == []
        return
    [i] = out
    assert i.side is case.expect and i.outcome == 0


@pytest.mark.parametrize(
    ("tau", "expected_usdc"),
    [(5_000, 200), (3_600, 200), (2_100, 125), (600, 50), (100, 50), (0, 50)],
)
def test_allowance_ramps_to_keep_fraction_by_sell_by(tau: float, expected_usdc: int) -> None:
    p = ExpiryParams.model_validate(PARAMS)
    assert allowance(p, tau) == expected_usdc * U


def test_sell_down_sells_the_excess_share_of_the_position() -> None:
    st = make_state("0.48", "0.50", 300, 400 * WAD, 200 * U)
    [i] = run(st)
    view = st.markets[M]
    assert view.pool is not None
    # 150 of 200 USDC of cost over the allowance: three quarters of the 400 shares
    assert i.amount == amm.sell(view.pool, 0, 300 * WAD, view.fees).payout
    burned = amm.tokens_for_payout(view.pool, 0, i.amount, view.fees)
    assert burned <= 300 * WAD
    assert i.closing and i.limit_probability is not None


def test_sell_by_must_come_before_the_window() -> None:
    with pytest.raises(ValueError, match="sell_by_s"):
        ExpiryParams.model_validate({"window_s": 600, "sell_by_s": 600})


def test_frozen_market_is_left_to_the_lifecycle() -> None:
    st = make_state("0.48", "0.50", -1, 400 * WAD, 200 * U)
    assert run(st) == []


def float_allowance(p: ExpiryParams, tau: float) -> float:
    """The rule as the docstring writes it, in floats: what the integer version must match
    within rounding (it used to be computed this way, a float scaling atomic USDC)."""
    r = max(0.0, min(1.0, (tau - p.sell_by_s) / (p.window_s - p.sell_by_s)))
    keep = float(p.keep_fraction)
    return 200 * U * (keep + (1 - keep) * r)


@pytest.mark.parametrize(
    ("tau", "exact"),
    [
        (1_000.5, 70_025_000),  # ramp 400.5 / 3000: 50 + 150 * 0.1335 USDC, exactly
        (601, 50_050_000),  # one second into the ramp: 50 + 150 / 3000
        (700.1, 55_005_000),  # a float time: its binary value is a hair above 700.1
        (3_599.999999, 199_999_999),  # rounded down, never up
        (2_100.01, 125_000_500),  # 0.01 s past half way: 150 USDC * 0.01 / 3000
    ],
)
def test_allowance_is_exact_integer_maths_within_rounding_of_the_rule(
    tau: float, exact: int
) -> None:
    p = ExpiryParams.model_validate(PARAMS)
    got = allowance(p, tau)
    assert isinstance(got, int) and got == exact
    assert abs(got - float_allowance(p, tau)) < 1  # same decisions: under one atomic unit
