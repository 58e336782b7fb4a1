"""FairGap: a table of (state, event) -> intent, run on the pure decide()."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fair_gap import FairGap, FairGapParams

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.events import FairValueUpdate, MarketSnapshot, RiskDenied, Side
from kashbot.money import WAD

NOW = 1_000.0
PCT = WAD // 100  # one percentage point, in WAD
POOL = amm.seed_pool(1_000 * 10**6, (40 * PCT, 60 * PCT))  # 1,000 USDC, q = (0.40, 0.60)


def state(fair: tuple[int, int], held: int = 0, status: str = "ACTIVE") -> EngineState:
    s = EngineState()
    s.apply(MarketSnapshot(NOW, "m1", status, amm.probabilities(POOL), POOL))
    s.apply(FairValueUpdate(NOW, "m1", fair))
    if held:
        s.set_position("m1", 1, held, 50 * 10**6)  # shares of outcome 1 that cost 50 USDC
    return s


@dataclass
class Case:
    name: str
    fair: tuple[int, int]
    expected: tuple[Side, int] | None  # (side, outcome), or no intent
    held: int = 0
    status: str = "ACTIVE"


CASES = [
    Case("pool at fair: nothing", (40 * PCT, 60 * PCT), None),
    Case("within the edge: nothing", (41 * PCT, 59 * PCT), None),
    Case("outcome 0 cheap: buy it", (50 * PCT, 50 * PCT), (Side.BUY, 0)),
    Case("outcome 1 cheap: buy it", (30 * PCT, 70 * PCT), (Side.BUY, 1)),
    Case("outcome 1 rich and held: sell it", (50 * PCT, 50 * PCT), (Side.SELL, 1), held=100 * WAD),
    Case("market not active: nothing", (50 * PCT, 50 * PCT), None, status="RESOLVED"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decide_table(case: Case) -> None:
    strategy = FairGap(FairGapParams())
    s = state(case.fair, case.held, case.status)
    event = FairValueUpdate(NOW, "m1", case.fair)
    intents = strategy.decide(s, event, strategy.params, NOW)
    assert [(i.side, i.outcome) for i in intents] == ([case.expected] if case.expected else [])
    for intent in intents:
        assert 10_000 <= intent.amount <= 10 * 10**6  # the gate's 0.01 USDC .. trade_usdc
        if intent.side is Side.SELL:  # never asks for more than the held shares pay
            assert intent.amount <= amm.sell(POOL, 1, case.held).payout


def test_a_denial_changes_nothing() -> None:
    strategy = FairGap(FairGapParams())
    denied = RiskDenied(NOW, "i1", "fair_gap", "m1", "BELOW_MINIMUM")
    assert strategy.decide(state((50 * PCT, 50 * PCT)), denied, strategy.params, NOW) == []


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="egde_bps"):
        FairGapParams.model_validate({"egde_bps": 5})
