"""Sells against a fake venue: how many tokens a sell burned reaches the engine's position.

Kash's trade resource has only ``tokensOut`` (set on buys). When an update carries the count
(the simulator's ``tokensIn``) it is used as is; otherwise the executor asks the venue for the
position and emits a ``PositionSync`` before the final ``TradeUpdate``. A sell refused or failed
for INSUFFICIENT_BALANCE also resyncs. Every test replays the emitted events into an
``EngineState`` to check what the strategies would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from exec_fakes import FakeVenue, TradeWithTokensIn

from kashbot.client.errors import InsufficientBalance, InternalError
from kashbot.clock import SimClock
from kashbot.engine.state import EngineState
from kashbot.events import (
    Event,
    OrderIntent,
    PositionSync,
    RiskDenied,
    Side,
    TradeUpdate,
    TradingState,
)
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.money import USDC_ONE, WAD
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import DONE, Store

U = USDC_ONE
M = "m1"


class SellRig:
    """Router + executor over a fake venue; every emitted event also updates an EngineState."""

    def __init__(self, store: Store, venue: FakeVenue) -> None:
        self.events: list[Event] = []
        self.state = EngineState()
        self.clock = SimClock()
        self.venue = venue
        self.gate = RiskGate(Limits.for_tier("developer"), clock=self.clock, emit=self.emit)
        self.executor = Executor(
            venue,
            self.gate,
            store,
            clock=self.clock,
            emit=self.emit,
            settings=ExecutionSettings(poll_after_s=30.0),
        )
        self.router = OrderRouter(
            self.gate, venue, store, emit=self.emit, clock=self.clock, executor=self.executor
        )

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self.state.apply(event)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def hold(self, shares: int, cost: int) -> None:
        """Venue and engine agree on a starting position in outcome 0."""
        self.venue.hold(M, 0, shares, cost)
        self.state.set_position(M, 0, shares, cost)

    async def sell(self, n: int, amount: int) -> None:
        intent = OrderIntent(f"s{n}", "fv", M, 0, Side.SELL, amount, closing=True)
        self.state.add_pending(intent)
        await self.router.submit(intent)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "bot.db")
    yield s
    await s.close()


async def rig(store: Store, venue: FakeVenue | None = None) -> SellRig:
    r = SellRig(store, venue or FakeVenue())
    await r.router.recover()
    r.venue.position_calls.clear()  # recovery's own read is not what these tests count
    return r


async def until(cond: Callable[[], bool]) -> None:
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


async def test_tokens_in_from_the_update_is_used_without_asking_the_venue(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 2 * U)
    assert await r.router.on_trade_update("t1", "completed", tokens_in=4 * WAD)
    assert r.venue.position_calls == []
    assert r.of(PositionSync) == []
    done = r.of(TradeUpdate)[-1]
    assert isinstance(done, TradeUpdate) and (done.status, done.tokens) == ("completed", 4 * WAD)
    pos = r.state.position(M, 0)
    assert (pos.shares, pos.cost) == (6 * WAD, 3_600_000)  # 6 U x 4/10 released
    assert r.state.realized == 2 * U - 2_400_000
    assert r.state.fills[-1].tokens == 4 * WAD
    rec = await store.get_trade("t1")
    assert rec is not None and rec.tokens == 4 * WAD
    assert r.state.pending == {}
    await r.router.close()


async def test_tokens_in_on_the_polled_trade_resource_is_used(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 2 * U)
    old = r.venue.trades["t1"]
    r.venue.set_trade(
        "t1",
        TradeWithTokensIn(**{**old.model_dump(), "status": "completed", "tokens_in": 3 * WAD}),
    )
    for _ in range(20):  # let the follower start its quiet-period sleep
        await asyncio.sleep(0)
    r.clock.advance(31.0)  # webhooks silent: the follower polls get_trade
    await until(lambda: r.state.pending == {})
    assert r.venue.position_calls == []
    assert r.state.position(M, 0).shares == 7 * WAD
    await r.router.close()


async def test_tokens_absent_reconciles_with_the_venue_position(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 2 * U)
    r.venue.hold(M, 0, 7 * WAD, 4_200_000)  # what the sale left on the venue
    assert await r.router.on_trade_update("t1", "completed")  # Kash: no token count
    assert r.venue.position_calls == [M]
    kinds = [type(e).__name__ for e in r.events[-2:]]
    assert kinds == ["PositionSync", "TradeUpdate"]  # synced before the trade ends
    sync, done = r.events[-2], r.events[-1]
    assert sync == PositionSync(sync.ts, M, 0, 7 * WAD, 4_200_000, trade_id="t1")
    assert isinstance(done, TradeUpdate) and done.status == "completed" and done.tokens is None
    pos = r.state.position(M, 0)
    assert (pos.shares, pos.cost) == (7 * WAD, 4_200_000)
    fill = r.state.fills[-1]
    assert (fill.side, fill.tokens, fill.usdc) == (Side.SELL, 3 * WAD, 2 * U)
    assert r.state.realized == 2 * U - 1_800_000  # 6 U x 3/10 of cost released
    assert r.state.cash_flow == 2 * U
    assert r.gate.state is TradingState.ACTIVE
    await r.router.close()


async def test_a_sale_of_everything_leaves_no_row_and_a_zero_position(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 5 * U)
    r.venue.hold(M, 0, 0, 0)
    await r.router.on_trade_update("t1", "completed")
    pos = r.state.position(M, 0)
    assert (pos.shares, pos.cost) == (0, 0)
    assert r.state.fills[-1].tokens == 10 * WAD
    assert r.state.realized == 5 * U - 6 * U
    await r.router.close()


async def test_failed_position_read_still_finishes_the_trade(store: Store) -> None:
    r = await rig(store)
    r.venue.position_errors.append(InternalError(code="INTERNAL_ERROR", status=500))
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 2 * U)
    with structlog.testing.capture_logs() as logs:
        assert await r.router.on_trade_update("t1", "completed")
    assert any(e["event"] == "position_sync_failed" for e in logs)
    assert r.of(PositionSync) == []
    assert [e.status for e in r.of(TradeUpdate) if isinstance(e, TradeUpdate)][-1] == "completed"
    assert r.state.pending == {}
    rec = await store.get_intent("s1")
    assert rec is not None and rec.status == DONE
    assert r.state.position(M, 0).shares == 10 * WAD  # unknown: kept until the next sync
    await r.router.close()


async def test_409_insufficient_balance_on_a_sell_resyncs_without_reducing(store: Store) -> None:
    err = InsufficientBalance(code="INSUFFICIENT_BALANCE", status=409)
    r = await rig(store, FakeVenue(errors=[err]))
    r.state.set_position(M, 0, 10 * WAD, 6 * U)  # we think we hold 10 ...
    r.venue.hold(M, 0, WAD, 600_000)  # ... the venue knows better
    await r.sell(1, 5 * U)
    denied = r.of(RiskDenied)
    assert [d.reason for d in denied if isinstance(d, RiskDenied)] == ["VENUE_INSUFFICIENT_BALANCE"]
    (sync,) = r.of(PositionSync)
    assert sync == PositionSync(sync.ts, M, 0, WAD, 600_000, trade_id=None)
    pos = r.state.position(M, 0)
    assert (pos.shares, pos.cost) == (WAD, 600_000)
    assert r.state.fills == [] and r.state.pending == {}
    assert r.gate.state is TradingState.ACTIVE and r.gate.consecutive_failures == 0


async def test_sell_failed_at_execution_for_balance_resyncs(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 9 * U)
    r.venue.hold(M, 0, 8 * WAD, 4_800_000)  # someone else (a human) sold meanwhile
    await r.router.on_trade_update("t1", "failed", error_code="INSUFFICIENT_BALANCE")
    (sync,) = r.of(PositionSync)
    assert isinstance(sync, PositionSync) and sync.trade_id is None
    assert r.state.position(M, 0).shares == 8 * WAD
    assert r.state.fills == [] and r.state.realized == 0
    await r.router.close()


@pytest.mark.parametrize(
    ("side", "status", "error_code"),
    [
        (Side.BUY, "completed", None),
        (Side.BUY, "failed", "INSUFFICIENT_BALANCE"),
        (Side.SELL, "failed", "MARKET_NOT_TRADEABLE"),
        (Side.SELL, "rejected", "trade_too_large"),
    ],
)
async def test_no_position_read_otherwise(
    store: Store, side: Side, status: str, error_code: str | None
) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.router.submit(OrderIntent("x1", "fv", M, 0, side, 2 * U))
    tokens = WAD if status == "completed" else None
    await r.router.on_trade_update("t1", status, tokens_out=tokens, error_code=error_code)
    assert r.venue.position_calls == [] and r.of(PositionSync) == []
    await r.router.close()


async def test_sell_amount_is_sent_as_usdc_to_receive(store: Store) -> None:
    r = await rig(store)
    r.hold(10 * WAD, 6 * U)
    await r.sell(1, 2_500_000)
    (call,) = r.venue.calls
    assert call.body[2:4] == ("sell", str(Decimal("2.5")))
    await r.router.close()
