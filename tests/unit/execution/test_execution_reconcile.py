"""Unknown outcomes: what a re-send's answer proves, halts, garbled 2xx, and the reconcile loop.

An unknown outcome (the first POST may have created the trade) is resolved only by a lookup that
finds the trade, a replay under the same key that the venue answered (2xx, or a definite 4xx), or
a complete lookup miss long after the last send. A 429 / 503 to a re-send was refused before the
venue looked at it and proves nothing. The router's reconcile loop keeps trying in the clock's
time and emits the event that clears the strategy's pending intent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exec_fakes import FakeVenue, Step
from exec_rig import Rig, U, buy

from kashbot.client.errors import (
    ApiTradeProcessingHalted,
    DependencyUnavailable,
    KashError,
    MarketNotTradeable,
    RateLimitExceeded,
    RouteDisabled,
)
from kashbot.events import TradingState
from kashbot.money import WAD
from kashbot.store.store import ACCEPTED, APPROVED, DONE, REFUSED, Store


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


NOT_LOOKED_AT = [
    RateLimitExceeded(code="RATE_LIMIT_EXCEEDED", status=429, retry_after=1.0),
    RouteDisabled(code="ROUTE_DISABLED", status=503, retry_after=60.0),
    DependencyUnavailable(code="DEPENDENCY_UNAVAILABLE", status=503, retry_after=30.0),
    ApiTradeProcessingHalted(code="API_TRADE_PROCESSING_HALTED", status=503, retry_after=300.0),
]


@pytest.mark.parametrize("err", NOT_LOOKED_AT, ids=lambda e: e.code)
async def test_a_resend_refused_before_the_venue_looked_keeps_the_reservation(
    store: Store, err: KashError
) -> None:
    # the first POST created t1 but its answer was lost and the trade list lags behind
    venue = FakeVenue(faults=["lost_after_create", err, err, err], unlisted={"t1"})
    r = Rig(store, venue, router_kw={"reconcile_interval_s": None})
    await r.router.recover()
    await r.submit(buy(1))
    assert venue.created_count() == 1
    assert r.executor.unknown_intents == ["i1"]
    assert r.used() == 10 * U  # still held: t1 may exist
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == APPROVED
    assert r.denials() == []
    assert "i1" in r.state.pending
    # the venue answers again: the lookup finds the trade the first POST created
    venue.unlisted.clear()
    assert await r.executor.reconcile_unknown() == 0
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == ACCEPTED and rec.trade_id == "t1"
    assert r.used() == 10 * U and venue.created_count() == 1
    await r.router.close()


async def test_a_definite_4xx_to_a_resend_is_a_refusal(store: Store) -> None:
    err = MarketNotTradeable(code="MARKET_NOT_TRADEABLE", status=409)
    r = Rig(store, FakeVenue(faults=["lost_before_create", err]))
    await r.router.recover()
    await r.submit(buy(1))
    assert r.executor.unknown_intents == []
    assert r.used() == 0
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED
    assert r.denials() == ["MARKET_NOT_TRADEABLE"]
    assert r.state.pending == {}
    await r.router.close()


async def test_a_garbled_2xx_is_reconciled_not_refused(store: Store) -> None:
    venue = FakeVenue(faults=["garbled_2xx"])
    r = Rig(store, venue)
    await r.router.recover()
    await r.submit(buy(1))
    assert venue.created_count() == 1
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == ACCEPTED and rec.trade_id == "t1"
    assert r.used() == 10 * U and (await store.load_spend())[0].committed
    assert r.denials() == [] and r.updates() == ["pending"]
    assert r.gate.consecutive_failures == 0
    await r.router.close()


async def test_no_resend_while_halted_only_lookups(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"])
    r = Rig(store, venue, router_kw={"reconcile_interval_s": None})
    await r.router.recover()
    venue.on_list = lambda: r.gate.halt("operator")  # halted while the answer was lost
    await r.submit(buy(1))
    assert len(venue.calls) == 1  # nothing re-sent
    assert venue.list_calls >= 3  # but looked up
    assert r.executor.unknown_intents == ["i1"] and r.used() == 10 * U
    await r.executor.reconcile_unknown()
    assert len(venue.calls) == 1 and venue.created_count() == 0
    await r.router.close()


async def test_a_halting_answer_to_a_resend_halts_and_stops_resending(store: Store) -> None:
    halt = ApiTradeProcessingHalted(code="API_TRADE_PROCESSING_HALTED", status=503)
    venue = FakeVenue(faults=["lost_before_create", halt])
    r = Rig(store, venue, router_kw={"reconcile_interval_s": None})
    await r.router.recover()
    await r.submit(buy(1))
    assert r.gate.state is TradingState.HALTED
    assert len(venue.calls) == 2  # the first POST and one re-send; none after the halt
    assert r.executor.unknown_intents == ["i1"] and r.used() == 10 * U
    await r.router.close()


# ---- the reconcile loop -------------------------------------------------------------------------


async def test_loop_resolves_an_unknown_outcome_by_replaying(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"] * 4)
    r = Rig(store, venue, router_kw={"reconcile_interval_s": 2.0})
    await r.router.recover()
    await r.submit(buy(1))
    assert r.executor.unknown_intents == ["i1"] and "i1" in r.state.pending
    await r.run_for(2.5)
    assert r.executor.unknown_intents == []
    assert venue.created_count() == 1 and len({c.idempotency_key for c in venue.calls}) == 1
    assert r.updates() == ["pending"]
    assert await r.router.on_trade_update("t1", "completed", tokens_out=WAD)
    assert r.state.pending == {}
    await r.router.close()


async def test_loop_finds_a_trade_the_lookup_missed(store: Store) -> None:
    # the re-sends' answers are lost too, so the executor gives up for now
    faults: list[Step] = ["lost_after_create", *["lost_before_create"] * 3]
    venue = FakeVenue(faults=faults, unlisted={"t1"})
    r = Rig(store, venue, router_kw={"reconcile_interval_s": 5.0})
    await r.router.recover()
    await r.submit(buy(1))
    assert r.executor.unknown_intents == ["i1"]
    venue.unlisted.clear()
    venue.set_status("t1", "completed", tokens_out=WAD)
    await r.run_for(6.0)
    assert r.executor.unknown_intents == []
    assert r.updates("t1") == ["completed"]
    assert r.state.pending == {}
    assert r.state.position("m1", 0).shares == WAD
    await r.router.close()


async def test_loop_declares_a_stale_unsent_intent_not_created(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"] * 10)
    r = Rig(
        store,
        venue,
        router_kw={"reconcile_interval_s": 5.0},
        max_intent_age_s=4.0,
        unknown_settle_s=60.0,
    )
    await r.router.recover()
    await r.submit(buy(1))
    sent = len(venue.calls)
    assert r.executor.unknown_intents == ["i1"]
    await r.run_for(30.0)
    assert len(venue.calls) == sent  # too old to send again; only looked up
    assert r.executor.unknown_intents == ["i1"] and r.used() == 10 * U
    await r.run_for(40.0)  # the last send is now a minute old and the trade list lacks it
    assert r.executor.unknown_intents == []
    assert r.denials() == ["OUTCOME_NOT_FOUND"]
    assert r.state.pending == {} and r.used() == 0
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED
    assert await store.load_spend() == []
    await r.router.close()


async def test_follower_gives_up_then_the_loop_polls_the_trade(store: Store) -> None:
    r = Rig(store, router_kw={"reconcile_interval_s": 20.0}, max_follow_s=100.0)
    await r.router.recover()
    await r.submit(buy(1))
    await r.run_for(150.0)  # no webhook; polls say pending; the follower gives up
    assert r.denials() == ["FOLLOW_TIMEOUT"]
    assert r.state.pending == {}  # the strategy is not blocked
    assert r.router.status()["open_trades"] == [("t1", "i1", "pending")]
    r.venue.set_status("t1", "completed", tokens_out=WAD)
    await r.run_for(25.0)
    assert r.updates("t1") == ["pending", "completed"]
    assert r.state.position("m1", 0).shares == WAD
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == DONE
    assert r.router.status()["open_trades"] == []
    await r.router.close()


async def test_the_loop_stops_with_the_router(store: Store) -> None:
    r = Rig(store, router_kw={"reconcile_interval_s": 1.0})
    await r.router.recover()
    assert r.router.reconcile_task is not None and not r.router.reconcile_task.done()
    await r.router.close()
    assert r.router.reconcile_task is None
