"""The executor: the only code that calls ``create_trade`` / ``confirm_trade``.

It wires three parts over one :class:`~kashbot.execution.settings.ExecutionContext`:

* :mod:`~kashbot.execution.submit` — persist, send, and take the venue's answer (accepted,
  refused, or not sent for a reason of our own);
* :mod:`~kashbot.execution.follow` — follow accepted trades to the end (webhook updates, polling,
  the 202 confirm gate, position syncs after sells);
* :mod:`~kashbot.execution.reconcile` — settle a POST whose outcome is unknown (look up, else
  replay under the same key: an order is never submitted twice).

The router (:mod:`kashbot.execution.router`) is the single entry point; this class is what it
and startup recovery call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kashbot.client.models import Trade
from kashbot.clock import Clock, WallClock
from kashbot.events import Event, OrderIntent
from kashbot.execution.follow import TradeFollower
from kashbot.execution.settings import (
    ExecutionContext,
    ExecutionSettings,
    PoolView,
)
from kashbot.execution.submit import Submitter
from kashbot.execution.trades import ConfirmHeldError, TradeNotHeld, Update
from kashbot.execution.venue import TradingVenue
from kashbot.money import usdc_str
from kashbot.risk.gate import Approval, RiskGate
from kashbot.store.store import Store

__all__ = [
    "ConfirmHeldError",
    "ExecutionSettings",
    "Executor",
    "PoolView",
    "TradeNotHeld",
]


class Executor:
    """Sends approved intents and follows their trades; see the module docstring."""

    def __init__(
        self,
        venue: TradingVenue,
        gate: RiskGate,
        store: Store,
        *,
        clock: Clock | None = None,
        emit: Callable[[Event], None] | None = None,
        settings: ExecutionSettings | None = None,
        pool_view: PoolView | None = None,
    ) -> None:
        """``pool_view``: the market's current pool, to re-check ``limit_probability`` at send."""
        self.ctx = ExecutionContext(
            venue,
            gate,
            store,
            clock or WallClock(),
            settings or ExecutionSettings(),
            emit,
            pool_view,
        )
        self.follower = TradeFollower(self.ctx)
        self.submitter = Submitter(self.ctx, self.follower)
        self.reconciler = self.submitter.reconciler

    @property
    def settings(self) -> ExecutionSettings:
        return self.ctx.settings

    @settings.setter
    def settings(self, value: ExecutionSettings) -> None:
        self.ctx.settings = value

    @property
    def pool_view(self) -> PoolView | None:
        return self.ctx.pool_view

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def work(self) -> asyncio.Event:
        """Set when there is something for the router's reconcile loop."""
        return self.ctx.work

    async def execute(self, approval: Approval) -> str | None:
        """Send one approved intent; the trade id, or None if no trade exists (yet)."""
        return await self.submitter.execute(approval)

    async def on_trade_update(self, trade_id: str, upd: Update) -> bool:
        """A webhook (or any other source) saw our trade move; True if it changed our view."""
        return await self.follower.on_trade_update(trade_id, upd)

    async def confirm_held(self, trade_id: str) -> str:
        """Operator release of a held 202 trade (see :meth:`TradeFollower.confirm_held`)."""
        return await self.follower.confirm_held(trade_id)

    async def sync_position(self, intent: OrderIntent, trade_id: str | None = None) -> bool:
        return await self.follower.sync_position(intent, trade_id)

    async def adopt(
        self, trade_id: str, intent: OrderIntent, reservation_id: str, trade: Trade | None
    ) -> bool:
        """Follow a trade found at recovery; False if it had already ended (settled now)."""
        return await self.follower.adopt(trade_id, intent, reservation_id, trade)

    async def find_trade(self, intent: OrderIntent) -> Trade | None:
        """Our trade by ``clientRequestId`` (= intent id) in the market's recent trades."""
        return await self.reconciler.find_trade(intent)

    async def reconcile_unknown(self) -> int:
        """One reconcile attempt per intent whose outcome is unknown; how many remain so."""
        return await self.reconciler.reconcile_unknown()

    async def poll_given_up(self) -> int:
        """Poll the open trades the follower gave up on; how many are still open."""
        return await self.follower.poll_given_up()

    @property
    def has_work(self) -> bool:
        """Anything for the reconcile loop: unknown outcomes or trades no follower waits on."""
        return bool(self.reconciler.unknown or self.follower.given_up)

    def open_trades(self) -> list[tuple[str, str, str]]:
        """(trade id, intent id, status) of every trade still followed."""
        return [(t.trade_id, t.intent.intent_id, t.status) for t in self.follower.tracked.values()]

    def held_trades(self) -> list[str]:
        return [t.trade_id for t in self.follower.tracked.values() if t.token is not None]

    def held_details(self) -> list[dict[str, object]]:
        """Each held trade with what it would do (``kashbot status``: not only an id)."""
        return [
            {
                "trade_id": t.trade_id,
                "market_id": t.intent.market_id,
                "outcome": t.intent.outcome,
                "side": str(t.intent.side),
                "amount_usdc": usdc_str(t.intent.amount),
                "strategy": t.intent.strategy,
            }
            for t in self.follower.tracked.values()
            if t.token is not None
        ]

    @property
    def unknown_intents(self) -> list[str]:
        return list(self.reconciler.unknown)

    async def close(self) -> None:
        """Stop following (trades stay open in the store; recovery picks them up)."""
        await self.follower.close()
