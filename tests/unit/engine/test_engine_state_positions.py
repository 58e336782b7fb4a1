"""EngineState: sells shrink positions (never below zero), PositionSync overwrites from the venue,
and observed trades are replayed on the pool only when no newer pool makes that unnecessary."""

from __future__ import annotations

from typing import Any

import pytest

from kashbot import amm
from kashbot.engine import state as state_mod
from kashbot.engine.state import EngineState
from kashbot.events import (
    MarketSnapshot,
    PositionSync,
    PredictionSeen,
    PriceChange,
    Side,
    TradeUpdate,
)
from kashbot.money import WAD

POOL = amm.seed_pool(1_000 * 10**6, n=3)
U = 10**6


def sell(trade_id: str, amount: int, tokens: int | None, ts: float = 1.0) -> TradeUpdate:
    return TradeUpdate(
        ts, trade_id, f"i-{trade_id}", "m1", 0, Side.SELL, amount, "completed", tokens
    )


@pytest.mark.parametrize(
    ("held", "cost", "sold", "amount", "shares_after", "cost_after", "fill_tokens", "realized"),
    [
        (10 * WAD, 6 * U, 4 * WAD, 2 * U, 6 * WAD, 3_600_000, 4 * WAD, -400_000),
        (10 * WAD, 6 * U, 10 * WAD, 7 * U, 0, 0, 10 * WAD, 1 * U),
        (2 * WAD, 6 * U, 5 * WAD, 3 * U, 0, 0, 2 * WAD, -3 * U),  # more than held: clamp at 0
        (0, 0, 1 * WAD, 1 * U, 0, 0, 0, 1 * U),  # nothing held: the position stays empty
    ],
)
def test_sell_with_known_tokens(
    held: int,
    cost: int,
    sold: int,
    amount: int,
    shares_after: int,
    cost_after: int,
    fill_tokens: int,
    realized: int,
) -> None:
    state = EngineState()
    state.set_position("m1", 0, held, cost)
    state.apply(sell("t1", amount, sold))
    state.apply(sell("t1", amount, sold))  # webhook + poll: applied once
    pos = state.position("m1", 0)
    assert (pos.shares, pos.cost) == (shares_after, cost_after)
    assert [f.tokens for f in state.fills] == [fill_tokens]
    assert state.realized == realized and state.cash_flow == amount


def test_sync_overwrites_without_a_fill() -> None:
    state = EngineState()
    state.set_position("m1", 0, 10 * WAD, 6 * U)
    state.apply(PositionSync(1.0, "m1", 0, 3 * WAD, 1_800_000))
    pos = state.position("m1", 0)
    assert (pos.shares, pos.cost) == (3 * WAD, 1_800_000)
    assert state.fills == [] and state.realized == 0 and state.cash_flow == 0


def test_sync_then_tokenless_sell_books_the_difference_once() -> None:
    state = EngineState()
    state.set_position("m1", 0, 10 * WAD, 6 * U)
    state.apply(PositionSync(1.0, "m1", 0, 7 * WAD, 4_200_000, trade_id="t1"))
    state.apply(sell("t1", 2 * U, None))
    state.apply(sell("t1", 2 * U, None))
    pos = state.position("m1", 0)
    assert (pos.shares, pos.cost) == (7 * WAD, 4_200_000)
    assert [f.tokens for f in state.fills] == [3 * WAD]
    assert state.realized == 2 * U - 1_800_000


def test_sync_for_an_already_applied_sell_only_overwrites() -> None:
    state = EngineState()
    state.set_position("m1", 0, 10 * WAD, 6 * U)
    state.apply(sell("t1", 2 * U, 4 * WAD))
    state.apply(PositionSync(2.0, "m1", 0, 5 * WAD, 3 * U, trade_id="t1"))
    assert state.position("m1", 0).shares == 5 * WAD
    assert [f.tokens for f in state.fills] == [4 * WAD]
    assert state.realized == 2 * U - 2_400_000


def test_tokenless_sell_without_a_sync_leaves_the_position() -> None:
    """The venue could not be asked: keep what we had rather than guess."""
    state = EngineState()
    state.set_position("m1", 0, 10 * WAD, 6 * U)
    state.apply(sell("t1", 2 * U, None))
    assert state.position("m1", 0).shares == 10 * WAD
    assert state.cash_flow == 2 * U


def test_sync_never_stores_negative_numbers() -> None:
    state = EngineState()
    state.apply(PositionSync(1.0, "m1", 0, -5, -7))
    pos = state.position("m1", 0)
    assert (pos.shares, pos.cost) == (0, 0)


# ---- the pool replay ----------------------------------------------------------------------


def _count_amm(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    calls = {"buy": 0, "sell": 0}

    def counting(name: str) -> Any:
        real = getattr(amm, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(state_mod.amm, "buy", counting("buy"))
    monkeypatch.setattr(state_mod.amm, "sell", counting("sell"))
    return calls


def _trades() -> tuple[list[PredictionSeen], amm.Pool]:
    """A buy then a sell on outcome 1, as the venue reports them, and the pool after both."""
    b = amm.buy(POOL, 1, 40 * U)
    s = amm.sell(b.pool, 1, b.tokens_out // 3)
    return [
        PredictionSeen(
            1.0, "m1", "p1", 1, Side.BUY, 40 * U, b.tokens_out, amm.probability(b.pool, 1)
        ),
        PredictionSeen(
            2.0, "m1", "p2", 1, Side.SELL, s.payout, b.tokens_out // 3, amm.probability(s.pool, 1)
        ),
    ], s.pool


def test_a_pool_carrying_price_change_makes_the_replay_unnecessary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trades, after = _trades()
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    calls = _count_amm(monkeypatch)
    for ev in trades:
        state.apply(ev)
        state.apply(PriceChange(ev.ts, "m1", amm.probabilities(after), after))
    assert calls == {"buy": 0, "sell": 0}
    assert state.markets["m1"].pool == after


def test_without_a_pool_the_replay_happens_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    trades, after = _trades()
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    calls = _count_amm(monkeypatch)
    for ev in trades:
        state.apply(ev)
    assert calls == {"buy": 0, "sell": 0}  # nothing read yet
    view = state.markets["m1"]
    assert view.pool == after
    assert view.probabilities == amm.probabilities(after)
    assert view.updated_ts == 2.0
    assert calls == {"buy": 1, "sell": 1}
    assert view.pool == after and calls == {"buy": 1, "sell": 1}  # replayed once


def test_a_poolless_price_change_checks_the_replayed_pool() -> None:
    trades, after = _trades()
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    for ev in trades:
        state.apply(ev)
    state.apply(PriceChange(3.0, "m1", amm.probabilities(after)))  # the stream: chances only
    assert state.markets["m1"].pool == after
    state.apply(trades[0])  # a duplicate of an observed trade is not replayed again
    assert state.markets["m1"].pool == after


def test_long_lag_is_replayed_eagerly() -> None:
    state = EngineState()
    state.apply(MarketSnapshot(0.0, "m1", "ACTIVE", amm.probabilities(POOL), POOL))
    pool = POOL
    for n in range(state_mod.MAX_LAG + 1):
        b = amm.buy(pool, n % 3, U)
        pool = b.pool
        p = amm.probability(pool, n % 3)
        state.apply(PredictionSeen(float(n), "m1", f"p{n}", n % 3, Side.BUY, U, b.tokens_out, p))
    view = state.markets["m1"]
    assert view._lag == []  # bounded memory: replayed once the lag passed MAX_LAG
    assert view.pool == pool
