"""The executor: the only code that calls ``create_trade`` / ``confirm_trade``.

Order of operations for one approved intent (crash-only; each step is on disk before the next):

1. persist the intent, its Idempotency-Key and its ledger reservation;
2. ``create_trade`` with that key and ``clientRequestId = intent_id``;
3. 201/202 → commit the reservation, persist the trade, follow it to a terminal state
   (webhook updates via ``on_trade_update``, ``get_trade`` polling after a quiet period);
   202 → confirm automatically up to the ceiling, otherwise hold and alert;
4. a definite refusal → release the reservation and tell the gate (halt, reduce, denial);
5. outcome unknown → reconcile before anything else: find the trade by ``clientRequestId``,
   else replay with the *same* key and body (the venue answers a replay with the original
   result), so an order is never submitted twice.

Sells: Kash's trade resource and webhook carry ``tokensOut`` only (set on buys); how many tokens
a sell burned is not reported (kash-api.md §18 item 3). When an update does carry the count (the
simulator's ``tokensIn`` extension) it is used; otherwise, after a completed sell and after a sell
refused or failed for ``INSUFFICIENT_BALANCE``, the executor reads the venue's position in that
outcome and emits a ``PositionSync`` before the trade's final ``TradeUpdate``: the venue is the
source of truth for inventory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from kashbot.client.errors import (
    ConfirmationExpired,
    ConfirmationTokenUsed,
    InsufficientBalance,
    KashError,
    OutcomeUnknownError,
    SpendingLimitExceeded,
    TradeNotAwaitingConfirmation,
)
from kashbot.client.models import TERMINAL_TRADE_STATUSES, Trade, TradeCreated
from kashbot.clock import Clock, WallClock
from kashbot.engine.events import Event, OrderIntent, PositionSync, Side, TradeUpdate
from kashbot.execution.venue import TradingVenue
from kashbot.money import Atomic, Wad, usdc_str
from kashbot.risk.gate import HALT_CODES, UNTRADEABLE_CODES, Approval, Denial, Reason, RiskGate
from kashbot.store.store import (
    ACCEPTED,
    APPROVED,
    DONE,
    IntentRecord,
    Store,
    TradeRecord,
)

log = structlog.get_logger("kashbot.execution")

_RANK = {"pending_confirmation": 0, "pending": 1, "validating": 2, "executing": 3}
_TERMINAL_RANK = 10


def status_rank(status: str) -> int:
    """Lifecycle order; updates that would move a trade backwards are stale and ignored."""
    return _TERMINAL_RANK if status in TERMINAL_TRADE_STATUSES else _RANK.get(status, 1)


def is_terminal(status: str) -> bool:
    return status in TERMINAL_TRADE_STATUSES


def sold_tokens(trade: Trade) -> Wad | None:
    """Tokens a completed sell burned, if the trade resource says (the simulator's ``tokensIn``).

    Kash documents no such field; the client's ``Trade`` model keeps only documented fields, so
    this is None until the model carries ``tokens_in`` — then the position sync is skipped.
    """
    value = getattr(trade, "tokens_in", None)
    return value if isinstance(value, int) else None


def trade_metadata(intent: OrderIntent) -> dict[str, str]:
    """Echoed on the trade and every webhook, so events route without a lookup.

    Deterministic in the intent: a replay must send byte-identical bodies.
    """
    return {"kb_intent": intent.intent_id, "kb_strategy": intent.strategy[:500]}


@dataclass(slots=True)
class _Tracked:
    trade_id: str
    intent: OrderIntent
    reservation_id: str
    status: str
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    token: str | None = None  # a held 202's single-use confirmation token (memory only)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class _Update:
    status: str
    tokens_out: Wad | None
    error_code: str | None
    tokens_in: Wad | None = None  # tokens a sell burned, when the source reports them

    @classmethod
    def of(cls, trade: Trade) -> _Update:
        return cls(trade.status, trade.tokens_out, trade.error_code, sold_tokens(trade))


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
        poll_after_s: float = 30.0,
        poll_interval_s: float = 10.0,
        max_follow_s: float = 3600.0,
        reconcile_attempts: int = 3,
        reconcile_backoff_s: float = 1.0,
        reconcile_pages: int = 5,
    ) -> None:
        self.venue = venue
        self.gate = gate
        self.store = store
        self.clock: Clock = clock or WallClock()
        self._emit = emit
        self.poll_after_s = poll_after_s
        self.poll_interval_s = poll_interval_s
        self.max_follow_s = max_follow_s
        self.reconcile_attempts = reconcile_attempts
        self.reconcile_backoff_s = reconcile_backoff_s
        self.reconcile_pages = reconcile_pages
        self._tracked: dict[str, _Tracked] = {}
        self._early: dict[str, list[_Update]] = {}  # updates that beat the 201 back to us
        self._unknown: dict[str, Approval] = {}  # intents whose outcome is still unknown

    # ---- sending -----------------------------------------------------------------------------

    async def execute(self, approval: Approval) -> str | None:
        """Send one approved intent; returns the trade id, or None if no trade exists (yet)."""
        i = approval.intent
        now = self.clock.now()
        rec = IntentRecord(
            intent=i,
            idempotency_key=approval.idempotency_key,
            reservation_id=approval.reservation_id,
            daily_draw=approval.daily_draw,
            exposure=approval.exposure,
            status=APPROVED,
            updated_ts=now,
        )
        try:
            await self.store.save_intent(rec, self.gate.ledger.get(approval.reservation_id))
        except BaseException:
            self.gate.release(approval)
            raise
        log.info(
            "order_sending",
            intent_id=i.intent_id,
            strategy=i.strategy,
            market_id=i.market_id,
            outcome=i.outcome,
            side=str(i.side),
            amount=i.amount,
        )
        try:
            created: TradeCreated | Trade | None = await self._send(approval)
        except OutcomeUnknownError as exc:
            log.warning("order_outcome_unknown", intent_id=i.intent_id, error=str(exc))
            try:
                created = await self._reconcile(approval)
            except KashError as refusal:
                await self._refused(approval, refusal)
                return None
        except KashError as exc:
            await self._refused(approval, exc)
            return None
        if created is None:
            self._unknown[i.intent_id] = approval
            log.error(
                "order_outcome_still_unknown",
                intent_id=i.intent_id,
                idempotency_key=approval.idempotency_key,
            )
            return None
        return await self._accepted(approval, created)

    async def _send(self, approval: Approval) -> TradeCreated:
        i = approval.intent
        return await self.venue.create_trade(
            i.market_id,
            i.outcome,
            "buy" if i.side is Side.BUY else "sell",
            usdc_str(i.amount),
            client_request_id=i.intent_id,
            metadata=trade_metadata(i),
            idempotency_key=approval.idempotency_key,
        )

    async def _reconcile(self, approval: Approval) -> TradeCreated | Trade | None:
        """After an unknown outcome: look the trade up, else replay under the same key.

        Raises the venue's error if a replay is definitely refused (then nothing was created).
        """
        for attempt in range(self.reconcile_attempts):
            if attempt:
                await self.clock.sleep(self.reconcile_backoff_s * 2 ** (attempt - 1))
            try:
                found = await self.find_trade(approval.intent)
            except KashError as exc:
                log.warning(
                    "reconcile_lookup_failed", intent_id=approval.intent.intent_id, error=str(exc)
                )
                continue
            if found is not None and not (found.awaiting_confirmation and approval.auto_confirm):
                log.info("reconcile_found", intent_id=approval.intent.intent_id, trade_id=found.id)
                return found
            # Not found (or found awaiting a token we never saw): the same key and body either
            # returns the original response or creates the trade once.
            try:
                created = await self._send(approval)
            except OutcomeUnknownError:
                continue
            log.info(
                "reconcile_replayed",
                intent_id=approval.intent.intent_id,
                trade_id=created.trade.id,
                idempotent_replay=created.idempotent_replay,
            )
            return created
        return None

    async def find_trade(self, intent: OrderIntent) -> Trade | None:
        """Our trade by ``clientRequestId`` (= intent id) in the market's recent trades."""
        cursor: str | None = None
        for _ in range(self.reconcile_pages):
            page = await self.venue.list_trades(
                market_id=intent.market_id, limit=100, cursor=cursor
            )
            for t in page.data:
                if t.client_request_id == intent.intent_id:
                    return t
            if not page.has_more or page.cursor is None:
                return None
            cursor = page.cursor
        return None

    async def _refused(self, approval: Approval, exc: KashError) -> None:
        """The venue did not create the trade: release, record, and let the gate react."""
        i = approval.intent
        code = exc.code or type(exc).__name__
        self.gate.release(approval)
        await self.store.record_refused(
            i.intent_id, approval.reservation_id, self.clock.now(), f"{code}: {exc.detail or ''}"
        )
        self._unknown.pop(i.intent_id, None)
        if isinstance(exc, SpendingLimitExceeded):
            reason = Reason.VENUE_SPENDING_LIMIT
            self.gate.on_spending_limit(exc.cap, i.amount)
        elif isinstance(exc, InsufficientBalance):
            reason = Reason.VENUE_INSUFFICIENT_BALANCE
            if i.side is Side.BUY:  # no USDC: stop buying; a sell's shortfall is its position
                self.gate.record_failure(code)
        elif code in UNTRADEABLE_CODES:
            reason = Reason.MARKET_NOT_TRADEABLE
            self.gate.mark_untradeable(i.market_id)
        elif code in HALT_CODES:
            reason = Reason.HALTED
            self.gate.record_failure(code, retry_after=exc.retry_after)
        else:
            reason = Reason.VENUE_REJECTED
            self.gate.record_failure(code)
        self.gate.record_denial(Denial(i, reason, code))
        if i.side is Side.SELL and reason is Reason.VENUE_INSUFFICIENT_BALANCE:
            await self.sync_position(i)  # we hold less than we thought: learn how much

    async def _accepted(self, approval: Approval, created: TradeCreated | Trade) -> str:
        trade = created.trade if isinstance(created, TradeCreated) else created
        token = (
            created.confirmation.token
            if isinstance(created, TradeCreated) and created.confirmation is not None
            else None
        )
        i = approval.intent
        now = self.clock.now()
        entry = self.gate.commit(approval, now)
        self._unknown.pop(i.intent_id, None)
        terminal = is_terminal(trade.status)
        await self.store.record_accepted(
            self._record(trade.id, i, trade.status, trade.tokens_out, trade.error_code, now),
            entry,
            now,
            intent_status=DONE if terminal else ACCEPTED,
        )
        log.info(
            "order_accepted",
            intent_id=i.intent_id,
            trade_id=trade.id,
            status=trade.status,
            http_status=getattr(created, "status_code", None),
        )
        t = _Tracked(trade.id, i, approval.reservation_id, trade.status, token=token)
        self._tracked[trade.id] = t
        if terminal:
            await self._finish(t, _Update.of(trade))
            return trade.id
        self._emit_update(t, trade.tokens_out, trade.error_code)
        for upd in self._early.pop(trade.id, []):
            await self._apply(t, upd)
        if trade.id not in self._tracked:  # an early update finished it
            return trade.id
        if t.status == "pending_confirmation" and token is not None:
            if approval.auto_confirm:
                await self._confirm(t)
            else:
                self._hold(t)
        if trade.id in self._tracked:
            self._start_follow(t)
        return trade.id

    def _hold(self, t: _Tracked) -> None:
        log.warning(
            "trade_held_for_confirmation",
            alert=True,
            trade_id=t.trade_id,
            intent_id=t.intent.intent_id,
            amount=t.intent.amount,
            ceiling=self.gate.limits.auto_confirm_ceiling,
        )

    async def confirm_held(self, trade_id: str) -> bool:
        """Operator release of a held 202 trade; False if there is no token to use."""
        t = self._tracked.get(trade_id)
        if t is None or t.token is None:
            return False
        await self._confirm(t)
        return True

    async def _confirm(self, t: _Tracked) -> None:
        token, t.token = t.token, None  # single use, whatever happens next
        if token is None:
            return
        try:
            trade = await self.venue.confirm_trade(t.trade_id, token)
        except TradeNotAwaitingConfirmation as exc:
            fetched = exc.trade if isinstance(exc.trade, Trade) else None
            await self._refresh(t, fetched)
            return
        except ConfirmationExpired:
            await self._apply(t, _Update("cancelled", None, "CONFIRMATION_EXPIRED"))
            return
        except ConfirmationTokenUsed:
            await self._refresh(t, None)
            return
        except KashError as exc:
            log.error("confirm_failed", trade_id=t.trade_id, code=exc.code, error=str(exc))
            if exc.code in HALT_CODES:
                self.gate.record_failure(exc.code or "", retry_after=exc.retry_after)
            await self._refresh(t, None)
            return
        log.info("trade_confirmed", trade_id=t.trade_id, status=trade.status)
        await self._apply(t, _Update.of(trade))

    async def _refresh(self, t: _Tracked, trade: Trade | None) -> None:
        if trade is None:
            try:
                trade = await self.venue.get_trade(t.trade_id)
            except KashError as exc:
                log.warning("trade_refresh_failed", trade_id=t.trade_id, error=str(exc))
                return
        await self._apply(t, _Update.of(trade))

    # ---- following ---------------------------------------------------------------------------

    async def on_trade_update(
        self,
        trade_id: str,
        status: str,
        *,
        tokens_out: Wad | None = None,
        error_code: str | None = None,
        tokens_in: Wad | None = None,
    ) -> bool:
        """A webhook (or any other source) saw our trade move; True if it changed our view.

        ``tokens_in``: tokens a completed sell burned, if the source reports them.
        """
        upd = _Update(status, tokens_out, error_code, tokens_in)
        t = self._tracked.get(trade_id)
        if t is None:
            rec = await self.store.get_trade(trade_id)
            t = self._tracked.get(trade_id)  # the 201 may have been handled meanwhile
            if t is None:
                if rec is not None and rec.terminal:
                    return False  # known and already finished
                # not ours yet: the webhook beat the 201 back (or recovery has not adopted it)
                if trade_id not in self._early and len(self._early) >= 1000:
                    self._early.pop(next(iter(self._early)))
                self._early.setdefault(trade_id, []).append(upd)
                return False
        return await self._apply(t, upd)

    async def _apply(self, t: _Tracked, upd: _Update) -> bool:
        if self._tracked.get(t.trade_id) is not t:
            return False
        if (
            is_terminal(t.status)
            or upd.status == t.status
            or status_rank(upd.status) < status_rank(t.status)
        ):
            return False  # finished already, a duplicate, or a stale (out-of-order) update
        t.status = upd.status
        if is_terminal(upd.status):
            await self._finish(t, upd)
        else:
            await self.store.upsert_trade(
                self._record(t.trade_id, t.intent, upd.status, None, None, self.clock.now())
            )
            self._emit_update(t, upd.tokens_out, upd.error_code)
        t.changed.set()
        return True

    async def _finish(self, t: _Tracked, upd: _Update) -> None:
        now = self.clock.now()
        completed = t.status == "completed"
        sell = t.intent.side is Side.SELL
        tokens = upd.tokens_in if sell else upd.tokens_out
        self.gate.settle(
            t.reservation_id, side=t.intent.side, amount=t.intent.amount, completed=completed
        )
        if completed:
            self.gate.record_success()
        await self.store.upsert_trade(
            self._record(t.trade_id, t.intent, t.status, tokens, upd.error_code, now)
        )
        await self.store.update_intent(t.intent.intent_id, DONE, now)
        self._tracked.pop(t.trade_id, None)
        log.info(
            "trade_finished",
            trade_id=t.trade_id,
            intent_id=t.intent.intent_id,
            status=t.status,
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
            rows = await self.venue.list_positions(intent.market_id)
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
        if self._emit is not None:
            self._emit(
                PositionSync(
                    ts=self.clock.now(),
                    market_id=intent.market_id,
                    outcome=intent.outcome,
                    shares=shares,
                    cost=cost,
                    trade_id=trade_id,
                )
            )
        return True

    def _start_follow(self, t: _Tracked) -> None:
        t.task = asyncio.create_task(self._follow(t), name=f"follow-{t.trade_id}")

    async def _follow(self, t: _Tracked) -> None:
        """Wait for webhook updates; poll ``get_trade`` when none came for a while."""
        started = self.clock.now()
        wait = self.poll_after_s
        try:
            while t.trade_id in self._tracked:
                if await self._wait_changed(t, wait):
                    wait = self.poll_after_s
                    continue
                if self.clock.now() - started > self.max_follow_s:
                    log.error("trade_follow_gave_up", trade_id=t.trade_id, status=t.status)
                    return
                await self._refresh(t, None)
                wait = self.poll_interval_s
        except Exception:  # the trade stays open in the store; recovery picks it up
            log.exception("trade_follow_failed", trade_id=t.trade_id)

    async def _wait_changed(self, t: _Tracked, within: float) -> bool:
        if t.changed.is_set():
            t.changed.clear()
            return True
        waiter = asyncio.ensure_future(t.changed.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(within))
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

    async def adopt(
        self, trade_id: str, intent: OrderIntent, reservation_id: str, trade: Trade | None
    ) -> bool:
        """Follow a trade found at recovery; False if it had already ended (it is settled now).

        ``trade`` is the venue's current view, or None if it could not be fetched (then the
        follower polls for it).
        """
        status = trade.status if trade is not None else "pending"
        t = _Tracked(trade_id, intent, reservation_id, status)
        self._tracked[trade_id] = t
        if is_terminal(status):
            assert trade is not None
            await self._finish(t, _Update.of(trade))
            return False
        for upd in self._early.pop(trade_id, []):
            await self._apply(t, upd)
        if trade_id not in self._tracked:
            return False
        self._start_follow(t)
        return True

    async def reconcile_unknown(self) -> int:
        """Retry intents whose outcome is still unknown; returns how many remain unknown."""
        for approval in list(self._unknown.values()):
            try:
                created = await self._reconcile(approval)
            except KashError as exc:
                await self._refused(approval, exc)
                continue
            if created is not None:
                await self._accepted(approval, created)
        return len(self._unknown)

    def open_trades(self) -> list[tuple[str, str, str]]:
        """(trade id, intent id, status) of every trade still followed."""
        return [(t.trade_id, t.intent.intent_id, t.status) for t in self._tracked.values()]

    def held_trades(self) -> list[str]:
        return [t.trade_id for t in self._tracked.values() if t.token is not None]

    @property
    def unknown_intents(self) -> list[str]:
        return list(self._unknown)

    async def close(self) -> None:
        """Stop following (trades stay open in the store; recovery picks them up)."""
        tasks = [t.task for t in self._tracked.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- helpers -----------------------------------------------------------------------------

    def _record(
        self,
        trade_id: str,
        i: OrderIntent,
        status: str,
        tokens: Wad | None,
        error_code: str | None,
        now: float,
    ) -> TradeRecord:
        return TradeRecord(
            trade_id=trade_id,
            intent_id=i.intent_id,
            market_id=i.market_id,
            outcome=i.outcome,
            side=i.side,
            amount=i.amount,
            status=status,
            terminal=is_terminal(status),
            tokens=tokens,
            error_code=error_code,
            updated_ts=now,
        )

    def _emit_update(self, t: _Tracked, tokens: Wad | None, error_code: str | None) -> None:
        if self._emit is None:
            return
        amount: Atomic = t.intent.amount
        self._emit(
            TradeUpdate(
                ts=self.clock.now(),
                trade_id=t.trade_id,
                intent_id=t.intent.intent_id,
                market_id=t.intent.market_id,
                outcome=t.intent.outcome,
                side=t.intent.side,
                amount=amount,
                status=t.status,
                tokens=tokens,
                error_code=error_code,
            )
        )
