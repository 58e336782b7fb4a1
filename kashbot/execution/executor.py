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

from kashbot import amm
from kashbot.client.errors import (
    ConfirmationExpired,
    ConfirmationTokenUsed,
    InsufficientBalance,
    KashError,
    KashResponseError,
    OutcomeUnknownError,
    RequestDeadlineExceeded,
    SpendingLimitExceeded,
    TradeNotAwaitingConfirmation,
)
from kashbot.client.models import TERMINAL_TRADE_STATUSES, Trade, TradeCreated
from kashbot.clock import Clock, WallClock
from kashbot.events import (
    Event,
    OrderIntent,
    PositionSync,
    Side,
    TradeUpdate,
    TradingState,
)
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


PoolView = Callable[[str], "tuple[amm.Pool, amm.Fees] | None"]
"""The current pool (and its fees) of a market, or None if unknown: the engine's market view."""


class ConfirmHeldError(Exception):
    """``confirm_held`` cannot release the trade (the message says why)."""


class TradeNotHeld(ConfirmHeldError, LookupError):
    """``confirm_held`` on a trade that is not waiting for an operator's confirmation."""


def definite_refusal(exc: KashError) -> bool:
    """Is ``exc`` the venue's verdict on this very request: a 4xx other than 408/429?

    A trade created earlier under the same key would have been replayed instead, so such an
    answer proves nothing was created. A 429 or 503 (limiter, kill switch, platform halt,
    dependency) refuses a request before the venue looks at it, a 5xx or timeout is unknown,
    and a 2xx we could not parse may carry a created trade: none of them says anything about
    an earlier POST.
    """
    if isinstance(exc, OutcomeUnknownError | KashResponseError) or exc.status is None:
        return False
    return 400 <= exc.status < 500 and exc.status not in (408, 429)


def limit_breach(intent: OrderIntent, pool: amm.Pool, fees: amm.Fees) -> str | None:
    """Why sending ``intent`` at ``pool`` would cross its ``limit_probability`` (None: it won't).

    Kash has no slippage field, so this is the only price guard: a buy must leave the outcome's
    chance at or below the limit, a sell at or above it (a REST sell's amount is the USDC it
    pays; the venue burns the fewest tokens that pay it).
    """
    lim = intent.limit_probability
    if lim is None:
        return None
    o = intent.outcome
    try:
        if intent.side is Side.BUY:
            q = amm.probability(amm.buy(pool, o, intent.amount, fees).pool, o)
            return None if q <= lim else f"chance after the buy {q} > limit {lim}"
        tokens = amm.tokens_for_payout(pool, o, intent.amount, fees)
        q = amm.probability(amm.sell(pool, o, tokens, fees).pool, o)
        return None if q >= lim else f"chance after the sell {q} < limit {lim}"
    except amm.AmmError as exc:
        return f"the pool cannot take the trade: {exc}"


@dataclass(slots=True)
class _Tracked:
    trade_id: str
    intent: OrderIntent
    reservation_id: str
    status: str
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    token: str | None = None  # a held 202's single-use confirmation token (memory only)
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Unknown:
    """An intent whose POST may or may not have created a trade."""

    approval: Approval
    last_sent: float  # when a POST for it last came back without an answer


