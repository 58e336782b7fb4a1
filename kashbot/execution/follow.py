"""Following accepted trades to a terminal state: webhook updates, polling, the confirm gate.

Updates reach :meth:`TradeFollower.on_trade_update` (webhooks, via the router) or come from
``get_trade`` polls after ``poll_after_s`` of silence; without webhooks (``prompt_poll_s`` set)
polls start that soon after submit and back off (x2) to ``poll_interval_s``, each through the
client's request budget. An update older than what we know is ignored. A 202 is confirmed
automatically up to the gate's ceiling, otherwise held for an operator (``confirm_held``). At the
end the gate settles the trade, the store records it, and a ``TradeUpdate`` goes out.
:meth:`TradeFollower.poll_open` asks once more about every open trade (at shutdown).

Sells: Kash's trade resource and webhook carry ``tokensOut`` only (set on buys); how many tokens
a sell burned is not reported (kash-api.md §18 item 3). When an update does carry the count (the
simulator's ``tokensIn`` extension) it is used; otherwise, after a completed sell and after a sell
refused or failed for ``INSUFFICIENT_BALANCE``, the venue's position in that outcome is read and a
``PositionSync`` emitted before the trade's final ``TradeUpdate``: the venue is the source of
truth for inventory.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from kashbot.client.errors import (
    ConfirmationExpired,
    ConfirmationTokenUsed,
    KashError,
    TradeNotAwaitingConfirmation,
)
from kashbot.client.models import Trade
from kashbot.events import OrderIntent, PositionSync, Side, TradeUpdate, TradingState
from kashbot.execution.settings import ExecutionContext
from kashbot.execution.trades import (
    ConfirmHeldError,
    Tracked,
    TradeNotHeld,
    Update,
    is_terminal,
    status_rank,
    trade_record,
)
from kashbot.money import Wad, usdc_str
from kashbot.risk.gate import Reason
from kashbot.store.store import DONE

log = structlog.get_logger("kashbot.execution")

PROMPT_POLL_S = 0.5  # first poll of a trade when no webhook will tell us (core.execution_settings)

_MAX_EARLY = 1000  # trades whose updates beat their 201 back to us, kept at most
_MAX_FINISHED = 1000  # ids of trades finished here, remembered at most (duplicate webhooks)


class TradeFollower:
    """The trades we follow (see the module docstring)."""

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx
        self.tracked: dict[str, Tracked] = {}
        self._early: dict[str, list[Update]] = {}  # updates that beat the 201 back to us
        # trades this follower finished (their terminal row is in the store): a duplicate
        # webhook of one (Kash delivers at least once) is answered without a store read
        self._finished: dict[str, None] = {}
        self.given_up: set[str] = set()  # open trades the follower stopped waiting for

    # ---- starting to follow ------------------------------------------------------------------

    async def track(
        self,
        trade: Trade,
        intent: OrderIntent,
        reservation_id: str,
        token: str | None,
        auto_confirm: bool,
    ) -> None:
        """Follow a trade the venue just accepted (``token``: a 202's confirmation token)."""
        t = Tracked(trade.id, intent, reservation_id, trade.status, token=token)
        self.tracked[trade.id] = t
        if is_terminal(trade.status):
            await self._finish(t, Update.of(trade))
            return
        self._emit_update(t, trade.tokens_out, trade.error_code)
        for upd in self._early.pop(trade.id, []):
            await self._apply(t, upd)
        if trade.id not in self.tracked:  # an early update finished it
            return
        if t.status == "pending_confirmation" and token is not None:
            if auto_confirm:
                await self._confirm(t)
            else:
                self._hold(t)
        if trade.id in self.tracked:
            self._start_follow(t)

    async def adopt(
        self, trade_id: str, intent: OrderIntent, reservation_id: str, trade: Trade | None
    ) -> bool:
        """Follow a trade found at recovery; False if it had already ended (it is settled now).

        ``trade`` is the venue's current view, or None if it could not be fetched (then the
        follower polls for it).
        """
        status = trade.status if trade is not None else "pending"
        t = Tracked(trade_id, intent, reservation_id, status)
        self.tracked[trade_id] = t
        if is_terminal(status):
            assert trade is not None
            await self._finish(t, Update.of(trade))
            return False
        for upd in self._early.pop(trade_id, []):
            await self._apply(t, upd)
        if trade_id not in self.tracked:
            return False
        self._start_follow(t)
        return True

    # ---- the confirm gate --------------------------------------------------------------------

    def _hold(self, t: Tracked) -> None:
        ceiling = self.ctx.gate.limits.auto_confirm_ceiling
        log.warning(
            "trade_held_for_confirmation",
            alert=True,
            trade_id=t.trade_id,
            intent_id=t.intent.intent_id,
            amount=t.intent.amount,
            amount_usdc=usdc_str(t.intent.amount),
            ceiling=ceiling,
            ceiling_usdc=usdc_str(ceiling),
        )

    async def confirm_held(self, trade_id: str) -> str:
        """Operator release of a held 202 trade; returns the trade's status afterwards.

        Raises :class:`TradeNotHeld` if we hold no confirmation token for it, and
        :class:`ConfirmHeldError` while trading is halted (nothing leaves during a halt).
        """
        t = self.tracked.get(trade_id)
        if t is None or t.token is None:
            raise TradeNotHeld(
                f"trade {trade_id} is not held for confirmation: unknown, finished, already"
                " confirmed, or held before a restart (tokens are kept in memory only)"
            )
        gate = self.ctx.gate
        if gate.state is TradingState.HALTED:
            raise ConfirmHeldError(
                f"trade {trade_id} stays held: trading is HALTED ({gate.state_reason});"
                " resume first"
            )
        await self._confirm(t)
        return t.status

    async def _confirm(self, t: Tracked) -> None:
        token, t.token = t.token, None  # single use, whatever happens next
        if token is None:
            return
        try:
            trade = await self.ctx.venue.confirm_trade(t.trade_id, token)
        except TradeNotAwaitingConfirmation as exc:
            fetched = exc.trade if isinstance(exc.trade, Trade) else None
            await self.refresh(t, fetched)
            return
        except ConfirmationExpired:
            await self._apply(t, Update("cancelled", None, "CONFIRMATION_EXPIRED"))
            return
        except ConfirmationTokenUsed:
            await self.refresh(t, None)
            return
        except KashError as exc:
            log.error("confirm_failed", trade_id=t.trade_id, code=exc.code, error=str(exc))
            self.ctx.gate.note_error(exc)
            await self.refresh(t, None)
            return
        log.info("trade_confirmed", trade_id=t.trade_id, status=trade.status)
        await self._apply(t, Update.of(trade))

    async def refresh(self, t: Tracked, trade: Trade | None) -> None:
        """Apply the venue's view of the trade (``get_trade`` if none is given)."""
        if trade is None:
            try:
                trade = await self.ctx.venue.get_trade(t.trade_id)
            except KashError as exc:
                log.warning("trade_refresh_failed", trade_id=t.trade_id, error=str(exc))
                return
        await self._apply(t, Update.of(trade))

    # ---- updates -----------------------------------------------------------------------------

    async def on_trade_update(self, trade_id: str, upd: Update) -> bool:
        """A webhook (or any other source) saw our trade move; True if it changed our view."""
        t = self.tracked.get(trade_id)
        if t is None:
            if trade_id in self._finished:
                return False  # known and already finished (what the store would answer)
            rec = await self.ctx.store.get_trade(trade_id)
            t = self.tracked.get(trade_id)  # the 201 may have been handled meanwhile
            if t is None:
                if rec is not None and rec.terminal:
                    return False  # known and already finished
                # not ours yet: the webhook beat the 201 back (or recovery has not adopted it)
                if trade_id not in self._early and len(self._early) >= _MAX_EARLY:
                    self._early.pop(next(iter(self._early)))
                self._early.setdefault(trade_id, []).append(upd)
                return False
        return await self._apply(t, upd)

    async def _apply(self, t: Tracked, upd: Update) -> bool:
        if self.tracked.get(t.trade_id) is not t:
            return False
        if (
            is_terminal(t.status)
            or upd.status == t.status
            or status_rank(upd.status) < status_rank(t.status)
        ):
            return False  # finished already, a duplicate, or a stale (out-of-order) update
        before, t.status = t.status, upd.status
        if is_terminal(upd.status):
            await self._finish(t, upd, before)
        else:
            now = self.ctx.clock.now()
            await self.ctx.store.upsert_trade(
                trade_record(t.trade_id, t.intent, upd.status, None, None, now)
            )
            self._emit_update(t, upd.tokens_out, upd.error_code)
        t.changed.set()
        return True

    async def _finish(self, t: Tracked, upd: Update, before: str | None = None) -> None:
        """``before``: the status the trade had just before this terminal one, if known."""
        ctx, gate = self.ctx, self.ctx.gate
        now = ctx.clock.now()
        completed = t.status == "completed"
        sell = t.intent.side is Side.SELL
        tokens = upd.tokens_in if sell else upd.tokens_out
        gate.settle(
            t.reservation_id, side=t.intent.side, amount=t.intent.amount, completed=completed
        )
        if completed:
            gate.record_success()
        # A gated trade that ended before it was confirmed never executed: the venue refunds
        # its cap, so its daily draw comes back too (it would otherwise block buys for 24 h).
        refunded = not completed and (
            before == "pending_confirmation" or upd.error_code == "CONFIRMATION_EXPIRED"
        )
        if refunded and gate.release_draw(t.reservation_id):
            await ctx.store.delete_spend([t.reservation_id])
            log.info("daily_draw_released", trade_id=t.trade_id, status=t.status)
        await ctx.store.upsert_trade(
            trade_record(t.trade_id, t.intent, t.status, tokens, upd.error_code, now)
        )
        await ctx.store.update_intent(t.intent.intent_id, DONE, now)
        self._finished[t.trade_id] = None
        if len(self._finished) > _MAX_FINISHED:
            del self._finished[next(iter(self._finished))]
        self.tracked.pop(t.trade_id, None)
        self.given_up.discard(t.trade_id)
        log.info(
            "trade_finished",
            trade_id=t.trade_id,
            intent_id=t.intent.intent_id,
            status=t.status,
            amount=t.intent.amount,
            amount_usdc=usdc_str(t.intent.amount),
            error_code=upd.error_code,
        )
        sync = sell and ((completed and tokens is None) or upd.error_code == "INSUFFICIENT_BALANCE")
        try:
            if sync:  # the venue knows what the sale left us; the final update follows it
                await self.sync_position(t.intent, t.trade_id if completed else None)
        finally:
            self._emit_update(t, tokens, upd.error_code)
            t.changed.set()
        if t.task is not None and t.task is not asyncio.current_task():
            t.task.cancel()

    async def sync_position(self, intent: OrderIntent, trade_id: str | None = None) -> bool:
        """Emit the venue's position in the intent's outcome as a ``PositionSync``.

        ``trade_id`` names the completed sell that prompted it. False if the venue could not be
        asked (the position stays as we had it; the next refused sell asks again).
        """
        try:
            rows = await self.ctx.venue.list_positions(intent.market_id)
        except KashError as exc:
            log.warning(
                "position_sync_failed",
                market_id=intent.market_id,
                outcome=intent.outcome,
                error=str(exc),
            )
            return False
        shares = cost = 0  # no row: nothing held
        for p in rows:
            if p.market_id == intent.market_id and p.outcome_index == intent.outcome:
                shares, cost = p.shares, p.cost_basis_atomic
                break
        log.info(
            "position_synced",
            market_id=intent.market_id,
            outcome=intent.outcome,
            shares=shares,
            trade_id=trade_id,
        )
        self.ctx.emit(
            PositionSync(
                ts=self.ctx.clock.now(),
                market_id=intent.market_id,
                outcome=intent.outcome,
                shares=shares,
                cost=cost,
                trade_id=trade_id,
            )
        )
        return True

    def _emit_update(self, t: Tracked, tokens: Wad | None, error_code: str | None) -> None:
        if self.ctx.sink is None:
            return
        self.ctx.emit(
            TradeUpdate(
                ts=self.ctx.clock.now(),
                trade_id=t.trade_id,
                intent_id=t.intent.intent_id,
                market_id=t.intent.market_id,
                outcome=t.intent.outcome,
                side=t.intent.side,
                amount=t.intent.amount,
                status=t.status,
                tokens=tokens,
                error_code=error_code,
            )
        )

    # ---- polling -----------------------------------------------------------------------------

    def _start_follow(self, t: Tracked) -> None:
        t.task = asyncio.create_task(self._follow(t), name=f"follow-{t.trade_id}")

    async def _follow(self, t: Tracked) -> None:
        """Wait for webhook updates; poll ``get_trade`` when none came for a while (without
        webhooks: poll promptly, backing off)."""
        s = self.ctx.settings
        started = self.ctx.clock.now()
        prompt = s.prompt_poll_s
        wait = s.poll_after_s if prompt is None else prompt
        try:
            while t.trade_id in self.tracked:
                if prompt is not None:  # our own polls are the only news: no early wake-up
                    t.changed.clear()
                    await self.ctx.clock.sleep(wait)
                elif await self._wait_changed(t, wait):
                    wait = s.poll_after_s
                    continue
                if self.ctx.clock.now() - started > s.max_follow_s:
                    # the reconcile loop polls it from now on; the strategy stops waiting
                    log.error("trade_follow_gave_up", trade_id=t.trade_id, status=t.status)
                    self.given_up.add(t.trade_id)
                    self.ctx.work.set()
                    timeout = f"trade {t.trade_id} still {t.status} after {s.max_follow_s:g} s"
                    self.ctx.gate.deny(t.intent, Reason.FOLLOW_TIMEOUT, timeout)
                    return
                await self.refresh(t, None)
                wait = s.poll_interval_s if prompt is None else min(2 * wait, s.poll_interval_s)
        except Exception:  # the trade stays open in the store; recovery picks it up
            log.exception("trade_follow_failed", trade_id=t.trade_id)

    async def _wait_changed(self, t: Tracked, within: float) -> bool:
        if t.changed.is_set():
            t.changed.clear()
            return True
        waiter = asyncio.ensure_future(t.changed.wait())
        sleeper = asyncio.ensure_future(self.ctx.clock.sleep(within))
        try:
            done, _ = await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (waiter, sleeper):
                if not f.done():
                    f.cancel()
        if waiter in done:
            t.changed.clear()
            return True
        return False

    async def poll_given_up(self) -> int:
        """Poll the open trades the follower gave up on; how many are still open."""
        for trade_id in list(self.given_up):
            t = self.tracked.get(trade_id)
            if t is not None:
                await self.refresh(t, None)
            if trade_id not in self.tracked:
                self.given_up.discard(trade_id)
        return len(self.given_up)

    async def poll_open(self) -> int:
        """Poll every trade still followed once (shutdown: the summary counts what the venue
        completed meanwhile); how many are still open."""
        for t in list(self.tracked.values()):
            await self.refresh(t, None)
        return len(self.tracked)

    async def close(self) -> None:
        """Stop following (trades stay open in the store; recovery picks them up)."""
        tasks = [t.task for t in self.tracked.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
