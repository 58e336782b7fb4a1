"""fair_value: table-driven (state, event) -> exact intents, plus the guard's meaning.

The tables run through the engine, which applies fair_value's protections (cooldown, back-off)
around its pure ``decide``; the pure pieces (``decide``, ``protections.fold``/``admits``) are
checked to give the same intents.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.engine.engine import Engine
from kashbot.engine.protections import (
    EMPTY_BOOK,
    BackOffConfig,
    MarketGuard,
    ProtectionsConfig,
    admits,
    fold,
)
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, build_strategy
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PositionSync,
    RiskDenied,
    Side,
    StaleData,
    TradeUpdate,
)
from kashbot.money import WAD
from kashbot.strategies.fair_value import (
    FairValue,
    FairValueParams,
    buy_limit,
    decide,
    sell_limit,
)

P40 = 400_000_000_000_000_000
P60 = 600_000_000_000_000_000
POOL = amm.seed_pool(1_000 * 10**6, (P40, P60))  # 1,000 USDC, q = (0.40, 0.60)
BUY_LIM = 485_000_000_000_000_000  # 0.5 * 0.99 - 0.01
SELL_LIM = 520_152_025_303_540_456  # ceil(0.5 / 0.99**2) + 0.01
NOW = 100.0
U = 10**6


def snap(pool: amm.Pool | None = POOL, status: str = "ACTIVE", **kw: Any) -> MarketSnapshot:
    probs = amm.probabilities(pool) if pool is not None else (P40, P60)
    return MarketSnapshot(NOW, "m1", status, probs, pool, **kw)


def buy(amount: int, outcome: int = 0, lim: int = BUY_LIM, q: str = "0.4000") -> OrderIntent:
    f = "0.5000"
    return OrderIntent(
        "", "fv", "m1", outcome, Side.BUY, amount, lim, f"q={q} < buy_limit=0.4850 fair={f}"
    )


def sell(amount: int, outcome: int = 1) -> OrderIntent:
    reason = "q=0.6000 > sell_limit=0.5202 fair=0.5000"
    return OrderIntent("", "fv", "m1", outcome, Side.SELL, amount, SELL_LIM, reason, closing=True)


@dataclass
class Case:
    name: str
    expected: list[OrderIntent]
    params: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=lambda: [snap()])
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)  # outcome -> shares, cost
    pending: bool = False
    now: float = NOW


CASES = [
    Case("buy capped by max trade", [buy(25_000_000)]),
    Case("buy sized by exact inversion", [buy(80_175_904)], {"max_trade_usdc": "1000"}),
    Case("inside the band: nothing", [], {"fair": {"m1": ["0.41", "0.59"]}}),
    Case(
        "position headroom caps the buy",
        [buy(10_000_000)],
        positions={0: (10 * WAD, 240_000_000)},
    ),
    Case("headroom under min trade: nothing", [], positions={0: (10 * WAD, 249_500_000)}),
    Case(
        "sell held outcome above sell limit (capped)",
        [sell(25_000_000)],
        positions={1: (50 * WAD, 30_000_000)},
    ),
    Case(
        "sell sized by exact inversion",
        [sell(85_253_482)],
        {"max_trade_usdc": "1000"},
        positions={1: (500 * WAD, 300_000_000)},
    ),
    Case(
        "sell capped by the shares held (exact payout of all of them)",
        [sell(10_696_818)],
        {"max_trade_usdc": "1000"},
        positions={1: (20 * WAD, 12_000_000)},
    ),
    Case(
        "nothing held of the dear outcome: no closing intent, buy the cheap one",
        [buy(25_000_000)],
        positions={1: (0, 30_000_000)},
    ),
    Case(
        "held shares pay under min trade: no sell, buy instead",
        [buy(25_000_000)],
        positions={1: (WAD, 600_000)},
    ),
    Case(
        "a completed sell shrinks what the next sell may offer",
        [sell(3_752_938)],
        {"max_trade_usdc": "1000"},
        events=[
            snap(),
            TradeUpdate(NOW, "t1", "i1", "m1", 1, Side.SELL, 7 * U, "completed", 13 * WAD),
            snap(),
        ],
        positions={1: (20 * WAD, 12_000_000)},
    ),
    Case(
        "the venue says the position is gone: no sell",
        [buy(25_000_000)],
        events=[snap(), PositionSync(NOW, "m1", 1, 0, 0), snap()],
        positions={1: (50 * WAD, 30_000_000)},
    ),
    Case(
        "the venue says less is held: the sell shrinks to it",
        [sell(3_752_938)],
        {"max_trade_usdc": "1000"},
        events=[snap(), PositionSync(NOW, "m1", 1, 7 * WAD, 4_200_000), snap()],
        positions={1: (500 * WAD, 300_000_000)},
    ),
    Case(
        "sell disabled: buy instead",
        [buy(25_000_000)],
        {"sell": False},
        positions={1: (50 * WAD, 1)},
    ),
    Case("pending intent in market: nothing", [], pending=True),
    Case("market not active: nothing", [], events=[snap(status="RESOLVED")]),
    Case("pool unknown: nothing", [], events=[snap(pool=None)]),
    Case("frozen: nothing", [], events=[snap(freeze_at=NOW)]),
    Case("stale: nothing", [], events=[snap(), StaleData(NOW, "stream", "m1", 31.0)]),
    Case(
        "denied recently: cooldown",
        [],
        events=[snap(), RiskDenied(NOW - 1, "x", "fv", "m1", "DAILY_CAP"), snap()],
    ),
    Case(
        "denied long ago: trades again",
        [buy(25_000_000)],
        events=[snap(), RiskDenied(NOW - 10, "x", "fv", "m1", "DAILY_CAP"), snap()],
    ),
    Case(
        "a denial itself decides nothing",
        [],
        events=[snap(), RiskDenied(NOW - 10, "x", "fv", "m1", "DAILY_CAP")],
    ),
    Case("outcome filter excludes 0: nothing", [], {"outcomes": [1]}),
    Case(
        "fair value update overrides config",
        [],
        events=[snap(), FairValueUpdate(NOW, "m1", (P40, P60), "feed")],
    ),
    Case("no fair value at all: nothing", [], {"fair": {}}),
]


def unstamped(intents: list[OrderIntent]) -> list[OrderIntent]:
    """What the strategy returned, before the engine stamped an id and a time on it."""
    return [dataclasses.replace(i, intent_id="", created_ts=0.0) for i in intents]


def through_engine(
    params: FairValueParams, state: EngineState, events: list[Event], clock: SimClock
) -> tuple[list[OrderIntent], Engine]:
    """Feed ``events`` to an engine running fair_value (protections included), moving the clock
    to each event's time when it lies ahead; the intents the last event produced."""
    engine = Engine(clock, state=state, run_id="r")
    engine.add_strategy(FairValue(params, strategy_id="fv"))
    out: list[OrderIntent] = []
    for ev in events:
        if ev.ts > clock.now():
            clock.advance_to(ev.ts)
        out = engine.handle(ev)
    return unstamped(out), engine


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fair_value_table(case: Case) -> None:
    params = FairValueParams.model_validate({"fair": {"m1": ["0.5", "0.5"]}, **case.params})
    state = EngineState()
    for outcome, (shares, cost) in case.positions.items():
        state.set_position("m1", outcome, shares, cost)
    if case.pending:
        state.add_pending(buy(1))
    out, engine = through_engine(params, state, case.events, SimClock(case.now))
    assert out == case.expected
    # the pure decide, filtered by the protections' pure admits, says the same
    guard = engine.protections["fv"]
    last = case.events[-1]
    pure = decide(state, last, params, case.now, "fv")
    book = guard.book
    cfg = guard.config
    assert [i for i in pure if admits(book.get(i.market_id), i, cfg, case.now)] == case.expected


