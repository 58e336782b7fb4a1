"""A router + executor + gate over the fake venue and an in-memory store, in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from exec_fakes import FakeVenue

from kashbot.clock import SimClock
from kashbot.engine.state import EngineState
from kashbot.events import Event, OrderIntent, RiskDenied, Side, TradeUpdate
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.money import USDC_ONE
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import Store

U = USDC_ONE
T = TypeVar("T")


class Rig:
    """Every emitted event is kept and folded into an ``EngineState`` (what strategies see)."""

    def __init__(
        self,
        store: Store,
        venue: FakeVenue | None = None,
        limits: Limits | None = None,
        clock: SimClock | None = None,
        *,
        router_kw: dict[str, Any] | None = None,
        **executor_kw: Any,
    ) -> None:
        self.events: list[Event] = []
        self.state = EngineState()
        self.clock = clock or SimClock()
        self.store = store
        self.venue = venue or FakeVenue()
        self.gate = RiskGate(limits or Limits.for_tier("free"), clock=self.clock, emit=self.emit)
        kw: dict[str, Any] = {"poll_after_s": 30.0, "poll_interval_s": 10.0}
        kw["reconcile_backoff_s"] = 0.5
        kw.update(executor_kw)
        kw.update(router_kw or {})  # one settings object for the executor and the router
        pool_view = kw.pop("pool_view", None)
        self.executor = Executor(
            self.venue,
            self.gate,
            store,
            clock=self.clock,
            emit=self.emit,
            settings=ExecutionSettings(**kw),
            pool_view=pool_view,
        )
        self.router = OrderRouter(
            self.gate, self.venue, store, emit=self.emit, clock=self.clock, executor=self.executor
        )

    def emit(self, event: Event) -> None:
        self.events.append(event)
        self.state.apply(event)

    async def submit(self, intent: OrderIntent) -> None:
        """As the engine does: pending until a terminal TradeUpdate or a RiskDenied."""
        self.state.add_pending(intent)
        await self.drive(self.router.submit(intent))

    async def drive(self, aw: Awaitable[T], step: float = 0.5, limit: float = 600.0) -> T:
        """Await ``aw`` while moving virtual time forward (reconcile backoffs sleep on it)."""
        task = asyncio.ensure_future(aw)
        end = self.clock.now() + limit
        while not task.done():
            await settle()
            if task.done():
                break
            if self.clock.now() >= end:
                task.cancel()
                raise AssertionError("still waiting after the virtual time limit")
            self.clock.advance(step)
        return task.result()

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Let background tasks (followers, the reconcile loop) run for ``seconds``."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            await settle()
            self.clock.advance(min(step, end - self.clock.now()))
        await settle()

    def denials(self) -> list[str]:
        return [e.reason for e in self.events if isinstance(e, RiskDenied)]

    def updates(self, trade_id: str | None = None) -> list[str]:
        return [
            e.status
            for e in self.events
            if isinstance(e, TradeUpdate) and trade_id in (None, e.trade_id)
        ]

    def used(self) -> int:
        return self.gate.ledger.used(self.clock.now())


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def buy(n: int, amount: int = 10 * U, side: Side = Side.BUY, **kw: Any) -> OrderIntent:
    return OrderIntent(f"i{n}", "strat", "m1", 0, side, amount, **kw)
