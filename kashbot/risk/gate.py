"""The risk gate: one door for every order intent, and the only minter of ``Approval``.

``RiskGate.check`` takes a snapshot (its exposure book, the daily ledger, its own in-flight
reservations), runs the pure :func:`~kashbot.risk.rules.evaluate` and reserves headroom without
awaiting in between, so on one event loop any number of concurrent intents are serialised and
can never overspend. The gate also owns the trading state (ACTIVE / REDUCING / HALTED) and
reacts to the venue errors the executor hands it, by their type (``kashbot.client.errors``
markers): halting errors halt (a platform halt until ``Retry-After``), a balance shortfall
reduces, an untradeable market is marked, repeated failures halt. Every denial is one structlog
line and one ``RiskDenied`` event.

The executor and the router talk to it through a small API: ``check`` → ``Approval`` | ``Denial``;
``reservation`` / ``commit`` / ``release`` / ``settle`` / ``release_draw`` by approval or
reservation id; ``deny`` / ``refused`` / ``note_error`` / ``record_success`` for what happened;
``restore_spend`` / ``commit_recovered`` / ``adopt_spend`` / ``spend_ids`` at recovery; ``status``.
The spend ledger and the exposure book are the gate's own.

Exposure (cost basis at risk per market, settled plus in flight) is :mod:`kashbot.risk.exposure`'s;
the gate feeds it approvals and settlements, and ``observe`` (subscribe it to ``TradeUpdate`` and
``PositionSync``) feeds it fills and venue syncs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import structlog

from kashbot.client.errors import (
    HaltsTrading,
    KashError,
    MarketUntradeable,
    ReducesOnly,
    SpendingLimitExceeded,
)
from kashbot.client.pin_checks import pin_halt_reason
from kashbot.clock import Clock, WallClock
from kashbot.events import (
    Event,
    MarketSnapshot,
    OrderIntent,
    PositionRedeemed,
    PositionSync,
    Side,
    TradeUpdate,
    TradingState,
    TradingStateChanged,
)
from kashbot.lifecycle import Phase
from kashbot.money import Atomic
from kashbot.risk.approval import Approval, mint, reservation_for
from kashbot.risk.denials import denial_event, log_denial
from kashbot.risk.exposure import Exposure
from kashbot.risk.ledger import NoMirror, SpendEntry, SpendLedger, SpendMirror
from kashbot.risk.limits import Limits
from kashbot.risk.markets import MarketFlags
from kashbot.risk.rules import (
    Denial,
    Reason,
    RiskSnapshot,
    draws_daily_cap,
    evaluate,
    reduces_exposure,
)
from kashbot.risk.venue_errors import reaction

__all__ = [
    "GATE_EVENTS",
    "Approval",
    "Decision",
    "Denial",
    "Reason",
    "RiskGate",
    "RiskSnapshot",
    "draws_daily_cap",
    "evaluate",
    "reduces_exposure",
    "reservation_for",
]

log = structlog.get_logger("kashbot.risk")

Decision = Approval | Denial

# What ``RiskGate.observe`` must hear: the engine subscribes it to each (``attach_risk``).
GATE_EVENTS: tuple[type[Event], ...] = (TradeUpdate, PositionSync, MarketSnapshot, PositionRedeemed)


class RiskGate:
    """Stateful shell around :func:`evaluate`: snapshot, reserve, react, emit."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Clock | None = None,
        emit: Callable[[Event], None] | None = None,
        ledger: SpendLedger | None = None,
        max_consecutive_failures: int = 5,
    ) -> None:
        if max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")
        self.limits = limits
        self.clock: Clock = clock or WallClock()
        self.ledger = ledger or SpendLedger()
        self.spend_mirror: SpendMirror = NoMirror()  # a shared ledger hears commits/releases
        self._emit = emit
        self.max_consecutive_failures = max_consecutive_failures
        self._state = TradingState.ACTIVE
        self._state_reason = ""
        self._halt_until: float | None = None
        self._resume_to = TradingState.ACTIVE
        self._failures = 0
        self.markets = MarketFlags()  # stale, refused by the venue, lifecycle
        self.fair_value_stale: frozenset[str] = frozenset()
        self._known: dict[str, None] = {}  # a dict for its read-only keys() view
        self.exposure = Exposure()  # settled (a portfolio) + in flight, per market
        self._issued: dict[str, Approval] = {}  # reservation id -> the open Approval minted
        self.recent_denials: list[Denial] = []

    # ---- state -------------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        self._maybe_auto_resume(self.clock.now())
        return self._state

    @property
    def state_reason(self) -> str:
        return self._state_reason

    def halt(self, reason: str, *, until: float | None = None) -> None:
        """Kill switch: nothing leaves until ``resume()`` (or ``until``, for a platform halt)."""
        if self._state is not TradingState.HALTED:
            self._resume_to = self._state if until is not None else TradingState.ACTIVE
        self._halt_until = until
        self._set_state(TradingState.HALTED, reason)

    def reduce(self, reason: str, *, operator: bool = False) -> None:
        """Only sells pass until ``resume()`` (a buy never reduces exposure on Kash). A halt stays
        unless ``operator`` (``kashbot reduce`` lifts it), but a venue halt window: ValueError."""
        if self.state is TradingState.HALTED and (not operator or self._halt_until is not None):
            self._resume_to = TradingState.REDUCING  # what follows a venue halt window
            if operator:
                raise ValueError(f"the venue halted trading ({self._state_reason}); REDUCING after")
            return
        self._set_state(TradingState.REDUCING, reason)

    def resume(self, reason: str = "manual resume") -> None:
        self._halt_until = None
        self._failures = 0
        self._set_state(TradingState.ACTIVE, reason)

    def _set_state(self, new: TradingState, reason: str) -> None:
        old = self._state
        self._state = new
        self._state_reason = reason
        if old is new:
            return
        log.warning("trading_state_changed", old=str(old), new=str(new), reason=reason)
        if self._emit is not None:
            self._emit(TradingStateChanged(ts=self.clock.now(), old=old, new=new, reason=reason))

    def _maybe_auto_resume(self, now: float) -> None:
        if (
            self._state is TradingState.HALTED
            and self._halt_until is not None
            and now >= self._halt_until
        ):
            self._halt_until = None
            self._set_state(self._resume_to, "platform halt window passed")

    def mark_stale(self, market_id: str) -> None:
        self.markets.stale.add(market_id)

    def mark_fresh(self, market_id: str) -> None:
        self.markets.stale.discard(market_id)

    def set_fair_value_stale(self, markets: frozenset[str]) -> None:
        """The markets whose fair value is stale (``FairValueHub``'s ``on_stale_change``)."""
        self.fair_value_stale = markets

    def mark_untradeable(self, market_id: str) -> None:
        self.markets.untradeable[market_id] = self.clock.now()

    def mark_tradeable(self, market_id: str) -> None:
        self.markets.untradeable.pop(market_id, None)

    def observe_market(self, snap: MarketSnapshot) -> None:
        """The venue's word on a market's life (a refused market recovers on a later OPEN)."""
        self.markets.observe(snap, self.limits.freeze_margin_s)

    def phase(self, market_id: str, now: float | None = None) -> Phase:
        """The market's lifecycle phase as the gate judges it (UNKNOWN: never told)."""
        t = self.clock.now() if now is None else now
        return self.markets.phase(market_id, t, self.limits.freeze_margin_s)

    # ---- exposure and intents known from the store / venue -----------------------------------

    def set_market_exposure(self, exposure: Mapping[str, Atomic]) -> None:
        """Settled exposure per market (cost basis of open positions), e.g. from the venue.

        Per-outcome positions seen before are forgotten: these totals replace them.
        """
        self.exposure.reset(exposure)

    def restore_spend(self, entries: Iterable[SpendEntry], now: float) -> list[str]:
        """Reload the daily ledger (recovery); the ids of entries already out of the window."""
        self.ledger.restore(entries)
        gone = self.ledger.prune(now)
        self.spend_mirror.restored(self.ledger.entries())
        return gone

    def commit_recovered(self, reservation_id: str, draw: Atomic, now: float) -> SpendEntry:
        """An approved intent the venue did create while we were down: its draw counts now."""
        if self.ledger.get(reservation_id) is None:
            self.ledger.reserve(reservation_id, draw, now)
        entry = self.ledger.commit(reservation_id, now)
        self.spend_mirror.committed(entry)
        return entry

    def adopt_spend(self, entry_id: str, amount: Atomic, ts: float) -> SpendEntry:
        """A buy on this key the ledger lacks (another process, a human): it counts from ``ts``."""
        self.ledger.reserve(entry_id, amount, ts)
        return self.ledger.commit(entry_id, ts)

    def spend_ids(self) -> set[str]:
        """Ids of every entry on the daily ledger (reservations included)."""
        return {e.entry_id for e in self.ledger.entries()}

    def spend_horizon(self, now: float) -> float:
        """Spend at or before this time no longer counts against the daily cap."""
        return now - self.ledger.window_s

    def daily_used(self, now: float) -> Atomic:
        return self.ledger.used(now)

    def status(self, now: float) -> dict[str, object]:
        """The gate's part of the status view."""
        return {
            "state": str(self.state),
            "state_reason": self.state_reason,
            "daily_used": self.ledger.used(now),
            "daily_cap": self.limits.daily_cap,
            "total_exposure": self.total_exposure(),
            "recent_denials": [
                (d.intent.intent_id, str(d.reason), d.detail) for d in self.recent_denials[-10:]
            ],
        }

    def remember_intents(self, intent_ids: Iterable[str]) -> None:
        self._known.update(dict.fromkeys(intent_ids))

    def track_inflight(self, reservation_id: str, market_id: str, exposure: Atomic) -> None:
        """Re-adopt an in-flight trade found at recovery (its exposure counts until settled)."""
        self.exposure.hold(reservation_id, market_id, exposure)

    def market_exposure(self, market_id: str) -> Atomic:
        return self.exposure.market(market_id)

    def total_exposure(self) -> Atomic:
        return self.exposure.total()

    def snapshot(self, now: float) -> RiskSnapshot:
        self._maybe_auto_resume(now)
        return RiskSnapshot(
            state=self._state,
            daily_used=self.ledger.used(now),
            market_exposure=self.exposure.by_market(),
            total_exposure=self.total_exposure(),
            stale_markets=frozenset(self.markets.stale),
            fair_value_stale=self.fair_value_stale,
            untradeable_markets=frozenset(self.markets.untradeable),
            known_intents=self._known.keys(),  # a view: copying grew with every intent
            now=now,
            lifecycles=self.markets.view(),  # read within the same synchronous ``check``
        )

    # ---- the door ----------------------------------------------------------------------------

    def check(self, intent: OrderIntent, now: float | None = None) -> Approval | Denial:
        """Evaluate and, if allowed, reserve — synchronously, so nothing interleaves."""
        t = self.clock.now() if now is None else now
        verdict = evaluate(intent, self.snapshot(t), self.limits)
        if verdict is not None:
            if verdict.reason is not Reason.DUPLICATE_INTENT:
                self._known[intent.intent_id] = None
            self.record_denial(verdict)
            return verdict
        self._known[intent.intent_id] = None
        reservation_id = reservation_for(intent.intent_id)
        draw = intent.amount if draws_daily_cap(intent) else 0
        exposure = 0 if reduces_exposure(intent) else intent.amount
        self.ledger.reserve(reservation_id, draw, t)
        self.exposure.hold(reservation_id, intent.market_id, exposure, intent.outcome)
        approval = mint(
            intent,
            f"kb-{uuid.uuid4().hex}",
            reservation_id,
            draw,
            exposure,
            self.limits.needs_confirmation(intent.amount),
            intent.amount <= self.limits.auto_confirm_ceiling,
            t,
        )
        self._issued[reservation_id] = approval
        return approval

    def is_issued(self, approval: Approval) -> bool:
        """Is this the very Approval this gate minted, still open (not settled or released)?"""
        issued = self._issued.get(approval.reservation_id)
        return issued is approval and issued.intent is approval.intent

    def deny(self, intent: OrderIntent, reason: Reason, detail: str = "") -> Denial:
        """A denial found after the door (not ready, stale, limit, ...): logged and emitted."""
        denial = Denial(intent, reason, detail)
        self.record_denial(denial)
        return denial

    def record_denial(self, denial: Denial) -> None:
        """One log line and one event per denial, whoever found the reason."""
        log_denial(denial)
        self.recent_denials.append(denial)
        del self.recent_denials[:-50]
        if self._emit is not None:
            self._emit(denial_event(denial, self.clock.now()))

    # ---- what happened after the door --------------------------------------------------------

    def reservation(self, approval: Approval) -> SpendEntry | None:
        """The ledger entry an approval holds (persisted with its intent), if still held."""
        return self.ledger.get(approval.reservation_id)

    def commit(self, approval: Approval, now: float | None = None) -> SpendEntry:
        """The venue accepted the trade (201/202): its daily draw now counts for 24 h."""
        self._failures = 0
        t = self.clock.now() if now is None else now
        entry = self.ledger.commit(approval.reservation_id, t)
        self.spend_mirror.committed(entry)
        return entry

    def release(self, approval: Approval) -> Atomic:
        """The trade never counted on the venue: headroom and exposure come back exactly."""
        self.exposure.drop(approval.reservation_id)
        self._issued.pop(approval.reservation_id, None)
        amount = self.ledger.release(approval.reservation_id)
        self.spend_mirror.released(approval.reservation_id)
        return amount

    def release_draw(self, reservation_id: str) -> bool:
        """Give back a daily draw the venue refunded or never counted (a gated trade that never
        executed, an intent abandoned at recovery); False if the ledger held none."""
        if self.ledger.get(reservation_id) is None:
            return False
        self.ledger.release(reservation_id)
        self.spend_mirror.released(reservation_id)
        return True

    def settle(self, reservation_id: str, *, side: Side, amount: Atomic, completed: bool) -> None:
        """A trade reached a terminal state: a completed one moves into settled exposure; the daily
        draw stays committed either way (the server counted the buy when it accepted it)."""
        self._issued.pop(reservation_id, None)
        self.exposure.settle(reservation_id, side=side, amount=amount, completed=completed)

    def observe(self, event: Event) -> None:
        """Follow our positions and the markets' lifecycle: subscribe to every type in
        :data:`GATE_EVENTS` (``TradeUpdate``, ``PositionSync``, ``MarketSnapshot``,
        ``PositionRedeemed``)."""
        if isinstance(event, MarketSnapshot):
            self.observe_market(event)
        elif isinstance(event, PositionRedeemed):
            b = self.exposure.book
            b.redeem(event.market_id, event.outcome, event.payout, last=event.last, cost=event.cost)
        else:
            self.exposure.observe(event)

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self, error: KashError | str, *, retry_after: float | None = None) -> None:
        """A venue error for an order (the error, or its code): halt, reduce or count it.

        What it means is decided by :func:`~kashbot.risk.venue_errors.reaction` from its type
        (halting errors halt, a platform halt until ``Retry-After``, a balance shortfall
        reduces); any failure that does not halt counts, and N in a row halt.
        """
        r = reaction(error, retry_after)
        if r.halt is not None:
            until = None if r.halt_for is None else self.clock.now() + r.halt_for
            self.halt(r.halt, until=until)
            return
        if r.reduce is not None:
            self.reduce(r.reduce)
        self._failures += 1
        if self._failures >= self.max_consecutive_failures:
            self.halt(f"{self._failures} consecutive order failures (last {r.code})")

    def note_error(self, error: KashError) -> None:
        """An error seen outside a send (a replay, a confirm, a market or quote poll): only a
        halting one counts; a wrong API version pin (``CHAIN_NOT_SUPPORTED``,
        ``API_VERSION_UNSUPPORTED``) halts with a reason naming the pin."""
        if isinstance(error, HaltsTrading) or pin_halt_reason(error) is not None:
            self.record_failure(error)

    def refused(self, intent: OrderIntent, error: KashError) -> Reason:
        """The venue refused the intent's trade (nothing was created): react by the error's type,
        record the denial, and return its reason."""
        code = error.code or type(error).__name__
        if pin_halt_reason(error) is not None:  # every market would answer the same
            reason = Reason.HALTED
            self.record_failure(error)
        elif isinstance(error, SpendingLimitExceeded):
            reason = Reason.VENUE_SPENDING_LIMIT
            self.on_spending_limit(error.cap, intent.amount)
        elif isinstance(error, ReducesOnly):
            reason = Reason.VENUE_INSUFFICIENT_BALANCE
            if intent.side is Side.BUY:  # no USDC: stop buying; a sell's shortfall is its position
                self.record_failure(error)
        elif isinstance(error, MarketUntradeable):
            reason = Reason.MARKET_NOT_TRADEABLE
            self.mark_untradeable(intent.market_id)
        elif isinstance(error, HaltsTrading):
            reason = Reason.HALTED
            self.record_failure(error)
        else:
            reason = Reason.VENUE_REJECTED
            self.record_failure(error)
        self.deny(intent, reason, code)
        return reason

    def on_spending_limit(self, cap: str | None, amount: Atomic) -> None:
        """The venue's caps are tighter than ours: stop buys (daily) or learn its per-trade cap."""
        if cap == "per_trade":
            lowered = min(self.limits.per_trade_cap, max(0, amount - 1))
            self.limits = replace(self.limits, per_trade_cap=lowered)
            log.warning("per_trade_cap_learned", per_trade_cap=lowered)
        else:  # "daily_volume" or unknown: the server's ledger is fuller than ours
            self.reduce(f"venue SPENDING_LIMIT_EXCEEDED cap={cap}")

    @property
    def consecutive_failures(self) -> int:
        return self._failures
