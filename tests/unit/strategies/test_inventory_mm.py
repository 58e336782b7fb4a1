"""inventory_mm: table-driven (state, event) -> intent, checked against the documented formula."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import build_strategy
from kashbot.events import FairValueUpdate, MarketSnapshot, OrderIntent, Side
from kashbot.money import WAD
from kashbot.strategies.inventory_mm import InventoryMM, InventoryMMParams
from kashbot.strategies.pricing import buy_limit, push, sell_limit
from kashbot.valuation import Fill

U = 10**6
NOW = 100.0
M = "m1"


def w(x: str) -> int:
    return int(Decimal(x) * WAD)


def make_state(q0: str, fair0: str, shares: int = 0, cost: int = 0) -> EngineState:
    pool = amm.seed_pool(2_000 * U, (w(q0), WAD - w(q0)))
    st = EngineState()
    st.apply(MarketSnapshot(NOW, M, "ACTIVE", amm.probabilities(pool), pool))
    st.apply(FairValueUpdate(NOW, M, (w(fair0), WAD - w(fair0))))
    if shares:
        st.set_position(M, 0, shares, cost)
    return st


def run(st: EngineState, params: dict[str, Any], event: Any = None) -> list[OrderIntent]:
    strat = build_strategy("kashbot.strategies.inventory_mm:InventoryMM", params, strategy_id="imm")
    assert isinstance(strat, InventoryMM)
    ev = event or MarketSnapshot(NOW, M, "ACTIVE", st.markets[M].probabilities, st.markets[M].pool)
    return strat.decide(st, ev, strat.params, NOW)


def expected_buy(st: EngineState, fair: str, k: str, cap: int, skew_shift: int = 0) -> int:
    view = st.markets[M]
    assert view.pool is not None
    lb = buy_limit(w(fair) - skew_shift, view.fees, 50)
    t = push(view.probabilities[0], lb, w(k))
    return min(amm.buy_amount_to_reach(view.pool, 0, t, view.fees), cap)


@dataclass
class Case:
    name: str
    q: str
    fair: str
    side: Side | None
    params: dict[str, Any] = field(default_factory=dict)
    shares: int = 0
    cost: int = 0


CASES = [
    Case("cheap: buy yes", "0.40", "0.50", Side.BUY),
    Case("within fees+edge: nothing", "0.49", "0.50", None),
    Case("dear, nothing held: buy the other outcome", "0.60", "0.50", Side.BUY),
    Case("dear and held: sell", "0.60", "0.50", Side.SELL, shares=500 * WAD, cost=250 * U),
    Case("full position: no buy", "0.40", "0.50", None, shares=1_000 * WAD, cost=250 * U),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_table(case: Case) -> None:
    st = make_state(case.q, case.fair, case.shares, case.cost)
    out = run(st, case.params)
    if case.side is None:
        assert out == []
        return
    assert len(out) == 1 and out[0].side is case.side and out[0].amount >= U


def test_buy_size_is_the_fractional_kelly_push() -> None:
    st = make_state("0.40", "0.50")
    [i] = run(st, {"kelly_fraction": "0.5", "max_trade_usdc": 1000})
    assert i.outcome == 0 and i.side is Side.BUY
    assert i.amount == expected_buy(st, "0.50", "0.5", 1000 * U)
    # the pool after the buy sits halfway between q and the buy limit, never past it
    view = st.markets[M]
    assert view.pool is not None
    after = amm.probability(amm.buy(view.pool, 0, i.amount, view.fees).pool, 0)
    assert after <= i.limit_probability  # type: ignore[operator]


def test_size_grows_with_edge_and_confidence() -> None:
    big = run(make_state("0.40", "0.50"), {"max_trade_usdc": 1000})[0].amount
    small = run(make_state("0.45", "0.50"), {"max_trade_usdc": 1000})[0].amount
    assert big > small
    st = make_state("0.40", "0.50")
    fv = FairValueUpdate(NOW, M, (w("0.50"), w("0.50")), confidence=w("0.2"))
    unsure = run(st, {"max_trade_usdc": 1000}, fv)[0].amount
    assert unsure == expected_buy(st, "0.50", "0.1", 1000 * U) < big


def test_inventory_above_target_skews_the_reservation_down() -> None:
    plain = make_state("0.40", "0.50", shares=100 * WAD, cost=100 * U)
    skew = {"inventory": {"target_usdc": 0, "skew_bps": 1000}, "max_trade_usdc": 1000}
    flat = {"inventory": {"target_usdc": 100, "skew_bps": 1000}, "max_trade_usdc": 1000}
    skewed = run(plain, skew)[0].amount
    on_target = run(plain, flat)[0].amount
    # h - T = 100 of H = 250 at 10 %: r = 0.50 - 0.04
    assert skewed == expected_buy(plain, "0.50", "0.5", 150 * U, skew_shift=w("0.04"))
    assert skewed < on_target


def test_per_market_inventory_overrides_the_default() -> None:
    p = InventoryMMParams.model_validate({"markets": {M: {"target_usdc": 50, "skew_bps": 0}}})
    assert p.inventory_for(M).skew_bps == 0 and p.inventory_for("other").skew_bps == 200


def test_loss_limit_stops_buys_and_goes_flat() -> None:
    st = make_state("0.40", "0.50")
    # we paid 200 USDC for shares now worth far less: a realised+marked loss over 100
    st.set_position(M, 0, 10 * WAD, 200 * U)
    st.fills.append(Fill(NOW - 50, "t1", "i1", M, 0, Side.BUY, 200 * U, 10 * WAD))
    [flat] = run(st, {"loss_limit_usdc": 100})  # no buy: what is held is sold instead
    assert flat.side is Side.SELL and flat.closing
    assert run(st, {"loss_limit_usdc": 1000})[0].side is Side.BUY
    dear = make_state("0.60", "0.50", shares=500 * WAD, cost=250 * U)
    dear.fills.append(Fill(NOW - 50, "t1", "i1", M, 0, Side.BUY, 800 * U, 500 * WAD))
    assert run(dear, {"loss_limit_usdc": 100})[0].side is Side.SELL


def test_sell_stays_above_its_guard_and_within_holdings() -> None:
    st = make_state("0.60", "0.50", shares=20 * WAD, cost=10 * U)
    [i] = run(st, {"max_trade_usdc": 1000})
    view = st.markets[M]
    assert view.pool is not None and i.side is Side.SELL and i.closing
    burned = amm.tokens_for_payout(view.pool, 0, i.amount, view.fees)
    assert burned <= 20 * WAD
    ls = sell_limit(w("0.50"), view.fees, 50)
    assert i.limit_probability is not None and i.limit_probability >= ls


def test_not_tradeable_or_pending_means_nothing() -> None:
    st = make_state("0.40", "0.50")
    st.markets[M].freeze_at = NOW - 1
    assert run(st, {}) == []
    st = make_state("0.40", "0.50")
    st.add_pending(OrderIntent("x", "imm", M, 0, Side.BUY, U))
    assert run(st, {}) == []


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        InventoryMMParams.model_validate({"edge": 5})


def test_confidence_kept_on_the_view_sizes_later_price_events() -> None:
    st = make_state("0.40", "0.50")
    assert st.markets[M].fair_confidence is None
    st.apply(FairValueUpdate(NOW, M, (w("0.50"), w("0.50")), confidence=w("0.2")))
    assert st.markets[M].fair_confidence == w("0.2")
    [i] = run(st, {"max_trade_usdc": 1000})  # a MarketSnapshot: no confidence of its own
    assert i.amount == expected_buy(st, "0.50", "0.1", 1000 * U)
    st.apply(FairValueUpdate(NOW, M, (w("0.50"), w("0.50"))))  # a source that gives none
    assert st.markets[M].fair_confidence is None


def test_winds_down_before_the_freeze() -> None:
    st = make_state("0.40", "0.50", shares=400 * WAD, cost=200 * U)
    st.markets[M].freeze_at = NOW + 1_800  # halfway through the 3,600 s window (flat at 600 s)
    [i] = run(st, {"max_trade_usdc": 1000})
    # cheap, yet nothing bought: 200 of cost over an allowance of 250 * 1200/3000 = 100 sold
    assert i.side is Side.SELL and i.closing
    st.markets[M].freeze_at = NOW + 7_200  # before the window: trades as usual
    assert run(st, {"max_trade_usdc": 1000})[0].side is Side.BUY
