"""OrderRouter: THE single entry point for orders (gate → executor), and startup recovery.

The engine hands every ``OrderIntent`` to ``submit`` and every update about our trades to
``on_trade_update``. Until ``recover()`` has reloaded the ledger and open intents from the store
and reconciled them with the venue (:mod:`kashbot.execution.recovery`), intents are denied
(``NOT_READY``): trading on a ledger that forgot yesterday's spend is how caps get breached after
a restart.

Once recovered, the router runs a reconcile loop on the injected clock (so it runs in virtual
time too): while some intent's outcome is unknown or some open trade has outlived its follower,
every ``reconcile_interval_s`` it reconciles / polls them, and the executor emits the
``TradeUpdate`` or ``RiskDenied`` that ends the strategy's wait. It sleeps on nothing while
there is nothing to do, so it adds no timer wake-ups to a backtest. ``close()`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from kashbot.clock import Clock
from kashbot.events import Event, OrderIntent
from kashbot.execution.executor import Executor
from kashbot.execution.recovery import Recovery, RecoveryError, RecoveryReport
from kashbot.execution.settings import ExecutionContext, ExecutionSettings, PoolView
from kashbot.execution.shared_spend import SharedSpend
from kashbot.execution.trades import Update
from kashbot.execution.venue import TradingVenue
from kashbot.money import Wad
from kashbot.risk.gate import Decision, Denial, Reason, RiskGate
from kashbot.store.store import Store

__all__ = ["OrderRouter", "RecoveryError", "RecoveryReport"]

log = structlog.get_logger("kashbot.execution")


class OrderRouter:
    """Gate + executor + store, wired; see the module docstring."""

    def __init__(
        self,
        gate: RiskGate,
        venue: TradingVenue,
        store: Store,
        *,
        emit: Callable[[Event], None] | None = None,
        clock: Clock | None = None,
        executor: Executor | None = None,
        settings: ExecutionSettings | None = None,
        pool_view: PoolView | None = None,
        shared_spend: SharedSpend | None = None,
    ) -> None:
        """``settings``: the router's knobs (reconcile loop, recovery); default: the given
        executor's, else the defaults. ``pool_view`` (for an executor built here): the engine's
        current pool of a market, to re-check ``limit_probability`` before sending.
        ``shared_spend``: the key's ledger shared with other daemons (None: this daemon's only);
        every approved intent must pass it too, and it hears the gate's commits and releases.
        """
        if executor is not None and pool_view is not None:
            raise ValueError("pool_view is for an executor built here; give it to your executor")
        self.gate = gate
        self.clock: Clock = clock or gate.clock
        if settings is None:
            settings = executor.settings if executor is not None else ExecutionSettings()
        self.settings = settings
        self.executor = executor or Executor(
            venue, gate, store, clock=self.clock, emit=emit, settings=settings, pool_view=pool_view
        )
        self._ctx = ExecutionContext(venue, gate, store, self.clock, settings, emit)
        self.reconcile_task: asyncio.Task[None] | None = None
        self.ready = False
        self.shared_spend = shared_spend
        if shared_spend is not None:
            gate.spend_mirror = shared_spend

    async def submit(self, intent: OrderIntent) -> Decision:
        """Gate the intent; if approved, send it (returns once the venue answered or gave up)."""
        if not self.ready:
            return self.gate.deny(intent, Reason.NOT_READY, "recovery has not finished")
        verdict = self.gate.check(intent)
        if isinstance(verdict, Denial):
            return verdict
        if self.shared_spend is not None:
            why = await self.shared_spend.admit(verdict, self.gate.limits.daily_cap)
            if why is not None:
                self.gate.release(verdict)
                return self.gate.deny(intent, *why)
        await self.executor.execute(verdict)
        return verdict

    async def on_trade_update(
        self,
        trade_id: str,
        status: str,
        *,
        tokens_out: Wad | None = None,
        error_code: str | None = None,
        tokens_in: Wad | None = None,
    ) -> bool:
        """A webhook or poll saw one of our trades move (unknown ids are buffered briefly).

        ``tokens_in``: tokens a completed sell burned, when the source reports them (the
        simulator's ``tokensIn``); without it the executor asks the venue for the position.
        """
        upd = Update(status, tokens_out, error_code, tokens_in)
        return await self.executor.on_trade_update(trade_id, upd)

    async def confirm_held(self, trade_id: str) -> str:
        """Operator release of a held 202 trade; its status afterwards (e.g. ``pending``).

        Raises ``TradeNotHeld`` / ``ConfirmHeldError`` (kashbot.execution.executor) when the
        trade is not held or trading is halted.
        """
        return await self.executor.confirm_held(trade_id)

    async def recover(self) -> RecoveryReport:
        """Reload, reconcile with the venue, and only then accept intents."""
        if self.shared_spend is not None:  # replays recovery's commits/releases, renews leases
            self.shared_spend.start()
        report = await Recovery(self._ctx, self.executor).run()
        self.ready = True
        self._start_reconcile_loop()
        return report

    async def close(self) -> None:
        task, self.reconcile_task = self.reconcile_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.executor.close()
        if self.shared_spend is not None:
            await self.shared_spend.close()

    # ---- reconcile loop ----------------------------------------------------------------------

    def _start_reconcile_loop(self) -> None:
        interval = self.settings.reconcile_interval_s
        if interval is None or self.reconcile_task is not None:
            return
        self.reconcile_task = asyncio.create_task(
            self._reconcile_loop(interval), name="router-reconcile"
        )

    async def _reconcile_loop(self, interval: float) -> None:
        ex = self.executor
        while True:
            if not ex.has_work:
                ex.work.clear()
                await ex.work.wait()
            await self.clock.sleep(interval)
            try:
                await ex.reconcile_unknown()
                await ex.poll_given_up()
            except Exception:  # a store hiccup must not end the loop; the next round retries
                log.exception("reconcile_loop_failed")

    # ---- status view -------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        gate = self.gate.status(self.clock.now())
        return {
            "ready": self.ready,
            "state": gate["state"],
            "state_reason": gate["state_reason"],
            "daily_used": gate["daily_used"],
            "daily_cap": gate["daily_cap"],
            "total_exposure": gate["total_exposure"],
            "open_trades": self.executor.open_trades(),
            "held_trades": self.executor.held_trades(),
            "unknown_intents": self.executor.unknown_intents,
            "recent_denials": gate["recent_denials"],
        }
