"""Startup recovery: reload the ledger and open intents, reconcile them with the venue.

Crash-only: every start is a recovery. The daily ledger comes back from the store (entries past
the window are dropped); each open intent is either followed again (its trade exists), or
abandoned (the venue never saw it: its reservation is released); positions are reloaded from the
venue (the store's copy if the venue cannot answer) into the gate's exposure; and buys on this
key the ledger lacks (another process, a human) are adopted, since the venue's cap is per key.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

import structlog

from kashbot.client.errors import KashError
from kashbot.client.models import Trade
from kashbot.execution.executor import Executor
from kashbot.execution.settings import ExecutionContext
from kashbot.money import Atomic, usdc_to_atomic
from kashbot.retry import Backoff, retrying
from kashbot.risk.gate import reservation_for
from kashbot.store.store import ACCEPTED, APPROVED, IntentRecord, PositionRecord

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


class Recovery:
    """One startup recovery over the router's gate, venue, store and executor."""

    def __init__(self, ctx: ExecutionContext, executor: Executor) -> None:
        self.ctx = ctx
        self.executor = executor

    async def run(self) -> RecoveryReport:
        """Reload and reconcile; the caller starts accepting intents afterwards."""
        ctx, gate, store = self.ctx, self.ctx.gate, self.ctx.store
        now = ctx.clock.now()
        expired = gate.restore_spend(await store.load_spend(), now)
        if expired:
            await store.delete_spend(expired)
        gate.remember_intents(await store.intent_ids())

        adopted = finished = abandoned = 0
        for rec in await store.open_intents():
            if rec.status == ACCEPTED and rec.trade_id is not None:
                if await self._readopt(rec, rec.trade_id):
                    adopted += 1
                else:
                    finished += 1
            elif rec.status == APPROVED:
                trade = await self._find(rec)
                if trade is None:
                    await self._abandon(rec)
                    abandoned += 1
                    continue
                entry = gate.commit_recovered(rec.reservation_id, rec.daily_draw, now)
                await store.put_spend(entry)
                await store.update_intent(rec.intent.intent_id, ACCEPTED, now, trade_id=trade.id)
                if await self._readopt(rec, trade.id, trade):
                    adopted += 1
                else:
                    finished += 1

        positions = await self._reload_positions(now)
        adopt = ctx.settings.adopt_venue_spend
        adopted_spend = await self._adopt_venue_spend(now) if adopt else 0
        report = RecoveryReport(
            spend_entries=len(gate.spend_ids()),
            adopted_trades=adopted,
            finished_trades=finished,
            abandoned_intents=abandoned,
            positions=positions,
            venue_spend_adopted=adopted_spend,
        )
        log.info("recovered", **asdict(report), daily_used=gate.daily_used(now))
        return report

    async def _find(self, rec: IntentRecord) -> Trade | None:
        """Was this approved intent's POST created? Retries venue errors with capped backoff.

        Guessing would either forget spend (cap breach) or abandon a live trade, so if the
        venue cannot answer, recovery fails: reservations stay, the router stays not ready.
        """
        s = self.ctx.settings
        intent_id = rec.intent.intent_id
        policy = Backoff(s.recovery_backoff_s, s.recovery_backoff_max_s)

        def failed(attempt: int, exc: BaseException) -> None:
            code = exc.code if isinstance(exc, KashError) else None
            log.warning(
                "recover_find_trade_failed",
                intent_id=intent_id,
                attempt=attempt,
                code=code,
                error=str(exc),
            )

        try:
            return await retrying(
                lambda: self.executor.find_trade(rec.intent),
                policy,
                self.ctx.clock,
                s.recovery_attempts,
                retry_on=KashError,
                on_failure=failed,
            )
        except KashError as exc:
            last = exc
            raise RecoveryError(
                f"recovery could not ask the venue whether intent {intent_id} (market"
                f" {rec.intent.market_id}) was created: GET /v1/trades failed"
                f" {s.recovery_attempts} times, last with {last.code or type(last).__name__}"
                f" ({last.status}); nothing was abandoned and its reservation is kept — retry the"
                " start when the venue answers"
            ) from last

    async def _abandon(self, rec: IntentRecord) -> None:
        self.ctx.gate.release_draw(rec.reservation_id)
        await self.ctx.store.record_abandoned(
            rec.intent.intent_id,
            rec.reservation_id,
            self.ctx.clock.now(),
            "venue has no trade with this clientRequestId after restart",
        )
        log.warning("intent_abandoned", intent_id=rec.intent.intent_id)

    async def _readopt(self, rec: IntentRecord, trade_id: str, trade: Trade | None = None) -> bool:
        """Follow an accepted intent's trade again; False if it already ended."""
        if trade is None:
            try:
                trade = await self.ctx.venue.get_trade(trade_id)
            except KashError as exc:
                log.warning("recover_get_trade_failed", trade_id=trade_id, error=str(exc))
        self.ctx.gate.track_inflight(rec.reservation_id, rec.intent.market_id, rec.exposure)
        return await self.executor.adopt(trade_id, rec.intent, rec.reservation_id, trade)

    async def _reload_positions(self, now: float) -> int:
        store = self.ctx.store
        try:
            positions = await self.ctx.venue.list_positions()
        except KashError as exc:
            log.warning("recover_positions_failed", error=str(exc))
            rows = await store.positions()
        else:
            rows = [
                PositionRecord(p.market_id, p.outcome_index, p.shares, p.cost_basis_atomic, now)
                for p in positions
            ]
            await store.replace_positions(rows)
        exposure: dict[str, Atomic] = defaultdict(int)
        for r in rows:
            if r.shares > 0:
                exposure[r.market_id] += r.cost_basis
        self.ctx.gate.set_market_exposure(exposure)
        return len(rows)

    async def _adopt_venue_spend(self, now: float) -> int:
        """Buys on this key in the last 24 h that our ledger lacks (the cap is per key).

        A buy of one of our intents is ours only while the ledger still holds that intent's
        reservation: a refused or abandoned intent's entry is gone, so its trade counts here.
        """
        gate = self.ctx.gate
        ours = gate.spend_ids()
        horizon = gate.spend_horizon(now)
        adopted = 0
        cursor: str | None = None
        try:
            for _ in range(self.ctx.settings.venue_spend_pages):
                page = await self.ctx.venue.list_trades(limit=100, cursor=cursor)
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
                    entry = gate.adopt_spend(entry_id, usdc_to_atomic(t.amount), ts)
                    await self.ctx.store.put_spend(entry)
                    adopted += 1
                if stop or not page.has_more or page.cursor is None:
                    break
                cursor = page.cursor
        except KashError as exc:
            log.warning("recover_venue_spend_failed", error=str(exc))
        return adopted