def test_decide_is_pure_and_the_strategy_keeps_no_state() -> None:
    """No on_event override, nothing on the instance beyond the base class's attributes."""
    assert FairValue.on_event is Strategy.on_event
    s = FairValue(FairValueParams(fair={"m1": ["0.5", "0.5"]}), strategy_id="fv")
    assert set(vars(s)) == {"params", "strategy_id", "markets"}
    state = _state()
    before = (dict(state.positions), dict(state.pending), list(state.denials))
    first = s.decide(state, snap(), s.params, NOW)
    assert first == s.decide(state, snap(), s.params, NOW) == [buy(25 * U)]
    assert (dict(state.positions), dict(state.pending), list(state.denials)) == before


@pytest.mark.parametrize("held", [2 * WAD, 7 * WAD + 1, 20 * WAD, 99 * WAD, 164 * WAD, 10**21])
def test_a_sell_never_asks_for_more_tokens_than_held(held: int) -> None:
    """At the pool it decided on, the venue burns at most the shares we hold for the payout."""
    state = _state()
    state.set_position("m1", 1, held, 1)
    params = FairValueParams(fair={"m1": ["0.5", "0.5"]}, max_trade_usdc=Decimal(1000))
    (intent,) = decide(state, snap(), params, NOW, "fv")
    assert intent.side is Side.SELL and intent.closing
    assert amm.tokens_for_payout(POOL, 1, intent.amount) <= held