@dataclass(frozen=True, slots=True)
class _NotCreated:
    """Reconciling proved the venue has no trade for the intent (``code``: the reason)."""

    code: Reason
    detail: str


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
        max_intent_age_s: float | None = 10.0,
        unknown_settle_s: float = 120.0,
        pool_view: PoolView | None = None,
    ) -> None:
        """``max_intent_age_s``: an intent older than this (from ``created_ts``, else from its
        approval) is not sent, nor re-sent (None: no limit). ``unknown_settle_s``: after an
        unknown outcome, a complete lookup that misses the trade this long after the last send
        proves it was never created (the venue gives up on a request after 30 s).
        ``pool_view``: the market's current pool, to re-check ``limit_probability`` at send.
        """
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
        self.max_intent_age_s = max_intent_age_s
        self.unknown_settle_s = unknown_settle_s
        self.pool_view = pool_view
        self._tracked: dict[str, _Tracked] = {}
        self._early: dict[str, list[_Update]] = {}  # updates that beat the 201 back to us
        self._unknown: dict[str, _Unknown] = {}  # intents whose outcome is still unknown
        self._given_up: set[str] = set()  # open trades the follower stopped waiting for
        self.work = asyncio.Event()  # set when there is something for the reconcile loop

    # ---- sending -----------------------------------------------------------------------------

    async def execute(self, approval: Approval) -> str | None:
        """Send one approved intent; returns the trade id, or None if no trade exists (yet).

        Raises ``PermissionError`` (nothing persisted, nothing sent) for an approval this
        executor's gate did not mint, or one it already settled or released: a sealed approval
        from another gate would spend headroom this gate never reserved.
        """
        if not self.gate.is_issued(approval):
            raise PermissionError(
                f"approval {approval.reservation_id} was not issued by this gate"
                " or is already settled"
            )
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
            amount_usdc=usdc_str(i.amount),
        )
        hold = self._hold_reason(approval)
        if hold is not None:
            await self._drop(approval, *hold)
            return None
        try:
            created = await self._send(approval)
        except (OutcomeUnknownError, KashResponseError) as exc:
            # the POST may have created the trade (lost answer, or a 2xx we cannot read)
            log.warning("order_outcome_unknown", intent_id=i.intent_id, error=str(exc))
            unknown = _Unknown(approval, self.clock.now())
            self._unknown[i.intent_id] = unknown
            return await self._resolve(unknown, self.reconcile_attempts, first=True)
        except RequestDeadlineExceeded as exc:
            # went stale waiting for the request budget; never sent, so the same as our refusal
            await self._drop(approval, Reason.STALE_INTENT, str(exc))
            return None
        except KashError as exc:
            await self._refused(approval, exc)
            return None
        return await self._accepted(approval, created)

    def _hold_reason(self, approval: Approval) -> tuple[Reason, str] | None:
        """Why this intent must not be sent (or re-sent) now, as (reason code, detail)."""
        if self.gate.state is TradingState.HALTED:
            return Reason.HALTED, self.gate.state_reason
        i = approval.intent
        if self.max_intent_age_s is not None:
            age = self.clock.now() - (i.created_ts or approval.approved_at)
            if age > self.max_intent_age_s:
                return Reason.STALE_INTENT, f"{age:.1f} s old > max {self.max_intent_age_s:g} s"
        if self.pool_view is not None and i.limit_probability is not None:
            view = self.pool_view(i.market_id)
            why = None if view is None else limit_breach(i, *view)
            if why is not None:
                return Reason.LIMIT_BREACHED, why
        return None

    async def _resolve(
        self, unknown: _Unknown, attempts: int, *, first: bool = False
    ) -> str | None:
        """Reconcile one unknown intent; the trade id if found, None if gone or still unknown."""
        approval = unknown.approval
        try:
            outcome = await self._reconcile(unknown, attempts)
        except KashError as refusal:
            await self._refused(approval, refusal)
            return None
        if isinstance(outcome, _NotCreated):
            await self._drop(approval, outcome.code, outcome.detail)
            return None
        if outcome is None:
            if first:
                log.error(
                    "order_outcome_still_unknown",
                    intent_id=approval.intent.intent_id,
                    idempotency_key=approval.idempotency_key,
                )
            self.work.set()
            return None
        return await self._accepted(approval, outcome)

    async def _send(self, approval: Approval) -> TradeCreated:
        """POST the intent; the venue sends nothing once it is older than ``max_intent_age_s``
        (the request budget's wait happens inside the client, after ``_hold_reason``)."""
        i = approval.intent
        not_after = None
        if self.max_intent_age_s is not None:
            not_after = (i.created_ts or approval.approved_at) + self.max_intent_age_s
        return await self.venue.create_trade(
            i.market_id,
            i.outcome,
            "buy" if i.side is Side.BUY else "sell",
            usdc_str(i.amount),
            client_request_id=i.intent_id,
            metadata=trade_metadata(i),
            idempotency_key=approval.idempotency_key,
            not_after=not_after,
        )

    async def _reconcile(
        self, unknown: _Unknown, attempts: int
    ) -> TradeCreated | Trade | _NotCreated | None:
        """After an unknown outcome: look the trade up, else replay under the same key.

        Raises the venue's error if a replay is definitely refused (then nothing was created);
        an answer given before the venue looked (429, 503) proves nothing and is retried. No
        replay while halted or once the intent is stale or past its limit (it could create
        the trade for the first time): then only a lookup can settle it. None: still unknown.
        """
        approval = unknown.approval
        i = approval.intent
        for attempt in range(attempts):
            if attempt:
                await self.clock.sleep(self.reconcile_backoff_s * 2 ** (attempt - 1))
            try:
                found, complete = await self._lookup(i)
            except KashError as exc:
                log.warning("reconcile_lookup_failed", intent_id=i.intent_id, error=str(exc))
                continue
            hold = self._hold_reason(approval)
            if found is not None and (
                hold is not None or not (found.awaiting_confirmation and approval.auto_confirm)
            ):
                log.info("reconcile_found", intent_id=i.intent_id, trade_id=found.id)
                return found
            quiet = self.clock.now() - unknown.last_sent
            if found is None and complete and quiet >= self.unknown_settle_s:
                return _NotCreated(
                    Reason.OUTCOME_NOT_FOUND,
                    f"no trade with clientRequestId {i.intent_id}"
                    f" {quiet:.0f} s after the last send",
                )
            if hold is not None:
                log.info("reconcile_lookup_only", intent_id=i.intent_id, reason=hold[0])
                continue
            # Not found (or found awaiting a token we never saw): the same key and body either
            # returns the original response or creates the trade once.
            try:
                created = await self._send(approval)
            except (OutcomeUnknownError, KashResponseError) as exc:
                log.warning("reconcile_replay_unknown", intent_id=i.intent_id, error=str(exc))
                continue
            except KashError as exc:
                if definite_refusal(exc):
                    raise
                log.warning(
                    "reconcile_replay_not_looked_at",
                    intent_id=i.intent_id,
                    code=exc.code,
                    status=exc.status,
                )
                self._note_halt(exc)
                continue
            finally:
                unknown.last_sent = self.clock.now()
            log.info(
                "reconcile_replayed",
                intent_id=i.intent_id,
                trade_id=created.trade.id,
                idempotent_replay=created.idempotent_replay,
            )
            return created
        return None

    async def find_trade(self, intent: OrderIntent) -> Trade | None:
        """Our trade by ``clientRequestId`` (= intent id) in the market's recent trades."""
        return (await self._lookup(intent))[0]

    async def _lookup(self, intent: OrderIntent) -> tuple[Trade | None, bool]:
        """(our trade or None, whether the market's whole trade list was searched)."""
        cursor: str | None = None
        for _ in range(self.reconcile_pages):
            page = await self.venue.list_trades(
                market_id=intent.market_id, limit=100, cursor=cursor
            )
            for t in page.data:
                if t.client_request_id == intent.intent_id:
                    return t, True
            if not page.has_more or page.cursor is None:
                return None, True
            cursor = page.cursor
        return None, False

    async def _drop(self, approval: Approval, code: Reason, detail: str) -> None:
        """Not sent, or proven never created, for a reason of our own: release and deny.

        The denial goes through the gate, like its own: one log line, one ``RiskDenied``, and
        the gate's ``recent_denials`` (the status view) list it.
        """
        await self._release_unsent(approval, f"{code}: {detail}")
        self.gate.record_denial(Denial(approval.intent, code, detail))

    async def _release_unsent(self, approval: Approval, detail: str) -> None:
        """No trade exists for the intent: free its reservation and stop reconciling it."""
        self.gate.release(approval)
        await self.store.record_refused(
            approval.intent.intent_id, approval.reservation_id, self.clock.now(), detail
        )
        self._unknown.pop(approval.intent.intent_id, None)

    async def _refused(self, approval: Approval, exc: KashError) -> None:
        """The venue did not create the trade: release, record, and let the gate react."""
        i = approval.intent
        code = exc.code or type(exc).__name__
        await self._release_unsent(approval, f"{code}: {exc.detail or ''}")
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

    def _note_halt(self, exc: KashError) -> None:
        """A halting code counts against the gate wherever it turns up, not only on a send."""
        if exc.code in HALT_CODES:
            self.gate.record_failure(exc.code or "", retry_after=exc.retry_after)

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
            amount=i.amount,
            amount_usdc=usdc_str(i.amount),
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
            amount_usdc=usdc_str(t.intent.amount),
            ceiling=self.gate.limits.auto_confirm_ceiling,
            ceiling_usdc=usdc_str(self.gate.limits.auto_confirm_ceiling),
        )

    async def confirm_held(self, trade_id: str) -> str:
        """Operator release of a held 202 trade; returns the trade's status afterwards.

        Raises :class:`TradeNotHeld` if we hold no confirmation token for it, and
        :class:`ConfirmHeldError` while trading is halted (nothing leaves during a halt).
        """
        t = self._tracked.get(trade_id)
        if t is None or t.token is None:
            raise TradeNotHeld(
                f"trade {trade_id} is not held for confirmation: unknown, finished, already"
                " confirmed, or held before a restart (tokens are kept in memory only)"
            )
        if self.gate.state is TradingState.HALTED:
            raise ConfirmHeldError(
                f"trade {trade_id} stays held: trading is HALTED ({self.gate.state_reason});"
                " resume first"
            )
        await self._confirm(t)
        return t.status

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
            self._note_halt(exc)
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
        before, t.status = t.status, upd.status
        if is_terminal(upd.status):
            await self._finish(t, upd, before)
        else:
            await self.store.upsert_trade(
                self._record(t.trade_id, t.intent, upd.status, None, None, self.clock.now())
            )
            self._emit_update(t, upd.tokens_out, upd.error_code)
        t.changed.set()
        return True

    async def _finish(self, t: _Tracked, upd: _Update, before: str | None = None) -> None:
        """``before``: the status the trade had just before this terminal one, if known."""
        now = self.clock.now()
        completed = t.status == "completed"
        sell = t.intent.side is Side.SELL
        tokens = upd.tokens_in if sell else upd.tokens_out
        self.gate.settle(
            t.reservation_id, side=t.intent.side, amount=t.intent.amount, completed=completed
        )
        if completed:
            self.gate.record_success()
        # A gated trade that ended before it was confirmed never executed: the venue refunds
        # its cap, so its daily draw comes back too (it would otherwise block buys for 24 h).
        refunded = not completed and (
            before == "pending_confirmation" or upd.error_code == "CONFIRMATION_EXPIRED"
        )
        if refunded and self.gate.ledger.get(t.reservation_id) is not None:
            self.gate.ledger.release(t.reservation_id)
            await self.store.delete_spend([t.reservation_id])
            log.info("daily_draw_released", trade_id=t.trade_id, status=t.status)
        await self.store.upsert_trade(
            self._record(t.trade_id, t.intent, t.status, tokens, upd.error_code, now)
        )
        await self.store.update_intent(t.intent.intent_id, DONE, now)
        self._tracked.pop(t.trade_id, None)
        self._given_up.discard(t.trade_id)
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
                    # the reconcile loop polls it from now on; the strategy stops waiting
                    log.error("trade_follow_gave_up", trade_id=t.trade_id, status=t.status)
                    self._given_up.add(t.trade_id)
                    self.work.set()
                    timeout = f"trade {t.trade_id} still {t.status} after {self.max_follow_s:g} s"
                    self.gate.record_denial(Denial(t.intent, Reason.FOLLOW_TIMEOUT, timeout))
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
        """One reconcile attempt per intent whose outcome is unknown; how many remain so."""
        for unknown in list(self._unknown.values()):
            if self._unknown.get(unknown.approval.intent.intent_id) is unknown:
                await self._resolve(unknown, 1)
        return len(self._unknown)

    async def poll_given_up(self) -> int:
        """Poll the open trades the follower gave up on; how many are still open."""
        for trade_id in list(self._given_up):
            t = self._tracked.get(trade_id)
            if t is not None:
                await self._refresh(t, None)
            if trade_id not in self._tracked:
                self._given_up.discard(trade_id)
        return len(self._given_up)

    @property
    def has_work(self) -> bool:
        """Anything for the reconcile loop: unknown outcomes or trades no follower waits on."""
        return bool(self._unknown or self._given_up)

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
