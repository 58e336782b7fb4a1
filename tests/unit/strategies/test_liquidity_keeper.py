"""liquidity_keeper: table-driven band and budget decisions, and the creator-fees estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import build_strategy
from kashbot.events import FairValueUpdate, MarketSnapshot, OrderIntent, PredictionSeen, Side
from kashbot.money import WAD
from kashbot.strategies.creator_fees import estimate_creator_fees
from kashbot.strategies.liquidity_keeper import LiquidityKeeper
from kashbot.valuation import Fill

U = 10**6
NOW = 200_000.0
M = "own"


def w(x: str) -> int:
    return int(Decimal(x) * WAD)


def make_state(q: tuple[str, ...], fair: tuple[str, ...], market: str = M) -> EngineState:
    pool = amm.seed_pool(2_000 * U, tuple(w(x) for x in q), n=len(q))
    st = EngineState()
    st.apply(MarketSnapshot(NOW, market, "ACTIVE", amm.probabilities(pool), pool))
    st.apply(FairValueUpdate(NOW, market, tuple(w(x) for x in fair)))
    return st


def run(st: EngineState, market: str = M, **over: Any) -> list[OrderIntent]:
    params = {"own_markets": [M], "band_bps": 200, "daily_budget_usdc": 100, **over}
    strat = build_strategy("kashbot.strategies.liquidity_keeper:LiquidityKeeper", params)
    assert isinstance(strat, LiquidityKeeper)
    view = st.markets[market]
    ev = MarketSnapshot(NOW, market, "ACTIVE", view.probabilities, view.pool)
    return strat.decide(st, ev, strat.params, NOW)


@dataclass
class Case:
    name: str
    q: tuple[str, ...]
    fair: tuple[str, ...]
    expect: tuple[int, Side] | None
    held: int = 0
    spent_today: int = 0
    spent_yesterday: int = 0
    over: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("inside the band: nothing", ("0.51", "0.49"), ("0.50", "0.50"), None),
    Case("too cheap: buy it", ("0.40", "0.60"), ("0.50", "0.50"), (0, Side.BUY)),
    Case("too dear, not held: buy the other", ("0.60", "0.40"), ("0.50", "0.50"), (1, Side.BUY)),
    Case(
        "too dear, held: sell it",
        ("0.60", "0.40"),
        ("0.50", "0.50"),
        (0, Side.SELL),
        held=100 * WAD,
    ),
    Case(
        "3 outcomes, one too dear: buy the most underpriced other",
        ("0.5", "0.3", "0.2"),
        ("0.4", "0.3", "0.3"),
        (2, Side.BUY),
    ),
    Case(
        "budget spent today: nothing", ("0.40", "0.60"), ("0.50", "0.50"), None, spent_today=100 * U
    ),
    Case(
        "yesterday's spend is back in the budget",
        ("0.40", "0.60"),
        ("0.50", "0.50"),
        (0, Side.BUY),
        spent_yesterday=100 * U,
    ),
    Case("wide band: nothing", ("0.40", "0.60"), ("0.50", "0.50"), None, over={"band_bps": 1500}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_table(case: Case) -> None:
    st = make_state(case.q, case.fair)
    if case.held:
        st.set_position(M, 0, case.held, 50 * U)
    if case.spent_today:
        st.fills.append(Fill(NOW - 3_600, "t1", "i1", M, 1, Side.BUY, case.spent_today, WAD))
    if case.spent_yesterday:
        st.fills.append(Fill(NOW - 90_000, "t0", "i0", M, 1, Side.BUY, case.spent_yesterday, WAD))
    out = run(st, **case.over)
    if case.expect is None:
        assert out == []
        return
    [i] = out
    assert (i.outcome, i.side) == case.expect
    if i.side is Side.BUY:
        assert U <= i.amount <= 25 * U


def test_budget_caps_the_buy() -> None:
    st = make_state(("0.30", "0.70"), ("0.50", "0.50"))
    st.fills.append(Fill(NOW - 60, "t1", "i1", M, 0, Side.BUY, 90 * U, WAD))
    [i] = run(st)
    assert i.amount == 10 * U


def test_markets_we_did_not_create_are_left_alone() -> None:
    st = make_state(("0.30", "0.70"), ("0.50", "0.50"), market="theirs")
    assert run(st, market="theirs") == []


def seen(pid: str, market: str, usdc: int, side: Side = Side.BUY) -> PredictionSeen:
    return PredictionSeen(NOW, market, pid, 0, side, usdc, WAD, w("0.5"))


def test_creator_fees_estimate() -> None:
    trades = [
        seen("p1", M, 100 * U),
        seen("p1", M, 100 * U),  # the same trade from the stream and the poller: once
        seen("p2", M, 50 * U, Side.SELL),
        seen("p3", M, 1_000 * U),  # ours: left out
        seen("p4", "theirs", 1_000 * U),  # not our market
        seen("p5", "other", 10 * U),
    ]
    fees = {"other": amm.Fees(protocol_bps=50, amm_sell_bps=100)}
    got = estimate_creator_fees(trades, [M, "other", "idle"], 2_000, fees, ours={"p3"})
    # 1 % of 150 USDC, 20 % of that; 0.5 % of 10 USDC, 20 % of that
    assert got == {M: 300_000, "other": 10_000, "idle": 0}


def test_creator_fees_rejects_a_share_over_100_percent() -> None:
    with pytest.raises(ValueError, match="share_bps"):
        estimate_creator_fees([], [M], 10_001)


def test_an_unsure_fair_value_moves_the_pool_less() -> None:
    sure = make_state(("0.40", "0.60"), ("0.50", "0.50"))
    unsure = make_state(("0.40", "0.60"), ("0.50", "0.50"))
    unsure.apply(FairValueUpdate(NOW, M, (w("0.50"), w("0.50")), confidence=w("0.25")))
    assert unsure.markets[M].fair_confidence == w("0.25")
    big = run(sure, max_trade_usdc=1000)[0].amount
    small = run(unsure, max_trade_usdc=1000)[0].amount
    assert 0 < small < big
