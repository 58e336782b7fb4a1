"""The engine state's dedupe sets and intent->trade map do not grow with a daemon's uptime."""

from __future__ import annotations

import pytest

from kashbot.engine.recent_ids import RecentIds
from kashbot.engine.state import APPLIED_TRADES, REPLAYED_IDS, EngineState
from kashbot.events import PredictionSeen, Side, TradeUpdate

M = "m1"


def _update(i: int, status: str) -> TradeUpdate:
    return TradeUpdate(
        ts=float(i),
        trade_id=f"t{i}",
        intent_id=f"i{i}",
        market_id=M,
        outcome=0,
        side=Side.BUY,
        amount=1_000_000,
        status=status,
        tokens=10**18,
    )


def test_recent_ids_stays_at_its_cap_and_forgets_the_oldest() -> None:
    ids = RecentIds(3)
    for i in range(100):
        ids.add(str(i))
        ids.add(str(i))  # a repeat is not a second entry
    assert len(ids) == 3
    assert "99" in ids and "97" in ids and "96" not in ids and "0" not in ids
    with pytest.raises(ValueError, match="cap"):
        RecentIds(0)


def test_applied_trades_capped_and_trade_of_intent_emptied_at_the_end() -> None:
    state = EngineState()
    n = APPLIED_TRADES + 500
    for i in range(n):
        state.apply(_update(i, "pending"))
        state.apply(_update(i, "completed"))
    assert len(state._applied_trades) == APPLIED_TRADES
    assert state.trade_of_intent == {}  # every trade ended
    assert state.fills.total == n  # each completed trade booked once (the window keeps fewer)
    state.apply(_update(n - 1, "completed"))  # a second report of a recent one: not re-applied
    assert state.fills.total == n


def test_trade_of_intent_holds_open_trades() -> None:
    state = EngineState()
    state.apply(_update(1, "pending"))
    assert state.trade_of_intent == {"i1": "t1"}
    state.apply(_update(1, "failed"))
    assert state.trade_of_intent == {}


def test_replayed_prediction_ids_capped() -> None:
    state = EngineState()
    for i in range(REPLAYED_IDS + 300):
        state.apply(
            PredictionSeen(float(i), M, f"p{i}", 0, Side.BUY, 1_000_000, 10**18, 5 * 10**17)
        )
    assert len(state._replayed) == REPLAYED_IDS
