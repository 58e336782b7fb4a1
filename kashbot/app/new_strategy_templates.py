"""The files ``kashbot new-strategy NAME`` writes, as ``str.format`` templates.

Placeholders: ``{module}`` (NAME) and ``{cls}`` (NAME in CamelCase); literal braces are
doubled. docs/strategies.md walks through the
strategy module line by line; a test checks the tutorial and this template agree.
"""

STRATEGY = '''\
"""{cls}: buy an outcome the pool prices below fair, sell it back once the pool prices it above.

All chances are WAD ints (1e18 = 100 %), all amounts USDC atomic ints (1e6 = 1 USDC). With
``f`` the fair chance of outcome ``i`` (the latest ``FairValueUpdate``), ``q`` the pool's
chance and ``e = edge_bps`` (bps of probability):

* sell ``i`` (held) when ``q > f + e``: burn ``min(sell_tokens_to_reach(pool, i, f + e),
  shares)`` and ask for what that sale pays (``amm.sell(...).payout``, fees off), at most
  ``trade_usdc`` (the venue then burns only the shares that amount needs);
* else buy ``i`` when ``q < f - e``: spend ``min(buy_amount_to_reach(pool, i, f - e),
  trade_usdc, max_position_usdc - cost)``;
* nothing under ``min_trade_usdc`` (the risk gate denies below 0.01 USDC: BELOW_MINIMUM), while
  an intent of ours is pending in the market, or when the market is not tradeable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from kashbot import amm
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PriceChange,
    RiskDenied,
    Side,
)
from kashbot.money import WAD, usdc_to_atomic, wad_to_decimal
from kashbot.units import UsdcDecimal  # a Decimal with at most 6 places

BPS = 10_000


class {cls}Params(StrategyParams):  # frozen; unknown keys are config errors
    edge_bps: int = Field(200, ge=0, le=5_000, description="distance from fair, bps")
    trade_usdc: UsdcDecimal = Field(Decimal("10"), gt=0, description="most USDC per intent")
    min_trade_usdc: UsdcDecimal = Field(Decimal("0.5"), ge=Decimal("0.01"))
    max_position_usdc: UsdcDecimal = Field(Decimal("100"), gt=0, description="cost per outcome")


class {cls}(Strategy[{cls}Params]):
    name: ClassVar[str] = "{module}"
    Params = {cls}Params
    # only these events reach decide(); RiskDenied is here so the table test can show a denial
    # changes nothing (waiting after one is the protections' job, set in YAML)
    handles = (MarketSnapshot, PriceChange, FairValueUpdate, RiskDenied)

    def decide(
        self, state: EngineState, event: Event, params: {cls}Params, now: float
    ) -> list[OrderIntent]:
        if not isinstance(event, MarketSnapshot | PriceChange | FairValueUpdate):
            return []  # a RiskDenied: event.reason is BELOW_MINIMUM, DAILY_CAP, ...
        view = state.markets.get(event.market_id)
        if view is None or view.pool is None or view.fair is None or not view.tradeable(now):
            return []
        if state.has_pending(self.strategy_id, view.market_id):
            return []  # one intent at a time per market
        pool, fees, edge = view.pool, view.fees, params.edge_bps * (WAD // BPS)
        least = usdc_to_atomic(params.min_trade_usdc)
        for i, (f, q) in enumerate(zip(view.fair, view.probabilities, strict=False)):
            held = state.position(view.market_id, i)
            if held.shares > 0 and q > f + edge:  # sell back toward fair
                most = min(held.shares, pool.supplies[i] - 1)  # the pool keeps one token
                tokens = min(amm.sell_tokens_to_reach(pool, i, f + edge), most)
                payout = amm.sell(pool, i, tokens, fees).payout if tokens > 0 else 0
                payout = min(payout, usdc_to_atomic(params.trade_usdc))
                if payout >= least:
                    return [self._intent(view.market_id, i, Side.SELL, payout, f + edge, q, f)]
        for i, (f, q) in enumerate(zip(view.fair, view.probabilities, strict=False)):
            if q < f - edge:  # buy toward fair, within the position cap
                room = usdc_to_atomic(params.max_position_usdc)
                room -= state.position(view.market_id, i).cost
                cap = min(usdc_to_atomic(params.trade_usdc), room)
                if cap < least:
                    continue
                amount = min(amm.buy_amount_to_reach(pool, i, f - edge, fees), cap)
                if amount >= least:
                    return [self._intent(view.market_id, i, Side.BUY, amount, f - edge, q, f)]
        return []

    def _intent(
        self, market_id: str, i: int, side: Side, amount: int, limit: int, q: int, f: int
    ) -> OrderIntent:
        """Leave intent_id, strategy and created_ts empty: the engine stamps them."""
        return OrderIntent(
            intent_id="",
            strategy="",
            market_id=market_id,
            outcome=i,
            side=side,
            amount=amount,  # buy: USDC to spend; sell: USDC to receive
            limit_probability=limit,  # the guard: the pool must not move past it
            reason=f"q={{wad_to_decimal(q):.4f}} fair={{wad_to_decimal(f):.4f}}",
            closing=side is Side.SELL,
        )


STRATEGY = {cls}
'''