def test_buy_lands_at_or_below_the_guard_and_one_more_unit_would_pass_it() -> None:
    (intent,) = decide(
        _state(),
        snap(),
        FairValueParams(fair={"m1": ["0.5", "0.5"]}, max_trade_usdc=Decimal(1000)),
        NOW,
        "fv",
    )
    assert intent.limit_probability is not None
    after = amm.buy(POOL, 0, intent.amount).pool
    assert amm.probability(after, 0) <= intent.limit_probability
    assert amm.probability(amm.buy(POOL, 0, intent.amount + 2).pool, 0) > intent.limit_probability


def test_limits_formula() -> None:
    p = FairValueParams(edge_bps=0, protocol_fee_bps=0, amm_sell_fee_bps=0)
    assert buy_limit(WAD // 2, p) == WAD // 2 == sell_limit(WAD // 2, p)
    p = FairValueParams(edge_bps=100)
    assert buy_limit(WAD // 2, p) == BUY_LIM
    assert sell_limit(WAD // 2, p) == SELL_LIM


@pytest.mark.parametrize(
    "fair",
    [["0.5"], ["0", "1"], ["0.5", "0.6"]],
)
def test_params_reject_bad_fair_values(fair: list[str]) -> None:
    with pytest.raises(ValueError, match="m1"):
        FairValueParams.model_validate({"fair": {"m1": fair}})


def test_params_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="egde_bps"):
        FairValueParams.model_validate({"egde_bps": 5})


def test_loaded_by_short_name_and_dotted_path() -> None:
    for spec in (
        "fair_value",
        "kashbot.strategies.fair_value",
        "kashbot.strategies.fair_value:FairValue",
    ):
        s = build_strategy(spec, {"edge_bps": 5}, strategy_id="a", markets=["m1"])
        assert isinstance(s, FairValue)
        assert s.params.edge_bps == 5 and s.markets == frozenset({"m1"})


def _state() -> EngineState:
    s = EngineState()
    s.apply(snap())
    return s


# --- back-off after cap denials -----------------------------------------------------------------


def denied(ts: float, reason: str = "DAILY_CAP", strategy: str = "fv") -> RiskDenied:
    return RiskDenied(ts, f"i{ts}", strategy, "m1", reason)


def snap_at(ts: float) -> MarketSnapshot:
    return dataclasses.replace(snap(), ts=ts)


def done(ts: float, status: str = "completed") -> TradeUpdate:
    return TradeUpdate(ts, f"t{ts}", f"i{ts}", "m1", 0, Side.BUY, 25 * U, status, 10 * WAD)


@dataclass
class BackOffCase:
    name: str
    events: list[Event]  # the last one is a snapshot at the decision time
    expected: list[OrderIntent]
    params: dict[str, Any] = field(default_factory=dict)
    positions: dict[int, tuple[int, int]] = field(default_factory=dict)


# base 10 s, factor 2, max 600 s; the plain cooldown is 5 s
BACK_OFF_CASES = [
    BackOffCase("one cap denial: no buy 9 s later", [denied(100), snap_at(109)], []),
    BackOffCase("one cap denial: buy 10 s later", [denied(100), snap_at(110)], [buy(25 * U)]),
    BackOffCase(
        "second denial in a row doubles the wait",
        [denied(100), denied(110), snap_at(129)],
        [],
    ),
    BackOffCase(
        "second denial in a row: buy 20 s later",
        [denied(100), denied(110), snap_at(130)],
        [buy(25 * U)],
    ),
    BackOffCase(
        "the wait is capped at backoff_max_s",
        [denied(100), denied(110), denied(130), denied(170), snap_at(200)],  # 80 s uncapped
        [buy(25 * U)],
        {"backoff_max_s": 30},
    ),
    BackOffCase(
        "every cap reason backs off",
        [denied(100, r) for r in ("MARKET_EXPOSURE", "TOTAL_EXPOSURE", "PER_TRADE_CAP")]
        + [snap_at(139)],
        [],
    ),
    BackOffCase(
        "other denials keep the plain cooldown only",
        [denied(100, "STALE_DATA"), denied(100, "VENUE_REJECTED"), snap_at(105)],
        [buy(25 * U)],
    ),
    BackOffCase(
        "another strategy's denial is not ours",
        [denied(100, strategy="other"), snap_at(106)],
        [buy(25 * U)],
    ),
    BackOffCase(
        "a completed trade in the market resets the count",
        [denied(100), denied(110), done(111), snap_at(116)],
        [buy(25 * U)],
    ),
    BackOffCase(
        "a failed trade does not reset it",
        [denied(100), denied(110), done(111, "failed"), snap_at(116)],
        [],
    ),
    BackOffCase(
        "sells still go while buys back off",
        [denied(100), snap_at(105)],
        [sell(25 * U)],
        positions={1: (50 * WAD, 30 * U)},
    ),
    BackOffCase(
        "backoff_base_s 0 turns it off",
        [denied(100), denied(106), snap_at(111)],
        [buy(25 * U)],
        {"backoff_base_s": 0},
    ),
]


@pytest.mark.parametrize("case", BACK_OFF_CASES, ids=[c.name for c in BACK_OFF_CASES])
def test_back_off_table(case: BackOffCase) -> None:
    """Pure fold + decide + admits, and the engine driving the strategy, give the same intents."""
    params = FairValueParams.model_validate({"fair": {"m1": ["0.5", "0.5"]}, **case.params})
    state = EngineState()
    for outcome, (shares, cost) in case.positions.items():
        state.set_position("m1", outcome, shares, cost)
    state.apply(snap())
    out, engine = through_engine(params, state, case.events, SimClock(NOW))
    cfg = FairValue.effective_protections(params)
    book = EMPTY_BOOK
    for ev in case.events:
        book = fold(book, ev, "fv", cfg)
    last = case.events[-1]
    pure = decide(state, last, params, last.ts, "fv")
    assert [i for i in pure if admits(book.get("m1"), i, cfg, last.ts)] == case.expected
    assert out == case.expected and engine.protections["fv"].book == book


def test_back_off_records() -> None:
    p = ProtectionsConfig(backoff=BackOffConfig(base_s=10, factor=3, max_s=50))
    book = EMPTY_BOOK
    for ts in (100.0, 110.0, 140.0):
        book = fold(book, denied(ts), "fv", p)
    # 10, 30, then 90 capped at 50
    assert book == {"m1": MarketGuard(cap_denials=3, no_buy_until=140.0 + 50)}
    assert fold(book, denied(150, "STALE_DATA"), "fv", p) is book
    many = book
    for i in range(200):  # a long run stays finite
        many = fold(many, denied(200.0 + i), "fv", p)
    assert many["m1"] == MarketGuard(cap_denials=203, no_buy_until=399.0 + 50)


def test_back_off_params_checked() -> None:
    with pytest.raises(ValueError, match="backoff_max_s"):
        FairValueParams(backoff_base_s=60, backoff_max_s=30)
    with pytest.raises(ValueError, match="max_s"):  # one alias alone, against the default
        FairValue.effective_protections(FairValueParams(backoff_base_s=700))


def test_deprecated_params_set_the_protections() -> None:
    """cooldown_s / backoff_* in params still work (configs written before protections)."""
    assert FairValue.effective_protections(FairValueParams()) == ProtectionsConfig.model_validate(
        {"cooldown": {"seconds": 5}, "backoff": {"base_s": 10, "factor": 2, "max_s": 600}}
    )
    p = FairValueParams(cooldown_s=0.5, backoff_base_s=0, backoff_factor=3, backoff_max_s=60)
    got = FairValue.effective_protections(p)
    assert got.cooldown.seconds == 0.5
    assert (got.backoff.base_s, got.backoff.factor, got.backoff.max_s) == (0, 3, 60)
    yaml_block = ProtectionsConfig.model_validate({"backoff": {"max_s": 30}})
    got = FairValue.effective_protections(FairValueParams(cooldown_s=1), yaml_block)
    assert (got.cooldown.seconds, got.backoff.base_s, got.backoff.max_s) == (1, 10, 30)
    both = ProtectionsConfig.model_validate({"cooldown": {"seconds": 2}})
    with pytest.raises(ValueError, match=r"cooldown_s .* protections\.cooldown\.seconds"):
        FairValue.effective_protections(FairValueParams(cooldown_s=1), both)
