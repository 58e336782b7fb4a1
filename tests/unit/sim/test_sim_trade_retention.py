"""The venue forgets finished trades, their webhook events and used Idempotency-Keys after
``api.trade_retention_s`` (never inside the idempotency window), so a long-running paper
venue's tables stay bounded while recent trades and replays still answer."""

from __future__ import annotations

from typing import Any

import pytest

from kashbot.clock import SimClock
from kashbot.money import USDC_ONE
from kashbot.sim.embedded import prepare_scenario, scenario_dict
from kashbot.sim.errors import SimError
from kashbot.sim.venue import Venue

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"
TTL = 600.0
RETAIN = 1_200.0


def make(**api: Any) -> tuple[Venue, SimClock, str]:
    overrides = {"api": {"idempotency_ttl_s": TTL, "trade_retention_s": RETAIN, **api}}
    clock = SimClock()
    v = Venue(
        prepare_scenario(None, overrides=overrides, noise=False) or scenario_dict(),
        clock=clock,
        seed=0,
    )
    return v, clock, v.find_key("developer").api_key


def settle(v: Venue, clock: SimClock) -> None:
    while (due := v.next_due()) is not None and due <= clock.now() + 5.0:
        clock.advance_to(due)
        v.advance()


def test_tables_stay_bounded_over_many_trades() -> None:
    v, clock, k = make()
    every = 30.0  # one trade each 30 s: RETAIN / every trades at most are remembered
    bound = int(RETAIN / every) + 2
    for i in range(400):
        v.submit_trade(
            k, M2, i % 2, "buy", USDC_ONE, idempotency_key=f"ik-{i}", client_request_id=f"cr-{i}"
        )
        settle(v, clock)
        clock.advance(every)
        v.get_trade(k, v.list_trades(k)[0].id)  # any API call ages the tables
        assert len(v.trades) <= bound
        assert len(v._by_correlation) <= bound and len(v._crids) <= bound
        assert len(v._idem) <= bound and len(v._idem_used) <= bound
        assert len(v._ended_trades) <= bound and len(v._last_event) <= bound
        assert len(v.events) <= 4 * bound
        assert all(len(out) <= 4 * bound for out in v._outbox.values())


def test_recent_trades_and_replays_answer_old_ones_are_forgotten() -> None:
    v, clock, k = make()
    first = v.submit_trade(
        k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1", client_request_id="cr-1"
    )
    settle(v, clock)
    assert first.trade.status == "completed"
    clock.advance(TTL - 1.0)  # inside the idempotency window: replays find the trade
    again = v.submit_trade(k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1")
    assert again.replay and again.trade is first.trade
    assert v.submit_trade(k, M2, 0, "buy", USDC_ONE, client_request_id="cr-1").replay
    assert v.get_trade(k, first.trade.id) is first.trade
    clock.advance(2.0)  # past the TTL, inside the retention: the key is gone (410)
    with pytest.raises(SimError) as err:
        v.submit_trade(k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1")
    assert err.value.code == "IDEMPOTENCY_KEY_EXPIRED"
    assert v.get_trade(k, first.trade.id) is first.trade
    clock.advance(RETAIN)  # past the retention: forgotten
    with pytest.raises(SimError) as err:
        v.get_trade(k, first.trade.id)
    assert err.value.code == "RESOURCE_NOT_FOUND"
    assert first.trade.id not in v._last_event
    assert all(e.trade_id != first.trade.id for e in v.events.values())
    fresh = v.submit_trade(k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1")
    assert not fresh.replay and fresh.trade.id != first.trade.id


def test_retention_never_shorter_than_the_idempotency_window() -> None:
    v, clock, k = make(trade_retention_s=1.0)
    assert v.retention_s == TTL
    first = v.submit_trade(k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1")
    settle(v, clock)
    clock.advance(TTL - 1.0)
    assert v.submit_trade(k, M2, 0, "buy", USDC_ONE, idempotency_key="ik-1").trade is first.trade


def test_open_trades_are_kept() -> None:
    v, clock, k = make()
    sub = v.submit_trade(k, M2, 0, "buy", USDC_ONE)
    clock.advance(10 * RETAIN)
    v._forget_old(clock.now())  # ages the tables without running the trade's steps
    assert sub.trade.status == "pending" and sub.trade.id in v.trades
    with pytest.raises(SimError):  # runs it: it ended long ago, at its scheduled time
        v.get_trade(k, sub.trade.id)
    assert sub.trade.status == "completed" and sub.trade.id not in v.trades
