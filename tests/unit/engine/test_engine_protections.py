"""Protections: the engine holds a strategy's intents back per market (cooldown, back-off,
pause), outside its pure ``decide``, for any strategy; configured in YAML."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.engine.engine import Engine
from kashbot.engine.protections import (
    EMPTY_BOOK,
    MarketGuard,
    ProtectionsConfig,
    admits,
    fold,
)
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, OrderIntent, PriceChange, RiskDenied, Side, TradeUpdate
from kashbot.money import WAD

POOL = amm.seed_pool(1_000 * 10**6)
U = 10**6


class BuyAndSell(Strategy[StrategyParams]):
    """On every price change: a buy and a sell in that market (a stand-in for any strategy)."""

    name: ClassVar[str] = "buy_and_sell"
    handles = (PriceChange,)

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        assert isinstance(event, PriceChange)
        m = event.market_id
        return [
            OrderIntent("", "", m, 0, Side.BUY, U),
            OrderIntent("", "", m, 1, Side.SELL, U, closing=True),
        ]


def price(ts: float, market: str = "m1") -> PriceChange:
    return PriceChange(ts, market, amm.probabilities(POOL), POOL)


def denied(ts: float, reason: str = "DAILY_CAP", market: str = "m1", strategy: str = "s") -> Event:
    return RiskDenied(ts, f"i{ts}", strategy, market, reason)


def trade(ts: float, intent_id: str, status: str, market: str = "m1") -> TradeUpdate:
    return TradeUpdate(ts, f"t{ts}", intent_id, market, 0, Side.BUY, U, status, WAD)


def engine_with(protections: dict[str, Any] | None) -> tuple[Engine, SimClock]:
    clock = SimClock(0.0)
    engine = Engine(clock, run_id="r")
    cfg = None if protections is None else ProtectionsConfig.model_validate(protections)
    engine.add_strategy(BuyAndSell(StrategyParams(), strategy_id="s"), protections=cfg)
    return engine, clock


def sides(engine: Engine, clock: SimClock, ev: Event) -> list[tuple[str, str]]:
    clock.advance_to(max(clock.now(), ev.ts))
    return [(i.market_id, i.side.value) for i in engine.handle(ev)]


BOTH = [("m1", "buy"), ("m1", "sell")]


def test_off_by_default_for_a_strategy_that_declares_none() -> None:
    engine, clock = engine_with(None)
    assert engine.protections == {}
    sides(engine, clock, denied(1.0))
    assert sides(engine, clock, price(1.5)) == BOTH


def test_cooldown_holds_every_intent_in_the_denied_market_only() -> None:
    engine, clock = engine_with({"cooldown": {"seconds": 5}})
    sides(engine, clock, denied(10.0, "STALE_DATA"))
    assert sides(engine, clock, price(14.9)) == []
    assert sides(engine, clock, price(14.9, "m2")) == [("m2", "buy"), ("m2", "sell")]
    assert sides(engine, clock, price(15.0)) == BOTH
    assert engine.protections["s"].suppressed == 2


def test_another_strategys_denial_is_not_ours() -> None:
    engine, clock = engine_with({"cooldown": {"seconds": 5}})
    sides(engine, clock, denied(10.0, strategy="other"))
    assert sides(engine, clock, price(11.0)) == BOTH


def test_back_off_holds_buys_only_and_a_completed_trade_resets_it() -> None:
    engine, clock = engine_with({"backoff": {"base_s": 10, "factor": 2}})
    sides(engine, clock, denied(0.0))
    sides(engine, clock, denied(10.0))  # second in a row: 20 s
    assert sides(engine, clock, price(29.0)) == [("m1", "sell")]
    assert sides(engine, clock, price(30.0)) == BOTH
    sides(engine, clock, denied(31.0))  # third: 40 s
    assert sides(engine, clock, price(32.0)) == [("m1", "sell")]
    sides(engine, clock, trade(33.0, "x", "completed"))
    assert sides(engine, clock, price(33.0)) == BOTH
    sides(engine, clock, denied(34.0))  # the count starts again: 10 s
    assert sides(engine, clock, price(44.0)) == BOTH


def test_back_off_reasons_are_configurable() -> None:
    engine, clock = engine_with({"backoff": {"base_s": 10, "reasons": ["VENUE_REJECTED"]}})
    sides(engine, clock, denied(0.0, "DAILY_CAP"))
    assert sides(engine, clock, price(1.0)) == BOTH
    sides(engine, clock, denied(2.0, "VENUE_REJECTED"))
    assert sides(engine, clock, price(3.0)) == [("m1", "sell")]


def test_pause_after_denials_in_a_window() -> None:
    engine, clock = engine_with({"pause": {"after": 3, "window_s": 60, "pause_s": 300}})
    for ts in (0.0, 30.0, 61.0):  # the first has left the window when the third comes
        sides(engine, clock, denied(ts, "STALE_DATA"))
    assert sides(engine, clock, price(62.0)) == BOTH
    sides(engine, clock, denied(70.0, "STALE_DATA"))  # 30, 61, 70: three within 60 s
    assert sides(engine, clock, price(71.0)) == []
    assert sides(engine, clock, price(369.9)) == []
    assert sides(engine, clock, price(370.0)) == BOTH
    assert engine.protections["s"].guard("m1") == MarketGuard(paused_until=370.0)


def test_pause_counts_failed_trades_of_our_own_intents() -> None:
    engine, clock = engine_with({"pause": {"after": 2, "window_s": 60, "pause_s": 100}})
    own = [i.intent_id for i in engine.handle(price(0.0))]
    sides(engine, clock, trade(1.0, "someone-else", "failed"))  # not one of ours
    sides(engine, clock, trade(2.0, own[0], "failed"))
    assert sides(engine, clock, price(3.0)) == BOTH
    sides(engine, clock, trade(4.0, own[1], "rejected"))
    assert sides(engine, clock, price(5.0)) == []
    assert sides(engine, clock, price(104.0)) == BOTH


def test_fold_and_admits_are_pure() -> None:
    cfg = ProtectionsConfig.model_validate({"cooldown": {"seconds": 5}})
    book = fold(EMPTY_BOOK, denied(10.0), "s", cfg)
    assert book == {"m1": MarketGuard(denied_at=10.0)} and EMPTY_BOOK == {}
    assert fold(book, denied(11.0, strategy="x"), "s", cfg) is book
    assert fold(book, trade(12.0, "i", "completed"), "s", cfg) is book
    buy = OrderIntent("", "s", "m1", 0, Side.BUY, U)
    assert not admits(book["m1"], buy, cfg, 14.9)
    assert admits(book["m1"], buy, cfg, 15.0) and admits(None, buy, cfg, 10.0)


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"cooldown": {"seconds": -1}}, "greater than or equal to 0"),
        ({"backoff": {"base_s": 60, "max_s": 30}}, "max_s (30) must be >= base_s (60)"),
        ({"pause": {"after": 2, "window_s": 0}}, "greater than 0"),
        ({"cooldwn": {"seconds": 1}}, "Extra inputs"),
    ],
)
def test_protections_config_is_checked(block: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ProtectionsConfig.model_validate(block)
    assert words in str(exc.value)


def test_engine_constructor_and_add_strategy_stay_compatible() -> None:
    engine = Engine(SimClock(0.0))
    engine.add_strategy(BuyAndSell(StrategyParams(), strategy_id="a"))
    engine.add_strategy(BuyAndSell(StrategyParams(), strategy_id="b"), timers=None)
    assert [i.strategy for i in engine.handle(price(0.0))] == ["a", "a", "b", "b"]
    assert dataclasses.fields(MarketGuard)  # frozen state records