TEST = '''\
"""{cls}: a table of (state, event) -> intent, run on the pure decide()."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from {module} import {cls}, {cls}Params

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
    strategy = {cls}({cls}Params())
    s = state(case.fair, case.held, case.status)
    event = FairValueUpdate(NOW, "m1", case.fair)
    intents = strategy.decide(s, event, strategy.params, NOW)
    assert [(i.side, i.outcome) for i in intents] == ([case.expected] if case.expected else [])
    for intent in intents:
        assert 10_000 <= intent.amount <= 10 * 10**6  # the gate's 0.01 USDC .. trade_usdc
        if intent.side is Side.SELL:  # never asks for more than the held shares pay
            assert intent.amount <= amm.sell(POOL, 1, case.held).payout


def test_a_denial_changes_nothing() -> None:
    strategy = {cls}({cls}Params())
    denied = RiskDenied(NOW, "i1", "{module}", "m1", "BELOW_MINIMUM")
    assert strategy.decide(state((50 * PCT, 50 * PCT)), denied, strategy.params, NOW) == []


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="egde_bps"):
        {cls}Params.model_validate({{"egde_bps": 5}})
'''

_COMMON = """\
risk:
  per_trade_cap_usdc: 50
  daily_cap_usdc: 2000
  max_market_exposure_usdc: 400
  max_total_exposure_usdc: 1500
  confirm_ceiling_usdc: 0       # the gate also denies any intent under 0.01 USDC: BELOW_MINIMUM

sources:
  sim_truth:
    enabled: true               # fair values = the simulator's hidden truth
    interval_s: 5

markets: all

strategies:
  - name: {module}:{cls}        # module {module}.py beside this file (no PYTHONPATH needed)
    id: {module}
    params:
      edge_bps: 200
      trade_usdc: 10
      min_trade_usdc: 0.5
      max_position_usdc: 100
    protections:                # applied by the engine around decide() (docs/strategies.md)
      cooldown: {{seconds: 5}}    # no intent in a market for 5 s after a denial there
      pause: {{after: 3, window_s: 60, pause_s: 300}}
"""

BACKTEST = (
    """\
# kashbot backtest {module}.backtest.yaml --scenario {module}.scenario.yaml --out out/{module}
venue:
  mode: paper
  sim:
    key_tier: developer

"""
    + _COMMON
    + """
store:
  path: ":memory:"

backtest:
  duration_s: 3600              # one simulated hour
  plots: false
"""
)

PAPER = (
    """\
# kashbot run {module}.paper.yaml --duration 60     (paper trading on the embedded simulator)
venue:
  mode: paper
  sim:
    scenario: null              # null = the simulator's default ({module}.scenario.yaml's copy)
    key_tier: developer

"""
    + _COMMON
    + """
store:
  path: var/{module}/run-{{run}}.sqlite

status:
  enabled: false                # true: the live terminal view

control:
  port: 0                       # any free port (8788: where `kashbot status` looks)
"""
)
