"""consistency: table-driven groups of related markets -> the leg that strays is traded."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import build_strategy
from kashbot.events import FairValueUpdate, MarketSnapshot, OrderIntent, PriceChange, Side
from kashbot.money import WAD
from kashbot.strategies.consistency import (
    Consistency,
    ConsistencyParams,
    group_fair,
    live_legs,
    payout_if_won,
)

U = 10**6
NOW = 100.0


def w(x: str) -> int:
    return int(Decimal(x) * WAD)


def add_market(st: EngineState, market: str, probs: tuple[str, ...], liq: int) -> None:
    pool = amm.seed_pool(liq * U, tuple(w(p) for p in probs), n=len(probs))
    st.apply(MarketSnapshot(NOW, market, "ACTIVE", amm.probabilities(pool), pool))


def run(
    st: EngineState, groups: list[list[str]], event_market: str, **kw: Any
) -> list[OrderIntent]:
    strat = build_strategy(
        "kashbot.strategies.consistency:Consistency", {"groups": groups, **kw}, strategy_id="c"
    )
    assert isinstance(strat, Consistency)
    view = st.markets[event_market]
    ev = PriceChange(NOW, event_market, view.probabilities, view.pool)
    return strat.decide(st, ev, strat.params, NOW)


@dataclass
class Case:
    name: str
    a: tuple[str, ...]  # market A's chances
    b: tuple[str, ...]  # market B's chances
    groups: list[list[str]]
    expect: list[tuple[str, int, Side]]  # (market, outcome, side) per intent
    held: dict[tuple[str, int], int] = field(default_factory=dict)


COMPLEMENT = [["A:0", "B:1"]]
MULTI = [["A:0", "B:0"]]
CASES = [
    Case("coherent complements: nothing", ("0.6", "0.4"), ("0.4", "0.6"), COMPLEMENT, []),
    Case("within fees: nothing", ("0.6", "0.4"), ("0.39", "0.61"), COMPLEMENT, []),
    # A says 0.50, B says 1 - 0.30 = 0.70: buy the event in A and its negation (B yes) in B
    Case(
        "complements apart: buy A yes and B yes",
        ("0.5", "0.5"),
        ("0.3", "0.7"),
        COMPLEMENT,
        [("A", 0, Side.BUY), ("B", 0, Side.BUY)],
    ),
    Case(
        "the other way round: buy B no and A no",
        ("0.7", "0.3"),
        ("0.5", "0.5"),
        COMPLEMENT,
        [("B", 1, Side.BUY), ("A", 1, Side.BUY)],
    ),
    Case(
        "multi leg cheap: buy it, hedge with the binary's no",
        ("0.5", "0.5"),
        ("0.35", "0.35", "0.3"),
        MULTI,
        [("B", 0, Side.BUY), ("A", 1, Side.BUY)],
    ),
    Case(
        "multi leg dear and not held: no unhedged trade",
        ("0.5", "0.5"),
        ("0.65", "0.2", "0.15"),
        MULTI,
        [],
    ),
    Case(
        "multi leg dear and held: buy the binary, sell the multi",
        ("0.5", "0.5"),
        ("0.65", "0.2", "0.15"),
        MULTI,
        [("A", 0, Side.BUY), ("B", 0, Side.SELL)],
        held={("B", 0): 200 * WAD},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_table(case: Case) -> None:
    st = EngineState()
    add_market(st, "A", case.a, 2_000)
    add_market(st, "B", case.b, 2_000)
    for (m, o), shares in case.held.items():
        st.set_position(m, o, shares, 50 * U)
    out = run(st, case.groups, "A")
    assert [(i.market_id, i.outcome, i.side) for i in out] == case.expect
    assert all(U <= i.amount <= 25 * U for i in out)


def test_group_fair_is_the_midpoint() -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 1_000)
    add_market(st, "B", ("0.3", "0.7"), 3_000)
    legs = live_legs(st, ["A:0", "B:1"], NOW)
    assert abs(group_fair(legs) - w("0.6")) < 10**9


def test_pair_is_matched_on_payout_and_stays_within_limits() -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 1_000)
    add_market(st, "B", ("0.3", "0.7"), 3_000)
    one, two = run(st, COMPLEMENT, "B", max_trade_usdc=1_000, kelly_fraction=1)
    wins = []
    for i in (one, two):
        view = st.markets[i.market_id]
        assert view.pool is not None
        after = amm.buy(view.pool, i.outcome, i.amount, view.fees)
        assert amm.probability(after.pool, i.outcome) <= i.limit_probability  # type: ignore[operator]
        wins.append(payout_if_won(view, i.outcome, i.amount))
    # equal to within what one atomic unit of the smaller side's USDC buys
    assert abs(wins[0] - wins[1]) <= max(wins) // 10_000 + 2
    assert one.limit_probability is not None and one.limit_probability <= w("0.6")


def test_a_frozen_leg_leaves_the_group_alone() -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 1_000)
    add_market(st, "B", ("0.3", "0.7"), 3_000)
    st.markets["B"].freeze_at = NOW - 1
    assert run(st, COMPLEMENT, "A") == []


def test_unrelated_market_events_are_ignored() -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 1_000)
    add_market(st, "B", ("0.3", "0.7"), 3_000)
    add_market(st, "C", ("0.5", "0.5"), 1_000)
    assert run(st, COMPLEMENT, "C") == []


@pytest.mark.parametrize("groups", [[["A:0"]], [["A:0", "A:1"]], [["A", "B:1"]], [["A:x", "B:1"]]])
def test_bad_groups_are_rejected(groups: list[list[str]]) -> None:
    with pytest.raises(ValueError, match=r"groups|leg"):
        ConsistencyParams.model_validate({"groups": groups})


def with_fair(st: EngineState, market: str, probs: tuple[str, ...]) -> None:
    st.apply(FairValueUpdate(NOW, market, tuple(w(p) for p in probs)))


@pytest.mark.parametrize(
    ("fair_a", "expect"),
    [
        # a source prices only A at 0.6: B (whose NO is the same event) is priced by it too
        (("0.6", "0.4"), [("A", 0, Side.BUY), ("B", 1, Side.BUY)]),
        # A at 0.4 is then dear (nothing held: buy its NO) and B's NO at 0.5 is dear too
        (("0.4", "0.6"), [("A", 1, Side.BUY), ("B", 0, Side.BUY)]),
        (("0.5", "0.5"), []),
    ],
)
def test_anchored_group_fair_comes_from_the_sources(
    fair_a: tuple[str, ...], expect: list[tuple[str, int, Side]]
) -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 2_000)
    add_market(st, "B", ("0.5", "0.5"), 2_000)
    with_fair(st, "A", fair_a)
    out = run(st, COMPLEMENT, "A")
    assert [(i.market_id, i.outcome, i.side) for i in out] == expect


def test_pools_anchor_ignores_the_sources() -> None:
    st = EngineState()
    add_market(st, "A", ("0.5", "0.5"), 2_000)
    add_market(st, "B", ("0.5", "0.5"), 2_000)
    with_fair(st, "A", ("0.6", "0.4"))
    assert run(st, COMPLEMENT, "A", anchor="pools") == []


def test_net_exposure_limits_buying_both_legs_of_one_event() -> None:
    st = EngineState()
    add_market(st, "A", ("0.40", "0.60"), 2_000)
    add_market(st, "B", ("0.60", "0.40"), 2_000)
    for m in ("A", "B"):  # both legs cheap against a fair of 0.5 for the event
        st.apply(FairValueUpdate(NOW, m, (w("0.50"), w("0.50"))))
    st.set_position("A", 0, 200 * WAD, 90 * U)  # already long the event for 90 USDC
    out = run(st, COMPLEMENT, "A", max_net_usdc=100, max_trade_usdc=25)
    assert sum(i.amount for i in out if i.side is Side.BUY) <= 10 * U  # 100 - 90 of room
    st.markets["A"].freeze_at = NOW + 600  # at flat_by_s: nothing bought, the leg sold
    in_a = [i for i in run(st, COMPLEMENT, "A") if i.market_id == "A"]
    assert [i.side for i in in_a] == [Side.SELL]
