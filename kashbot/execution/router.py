"""OrderRouter: THE single entry point for orders (gate → executor), and startup recovery.

The engine hands every ``OrderIntent`` to ``submit`` and every update about our trades to
``on_trade_update``. Until ``recover()`` has reloaded the ledger and open intents from the store
and reconciled them with the venue, intents are denied (``NOT_READY``): trading on a ledger that
forgot yesterday's spend is how caps get breached after a restart.

Once recovered, the router runs a reconcile loop on the injected clock (so it runs in virtual
time too): while some intent's outcome is unknown or some open trade has outlived its follower,
every ``reconcile_interval_s`` it reconciles / polls them, and the executor emits the
``TradeUpdate`` or ``RiskDenied`` that ends the strategy's wait. It sleeps on nothing while
there is nothing to do, so it adds no timer wake-ups to a backtest. ``close()`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass

import structlog

from kashbot.client.errors import KashError
from kashbot.client.models import Trade
from kashbot.clock import Clock
from kashbot.events import Event, OrderIntent
from kashbot.execution.executor import Executor, PoolView
from kashbot.execution.venue import TradingVenue
from kashbot.money import Atomic, Wad, usdc_to_atomic
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate, reservation_for
from kashbot.risk.ledger import SpendEntry
from kashbot.store.store import ACCEPTED, APPROVED, IntentRecord, PositionRecord, Store

log = structlog.get_logger("kashbot.execution")


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    spend_entries: int
    adopted_trades: int  # open intents whose trade we follow again
    finished_trades: int  # open intents whose trade had ended while we were down
    abandoned_intents: int  # approved intents the venue never saw
    positions: int
    venue_spend_adopted: int  # buys on this key we had no record of (another process, a human)


class RecoveryError(RuntimeError):
    """Recovery could not reconcile the store with the venue; the router stays not ready."""


def _never_executed(t: Trade) -> bool:
    """A gated trade cancelled before confirmation: the venue refunds its cap (not spend)."""
    return t.status in ("cancelled", "expired") or t.error_code == "CONFIRMATION_EXPIRED"


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
        adopt_venue_spend: bool = True,
        venue_spend_pages: int = 20,
        reconcile_interval_s: float | None = 30.0,
        recovery_attempts: int = 6,
        recovery_backoff_s: float = 1.0,
        recovery_backoff_max_s: float = 30.0,
        pool_view: PoolView | None = None,
    ) -> None:
        """``reconcile_interval_s``: the reconcile loop's period (None: no loop).
        ``recovery_*``: a venue lookup at recovery is tried this many times, waiting
        ``backoff * 2**n`` capped at ``backoff_max`` between tries (so at most
        ``attempts * backoff_max`` in all). ``pool_view`` (for an executor built here): the
        engine's current pool of a market, to re-check ``limit_probability`` before sending.
        """
        if recovery_attempts < 1:
            raise ValueError("recovery_attempts must be >= 1")
        if executor is not None and pool_view is not None:
            raise ValueError("pool_view is for an executor built here; give it to your executor")
        self.gate = gate
        self.venue = venue
        self.store = store
        self.clock: Clock = clock or gate.clock
        self.executor = executor or Executor(
            venue, gate, store, clock=self.clock, emit=emit, pool_view=pool_view
        )
        self.adopt_venue_spend = adopt_venue_spend
        self.venue_spend_pages = venue_spend_pages
        self.reconcile_interval_s = reconcile_interval_s
        self.recovery_attempts = recovery_attempts
        self.recovery_backoff_s = recovery_backoff_s
        self.recovery_backoff_max_s = recovery_backoff_max_s
        self.reconcile_task: asyncio.Task[None] | None = None
        self.ready = False

    async def submit(self, intent: OrderIntent) -> Approval | Denial:
        """Gate the intent; if approved, send it (returns once the venue answered or gave up)."""
        if not self.ready:
            denial = Denial(intent, Reason.NOT_READY, "recovery has not finished")
            self.gate.record_denial(denial)
            return denial
        verdict = self.gate.check(intent)
        if isinstance(verdict, Denial):
            return verdict
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
        return await self.executor.on_trade_update(
            trade_id, status, tokens_out=tokens_out, error_code=error_code, tokens_in=tokens_in
        )

    async def confirm_held(self, trade_id: str) -> str:
        """Operator release of a held 202 trade; its status afterwards (e.g. ``pending``).

        Raises ``TradeNotHeld`` / ``ConfirmHeldError`` (kashbot.execution.executor) when the
        trade is not held or trading is halted.
        """
        return await self.executor.confirm_held(trade_id)

    async def close(self) -> None:
        task, self.reconcile_task = self.reconcile_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.executor.close()

    # ---- reconcile loop ----------------------------------------------------------------------

    def _start_reconcile_loop(self) -> None:
        if self.reconcile_interval_s is None or self.reconcile_task is not None:
            return
        self.reconcile_task = asyncio.create_task(
            self._reconcile_loop(self.reconcile_interval_s), name="router-reconcile"
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

    # ---- recovery ----------------------------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """Reload, reconcile with the venue, and only then accept intents."""
        now = self.clock.now()
        entries = await self.store.load_spend()
        self.gate.ledger.restore(entries)
        expired = self.gate.ledger.prune(now)
        if expired:
            await self.store.delete_spend(expired)
        self.gate.remember_intents(await self.store.intent_ids())

        adopted = finished = abandoned = 0
        for rec in await self.store.open_intents():
            if rec.status == ACCEPTED and rec.trade_id is not None:
                if await self._readopt(rec, rec.trade_id):
                    adopted += 1
                else:
                    finished += 1
            elif rec.status == APPROVED:
                trade = await self._find_at_recovery(rec)
                if trade is None:
                    await self._abandon(rec)
                    abandoned += 1
                    continue
                entry = self._commit_recovered(rec, now)
                await self.store.put_spend(entry)
                await self.store.update_intent(
                    rec.intent.intent_id, ACCEPTED, now, trade_id=trade.id
                )
                if await self._readopt(rec, trade.id, trade):
                    adopted += 1
                else:
                    finished += 1

        positions = await self._reload_positions(now)
        adopted_spend = await self._adopt_venue_spend(now) if self.adopt_venue_spend else 0
        self.ready = True
        self._start_reconcile_loop()
        report = RecoveryReport(
            spend_entries=len(self.gate.ledger.entries()),
            adopted_trades=adopted,
            finished_trades=finished,
            abandoned_intents=abandoned,
            positions=positions,
            venue_spend_adopted=adopted_spend,
        )
        log.info("recovered", **asdict(report), daily_used=self.gate.ledger.used(now))
        return report

    async def _find_at_recovery(self, rec: IntentRecord) -> Trade | None:
        """Was this approved intent's POST created? Retries venue errors with capped backoff.

        Guessing would either forget spend (cap breach) or abandon a live trade, so if the
        venue cannot answer, recovery fails: reservations stay, the router stays not ready.
        """
        intent_id = rec.intent.intent_id
        for attempt in range(self.recovery_attempts):
            if attempt:
                delay = self.recovery_backoff_s * 2 ** (attempt - 1)
                await self.clock.sleep(min(self.recovery_backoff_max_s, delay))
            try:
                return await self.executor.find_trade(rec.intent)
            except KashError as exc:
                last = exc
                log.warning(
                    "recover_find_trade_failed",
                    intent_id=intent_id,
                    attempt=attempt + 1,
                    code=exc.code,
                    error=str(exc),
                )
        raise RecoveryError(
            f"recovery could not ask the venue whether intent {intent_id} (market"
            f" {rec.intent.market_id}) was created: GET /v1/trades failed"
            f" {self.recovery_attempts} times, last with {last.code or type(last).__name__}"
            f" ({last.status}); nothing was abandoned and its reservation is kept — retry the"
            " start when the venue answers"
        ) from last

    def _commit_recovered(self, rec: IntentRecord, now: float) -> SpendEntry:
        if self.gate.ledger.get(rec.reservation_id) is None:
            self.gate.ledger.reserve(rec.reservation_id, rec.daily_draw, now)
        return self.gate.ledger.commit(rec.reservation_id, now)

    async def _abandon(self, rec: IntentRecord) -> None:
        if self.gate.ledger.get(rec.reservation_id) is not None:
            self.gate.ledger.release(rec.reservation_id)
        await self.store.record_abandoned(
            rec.intent.intent_id,
            rec.reservation_id,
            self.clock.now(),
            "venue has no trade with this clientRequestId after restart",
        )
        log.warning("intent_abandoned", intent_id=rec.intent.intent_id)

    async def _readopt(self, rec: IntentRecord, trade_id: str, trade: Trade | None = None) -> bool:
        """Follow an accepted intent's trade again; False if it already ended."""
        if trade is None:
            try:
                trade = await self.venue.get_trade(trade_id)
            except KashError as exc:
                log.warning("recover_get_trade_failed", trade_id=trade_id, error=str(exc))
        self.gate.track_inflight(rec.reservation_id, rec.intent.market_id, rec.exposure)
        return await self.executor.adopt(trade_id, rec.intent, rec.reservation_id, trade)

    async def _reload_positions(self, now: float) -> int:
        try:
            positions = await self.venue.list_positions()
        except KashError as exc:
            log.warning("recover_positions_failed", error=str(exc))
            rows = await self.store.positions()
        else:
            rows = [
                PositionRecord(p.market_id, p.outcome_index, p.shares, p.cost_basis_atomic, now)
                for p in positions
            ]
            await self.store.replace_positions(rows)
        exposure: dict[str, Atomic] = defaultdict(int)
        for r in rows:
            if r.shares > 0:
                exposure[r.market_id] += r.cost_basis
        self.gate.set_market_exposure(exposure)
        return len(rows)

    async def _adopt_venue_spend(self, now: float) -> int:
        """Buys on this key in the last 24 h that our ledger lacks (the cap is per key).

        A buy of one of our intents is ours only while the ledger still holds that intent's
        reservation: a refused or abandoned intent's entry is gone, so its trade counts here.
        """
        ours = {e.entry_id for e in self.gate.ledger.entries()}
        horizon = now - self.gate.ledger.window_s
        adopted = 0
        cursor: str | None = None
        try:
            for _ in range(self.venue_spend_pages):
                page = await self.venue.list_trades(limit=100, cursor=cursor)
                stop = False
                for t in page.data:
                    ts = t.created_at.timestamp() if t.created_at is not None else now
                    if ts <= horizon:
                        stop = True
                        continue
                    if t.side != "buy" or _never_executed(t):
                        continue
                    if t.client_request_id and reservation_for(t.client_request_id) in ours:
                        continue
                    entry_id = f"v-{t.id}"
                    if entry_id in ours:
                        continue
                    entry = self.gate.ledger.reserve(entry_id, usdc_to_atomic(t.amount), ts)
                    entry = self.gate.ledger.commit(entry_id, ts)
                    await self.store.put_spend(entry)
                    adopted += 1
                if stop or not page.has_more or page.cursor is None:
                    break
                cursor = page.cursor
        except KashError as exc:
            log.warning("recover_venue_spend_failed", error=str(exc))
        return adopted

    # ---- status view -------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        now = self.clock.now()
        return {
            "ready": self.ready,
            "state": str(self.gate.state),
            "state_reason": self.gate.state_reason,
            "daily_used": self.gate.ledger.used(now),
            "daily_cap": self.gate.limits.daily_cap,
            "total_exposure": self.gate.total_exposure(),
            "open_trades": self.executor.open_trades(),
            "held_trades": self.executor.held_trades(),
            "unknown_intents": self.executor.unknown_intents,
            "recent_denials": [
                (d.intent.intent_id, str(d.reason), d.detail)
                for d in self.gate.recent_denials[-10:]
            ],
        }
