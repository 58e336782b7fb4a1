"""Executor and router against an in-process fake venue: 201, 202, lost responses, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from exec_fakes import FakeVenue

from kashbot.client.errors import (
    InternalError,
    SpendingLimitExceeded,
    WalletDelegationNotEnabled,
)
from kashbot.client.models import Position
from kashbot.clock import SimClock
from kashbot.events import Event, OrderIntent, RiskDenied, Side, TradeUpdate, TradingState
from kashbot.execution.executor import ExecutionSettings, Executor, TradeNotHeld
from kashbot.execution.router import OrderRouter
from kashbot.money import USDC_ONE, WAD
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import ABANDONED, ACCEPTED, APPROVED, DONE, REFUSED, IntentRecord, Store

U = USDC_ONE


class Rig:
    def __init__(self, store: Store, venue: FakeVenue, limits: Limits, clock: SimClock) -> None:
        self.events: list[Event] = []
        self.clock = clock
        self.store = store
        self.venue = venue
        self.gate = RiskGate(limits, clock=clock, emit=self.events.append)
        self.executor = Executor(
            venue,
            self.gate,
            store,
            clock=clock,
            emit=self.events.append,
            settings=ExecutionSettings(
                poll_after_s=30.0, poll_interval_s=10.0, reconcile_backoff_s=0.5
            ),
        )
        self.router = OrderRouter(
            self.gate, venue, store, emit=self.events.append, clock=clock, executor=self.executor
        )

    def updates(self) -> list[str]:
        return [e.status for e in self.events if isinstance(e, TradeUpdate)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "bot.db")
    yield s
    await s.close()


async def rig(
    store: Store,
    venue: FakeVenue | None = None,
    limits: Limits | None = None,
    clock: SimClock | None = None,
) -> Rig:
    r = Rig(store, venue or FakeVenue(), limits or Limits.for_tier("free"), clock or SimClock())
    await r.router.recover()
    return r


def buy(n: int, amount: int = 10 * U, side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(f"i{n}", "strat", "m1", 0, side, amount)


async def settle_tasks() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def until(cond: Callable[[], bool]) -> None:
    """Let background tasks (and aiosqlite's thread) run until ``cond`` holds."""
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_201_then_webhook_completes(store: Store) -> None:
    r = await rig(store)
    a = await r.router.submit(buy(1))
    assert isinstance(a, Approval)
    (call,) = r.venue.calls
    assert call.idempotency_key == a.idempotency_key and call.client_request_id == "i1"
    assert call.body[3] == "10"  # USDC decimal string on the wire
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == ACCEPTED and rec.trade_id == "t1"
    assert (await store.load_spend())[0].committed
    assert await r.router.on_trade_update("t1", "executing")
    assert not await r.router.on_trade_update("t1", "pending")  # stale, ignored
    assert await r.router.on_trade_update("t1", "completed", tokens_out=5 * WAD)
    assert not await r.router.on_trade_update("t1", "completed")  # duplicate webhook
    assert r.updates() == ["pending", "executing", "completed"]
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == DONE
    assert r.gate.market_exposure("m1") == 10 * U
    assert r.gate.ledger.used(r.clock.now()) == 10 * U
    await r.router.close()


async def test_202_auto_confirm(store: Store) -> None:
    venue = FakeVenue(confirm_threshold=Decimal(25_000))
    limits = Limits.for_tier("enterprise", auto_confirm_ceiling=30_000 * U)
    r = await rig(store, venue, limits)
    await r.router.submit(buy(1, 25_000 * U))
    assert venue.confirms == ["t1"]
    assert r.updates() == ["pending_confirmation", "pending"]
    assert r.executor.held_trades() == []
    await r.router.close()


async def test_202_above_ceiling_is_held_with_an_alert(store: Store) -> None:
    venue = FakeVenue(confirm_threshold=Decimal(25_000))
    limits = Limits.for_tier("enterprise", auto_confirm_ceiling=1_000 * U)
    r = await rig(store, venue, limits)
    with structlog.testing.capture_logs() as logs:
        await r.router.submit(buy(1, 25_000 * U))
    assert venue.confirms == []
    assert r.executor.held_trades() == ["t1"]
    assert any(e["event"] == "trade_held_for_confirmation" and e.get("alert") for e in logs)
    assert await r.router.confirm_held("t1") == "pending"
    assert venue.confirms == ["t1"]
    with pytest.raises(TradeNotHeld):
        await r.router.confirm_held("t1")  # token is single-use
    await r.router.close()


async def test_outcome_unknown_found_by_client_request_id_is_not_resent(store: Store) -> None:
    venue = FakeVenue(faults=["lost_after_create"])
    r = await rig(store, venue)
    a = await r.router.submit(buy(1))
    assert isinstance(a, Approval)
    assert len(venue.calls) == 1 and venue.created_count() == 1
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == ACCEPTED and rec.trade_id == "t1"
    await r.router.close()


async def test_outcome_unknown_not_found_replays_with_the_same_key(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"])
    r = await rig(store, venue)
    a = await r.router.submit(buy(1))
    assert isinstance(a, Approval)
    assert [c.idempotency_key for c in venue.calls] == [a.idempotency_key] * 2
    assert venue.calls[0].body == venue.calls[1].body
    assert venue.created_count() == 1
    await r.router.close()


async def test_outcome_still_unknown_keeps_the_reservation(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"] * 4)
    r = await rig(store, venue)
    # the loop below moves time on while the store writes
    r.executor.settings = replace(r.executor.settings, max_intent_age_s=None)
    task = asyncio.create_task(r.router.submit(buy(1)))
    while not task.done():  # drive the reconcile backoff in virtual time
        await settle_tasks()
        r.clock.advance(1.0)
    assert r.executor.unknown_intents == ["i1"]
    assert r.gate.ledger.used(r.clock.now()) == 10 * U
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == APPROVED
    assert await r.executor.reconcile_unknown() == 0  # venue healthy again
    assert venue.created_count() == 1
    assert len({c.idempotency_key for c in venue.calls}) == 1
    await r.router.close()


async def test_cap_409_releases_and_reduces(store: Store) -> None:
    err = SpendingLimitExceeded(
        code="SPENDING_LIMIT_EXCEEDED", status=409, problem={"cap": "daily_volume"}
    )
    r = await rig(store, FakeVenue(errors=[err]))
    d = await r.router.submit(buy(1))
    assert isinstance(d, Approval)  # the gate approved; the venue refused
    assert r.gate.ledger.used(r.clock.now()) == 0
    assert await store.load_spend() == []
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED
    denied = [e for e in r.events if isinstance(e, RiskDenied)]
    assert [e.reason for e in denied] == ["VENUE_SPENDING_LIMIT"]
    assert r.gate.state is TradingState.REDUCING


async def test_halting_venue_errors(store: Store) -> None:
    err = WalletDelegationNotEnabled(code="WALLET_DELEGATION_NOT_ENABLED", status=409)
    r = await rig(store, FakeVenue(errors=[err]))
    await r.router.submit(buy(1))
    assert r.gate.state is TradingState.HALTED
    d = await r.router.submit(buy(2))
    assert isinstance(d, Denial) and d.reason is Reason.HALTED
    assert len(r.venue.calls) == 1


async def test_repeated_failures_halt(store: Store) -> None:
    errs = [InternalError(code="INTERNAL_ERROR", status=500) for _ in range(5)]
    r = await rig(store, FakeVenue(errors=errs))
    for n in range(6):
        await r.router.submit(buy(n))
    assert r.gate.state is TradingState.HALTED
    assert len(r.venue.calls) == 5


async def test_early_webhook_before_201_is_applied(store: Store) -> None:
    r = await rig(store)
    assert not await r.router.on_trade_update("t1", "executing")
    await r.router.submit(buy(1))
    assert r.updates() == ["pending", "executing"]
    await r.router.close()


async def test_polling_fallback_when_webhooks_are_silent(store: Store) -> None:
    r = await rig(store)
    await r.router.submit(buy(1))
    r.venue.set_status("t1", "completed", tokens_out=WAD)
    await settle_tasks()
    r.clock.advance(29.0)
    await settle_tasks()
    assert r.updates() == ["pending"]
    r.clock.advance(2.0)
    await until(lambda: r.updates() == ["pending", "completed"])
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == DONE
    await r.router.close()


async def test_not_ready_before_recovery(store: Store) -> None:
    r = Rig(store, FakeVenue(), Limits.for_tier("free"), SimClock())
    d = await r.router.submit(buy(1))
    assert isinstance(d, Denial) and d.reason is Reason.NOT_READY
    assert r.venue.calls == []


async def test_restart_restores_ledger_and_duplicates_nothing(tmp_path: Path) -> None:
    clock = SimClock()
    venue = FakeVenue()
    limits = Limits.for_tier("free", daily_cap=100 * U)
    db = tmp_path / "bot.db"
    async with await Store.open(db) as s1:
        r1 = await rig(s1, venue, limits, clock)
        await r1.router.submit(buy(1, 30 * U))  # accepted, still pending at the crash
        await r1.router.submit(buy(2, 20 * U, side=Side.SELL))
        # i3: persisted and sent, response lost, crash before reconciling
        a3 = r1.gate.check(buy(3, 25 * U))
        assert isinstance(a3, Approval)
        await s1.save_intent(
            IntentRecord(
                a3.intent,
                a3.idempotency_key,
                a3.reservation_id,
                a3.daily_draw,
                a3.exposure,
                APPROVED,
                updated_ts=clock.now(),
            ),
            r1.gate.ledger.get(a3.reservation_id),
        )
        await venue.create_trade(
            "m1",
            0,
            "buy",
            "25",
            client_request_id="i3",
            metadata={},
            idempotency_key=a3.idempotency_key,
        )
        # i4: persisted, crash before the request left
        a4 = r1.gate.check(buy(4, 40 * U))
        assert isinstance(a4, Approval)
        await s1.save_intent(
            IntentRecord(
                a4.intent,
                a4.idempotency_key,
                a4.reservation_id,
                a4.daily_draw,
                a4.exposure,
                APPROVED,
                updated_ts=clock.now(),
            ),
            r1.gate.ledger.get(a4.reservation_id),
        )
        await r1.router.close()
    sent_before = len(venue.calls)
    venue.set_status("t1", "completed", tokens_out=WAD)
    venue.positions = [
        Position(market_id="m1", outcome_index=0, shares=WAD, cost_basis_atomic=30 * U)
    ]
    clock.advance(60.0)
    async with await Store.open(db) as s2:
        r2 = Rig(s2, venue, limits, clock)
        report = await r2.router.recover()
        assert report.abandoned_intents == 1 and report.finished_trades == 1
        assert report.adopted_trades == 2  # the sell and the found buy
        assert r2.gate.ledger.used(clock.now()) == 55 * U  # 30 + 25; the sell draws nothing
        assert len(venue.calls) == sent_before  # recovery sent nothing
        d = await r2.router.submit(buy(1, 30 * U))
        assert isinstance(d, Denial) and d.reason is Reason.DUPLICATE_INTENT
        d = await r2.router.submit(buy(9, 46 * U))
        assert isinstance(d, Denial) and d.reason is Reason.DAILY_CAP
        assert isinstance(await r2.router.submit(buy(10, 45 * U)), Approval)
        rec4 = await s2.get_intent("i4")
        assert rec4 is not None and rec4.status == ABANDONED
        rec1 = await s2.get_intent("i1")
        assert rec1 is not None and rec1.status == DONE
        await r2.router.close()


async def test_recovery_adopts_buys_made_elsewhere_with_this_key(store: Store) -> None:
    venue = FakeVenue()
    await venue.create_trade("m1", 0, "buy", "70", client_request_id="someone-else")
    await venue.create_trade("m1", 0, "sell", "20", client_request_id="someone-else-2")
    limits = Limits.for_tier("free", daily_cap=100 * U)
    r = Rig(store, venue, limits, SimClock(1_767_225_600.0 + 3600))
    report = await r.router.recover()
    assert report.venue_spend_adopted == 1  # the buy; sells never draw the cap
    assert r.gate.ledger.used(r.clock.now()) == 70 * U
    d = await r.router.submit(buy(1, 31 * U))
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_CAP
