"""The risk gate: one door for every order intent, and the only minter of ``Approval``.

``evaluate`` is the pure decision (intent + snapshot + limits → None or a denial);
``RiskGate.check`` takes a snapshot of its own state, evaluates and reserves headroom without
awaiting in between, so on one event loop any number of concurrent intents are serialised and
can never overspend. The gate also owns the trading state (ACTIVE / REDUCING / HALTED) and
reacts to venue errors the executor reports: auth and platform-halt codes halt, balance and cap
codes reduce, repeated failures halt. Every denial is one structlog line and one ``RiskDenied``
event.

Exposure is cost basis still at risk: a completed buy adds the USDC spent; a completed sell takes
off the cost basis it released — the position's average cost times the tokens it burned, or the
venue's new cost basis from a ``PositionSync`` — not the USDC it paid (that would count the
profit or loss as exposure). The gate learns tokens and syncs from ``observe`` (subscribe it to
``TradeUpdate`` and ``PositionSync``); for an outcome it has not seen a position of (a
position from before a restart, or nothing subscribed) a sell falls back to taking off its
proceeds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

import structlog

from kashbot.clock import Clock, WallClock
from kashbot.events import (
    Event,
    OrderIntent,
    PositionSync,
    RiskDenied,
    Side,
    TradeUpdate,
    TradingState,
    TradingStateChanged,
)
from kashbot.money import Atomic, Wad, usdc_str
from kashbot.risk.ledger import SpendEntry, SpendLedger
from kashbot.risk.limits import Limits

log = structlog.get_logger("kashbot.risk")

# clientRequestId: 1-128 chars of [A-Za-z0-9_-:.] (§5); the intent id is sent as-is.
_ID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")


class Reason(StrEnum):
    """Stable denial reason codes (logs, events, status view and tests branch on these)."""

    NOT_READY = "NOT_READY"  # startup recovery has not finished
    HALTED = "HALTED"
    REDUCING_ONLY = "REDUCING_ONLY"
    INVALID_INTENT = "INVALID_INTENT"
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    BELOW_MINIMUM = "BELOW_MINIMUM"
    PER_TRADE_CAP = "PER_TRADE_CAP"
    DAILY_CAP = "DAILY_CAP"
    MARKET_EXPOSURE = "MARKET_EXPOSURE"
    TOTAL_EXPOSURE = "TOTAL_EXPOSURE"
    STALE_DATA = "STALE_DATA"
    MARKET_NOT_TRADEABLE = "MARKET_NOT_TRADEABLE"
    CONFIRM_CEILING = "CONFIRM_CEILING"
    # after sending: the venue refused the trade (the code is in the detail)
    VENUE_SPENDING_LIMIT = "VENUE_SPENDING_LIMIT"
    VENUE_INSUFFICIENT_BALANCE = "VENUE_INSUFFICIENT_BALANCE"
    VENUE_REJECTED = "VENUE_REJECTED"
    # the executor's own, after approval (it reports them through ``record_denial``)
    STALE_INTENT = "STALE_INTENT"  # older than ``max_intent_age_s`` before it could be sent
    LIMIT_BREACHED = "LIMIT_BREACHED"  # the pool already crossed the intent's limit_probability
    OUTCOME_NOT_FOUND = "OUTCOME_NOT_FOUND"  # outcome was unknown; the venue never created it
    FOLLOW_TIMEOUT = "FOLLOW_TIMEOUT"  # the trade exists but stayed open past ``max_follow_s``


# Venue codes that stop all trading until a human looks (or the platform halt passes).
HALT_CODES: frozenset[str] = frozenset(
    {
        "API_KEY_MISSING",
        "API_KEY_MALFORMED",
        "API_KEY_INVALID",
        "API_KEY_REVOKED",
        "API_KEY_EXPIRED",
        "REQUEST_SIGNATURE_INVALID",
        "INSUFFICIENT_SCOPE",
        "IP_NOT_ALLOWED",
        "WALLET_DELEGATION_NOT_ENABLED",
        "API_TRADE_PROCESSING_HALTED",
    }
)
# Platform halts are temporary: resume by ourselves after Retry-After (default 300 s).
TEMPORARY_HALT_CODES: frozenset[str] = frozenset({"API_TRADE_PROCESSING_HALTED"})
UNTRADEABLE_CODES: frozenset[str] = frozenset(
    {"MARKET_NOT_TRADEABLE", "MARKET_NOT_FOUND", "CHAIN_NOT_SUPPORTED"}
)

# An Approval carries an HMAC of its terms under this per-process secret, so a copy with other
# terms (``dataclasses.replace(approval, intent=...)``) fails its own ``__post_init__``.
_SEAL_KEY = secrets.token_bytes(32)
_INTENT_FIELDS = tuple(f.name for f in fields(OrderIntent))
_MAX_AWAITING = 10_000  # settled trades whose fill event is still to come (bounded if unsubscribed)


def reservation_for(intent_id: str) -> str:
    """The ledger reservation (and in-flight key) of an approved intent."""
    return f"r-{intent_id}"


def _seal(
    intent: OrderIntent,
    idempotency_key: str,
    reservation_id: str,
    daily_draw: Atomic,
    exposure: Atomic,
    expects_confirmation: bool,
    auto_confirm: bool,
    approved_at: float,
) -> bytes:
    """The MAC binding an approval's terms together (every field of the intent included)."""
    terms = tuple(
        sorted(v.items()) if isinstance(v, dict) else v
        for v in (getattr(intent, name) for name in _INTENT_FIELDS)
    )
    text = repr(
        (
            terms,
            idempotency_key,
            reservation_id,
            daily_draw,
            exposure,
            expects_confirmation,
            auto_confirm,
            approved_at,
        )
    )
    return hmac.new(_SEAL_KEY, text.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Approval:
    """Permission to send exactly this intent, minted only by :class:`RiskGate`.

    ``daily_draw`` is what the intent holds on the daily ledger (0 for sells), ``exposure`` what
    it adds to its market's exposure while in flight. ``_mint`` seals all of them: a copy with
    other terms cannot be built. The executor still asks :meth:`RiskGate.is_issued`, which knows
    the very object it issued.
    """

    intent: OrderIntent
    idempotency_key: str
    reservation_id: str
    daily_draw: Atomic
    exposure: Atomic
    expects_confirmation: bool
    auto_confirm: bool
    approved_at: float
    _mint: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        expected = _seal(
            self.intent,
            self.idempotency_key,
            self.reservation_id,
            self.daily_draw,
            self.exposure,
            self.expects_confirmation,
            self.auto_confirm,
            self.approved_at,
        )
        if not isinstance(self._mint, bytes) or not hmac.compare_digest(self._mint, expected):
            raise TypeError("an Approval can only be minted by RiskGate")


@dataclass(frozen=True, slots=True)
class Denial:
    intent: OrderIntent
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """Everything ``evaluate`` needs; built atomically by the gate (or by a test).

    ``known_intents`` from :meth:`RiskGate.snapshot` is a read-only live view of the gate's
    intent ids (not a copy): it is read within the same synchronous ``check``.
    """

    state: TradingState
    daily_used: Atomic  # committed within the window + open reservations
    market_exposure: Mapping[str, Atomic]
    total_exposure: Atomic
    stale_markets: frozenset[str] = frozenset()
    untradeable_markets: frozenset[str] = frozenset()
    known_intents: AbstractSet[str] = frozenset()


def draws_daily_cap(intent: OrderIntent) -> bool:
    """Every buy draws the daily cap (the server counts every buy); sells never do."""
    return intent.side is Side.BUY


def reduces_exposure(intent: OrderIntent) -> bool:
    """Only a sell reduces exposure: Kash has no short, so a buy never does, ``closing`` or not."""
    return intent.side is Side.SELL


def evaluate(intent: OrderIntent, snap: RiskSnapshot, limits: Limits) -> Denial | None:
    """The pure decision: the first reason the intent may not go, or None."""

    def deny(reason: Reason, detail: str = "") -> Denial:
        return Denial(intent, reason, detail)

    if snap.state is TradingState.HALTED:
        return deny(Reason.HALTED)
    if not _ID_RE.match(intent.intent_id):
        return deny(Reason.INVALID_INTENT, "intent_id must be 1-128 chars of [A-Za-z0-9_-:.]")
    if intent.outcome < 0:
        return deny(Reason.INVALID_INTENT, "outcome must be >= 0")
    if intent.intent_id in snap.known_intents:
        return deny(Reason.DUPLICATE_INTENT)
    if snap.state is TradingState.REDUCING and not reduces_exposure(intent):
        return deny(Reason.REDUCING_ONLY)
    if intent.market_id in snap.untradeable_markets:
        return deny(Reason.MARKET_NOT_TRADEABLE)
    if intent.market_id in snap.stale_markets and not reduces_exposure(intent):
        return deny(Reason.STALE_DATA)
    amount = intent.amount
    if amount < max(1, limits.min_trade):
        return deny(Reason.BELOW_MINIMUM, f"{amount} < {limits.min_trade}")
    if amount > limits.per_trade_cap:
        return deny(Reason.PER_TRADE_CAP, f"{amount} > {limits.per_trade_cap}")
    if draws_daily_cap(intent) and snap.daily_used + amount > limits.daily_cap:
        return deny(Reason.DAILY_CAP, f"used {snap.daily_used} + {amount} > cap {limits.daily_cap}")
    if not reduces_exposure(intent):  # the strategy's ``closing`` flag is not trusted
        m_exp = snap.market_exposure.get(intent.market_id, 0)
        if limits.market_exposure_cap is not None and m_exp + amount > limits.market_exposure_cap:
            return deny(
                Reason.MARKET_EXPOSURE, f"{m_exp} + {amount} > {limits.market_exposure_cap}"
            )
        if (
            limits.total_exposure_cap is not None
            and snap.total_exposure + amount > limits.total_exposure_cap
        ):
            return deny(
                Reason.TOTAL_EXPOSURE,
                f"{snap.total_exposure} + {amount} > {limits.total_exposure_cap}",
            )
    if (
        limits.deny_above_ceiling
        and limits.needs_confirmation(amount)
        and amount > limits.auto_confirm_ceiling
    ):
        return deny(Reason.CONFIRM_CEILING, f"{amount} > {limits.auto_confirm_ceiling}")
    return None


@dataclass(slots=True)
class _InFlight:
    market_id: str
    exposure: Atomic  # buys add this to the market while in flight
    outcome: int | None = None  # None: re-adopted at recovery, outcome not recorded


@dataclass(slots=True)
class _Holding:
    """One outcome's position as the gate has seen it (fills and venue syncs)."""

    shares: Wad = 0
    cost: Atomic = 0


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
        self._emit = emit
        self.max_consecutive_failures = max_consecutive_failures
        self._state = TradingState.ACTIVE
        self._state_reason = ""
        self._halt_until: float | None = None
        self._resume_to = TradingState.ACTIVE
        self._failures = 0
        self._stale: set[str] = set()
        self._untradeable: set[str] = set()
        self._known: dict[str, None] = {}  # a dict for its read-only keys() view
        self._cost: dict[str, Atomic] = {}  # settled exposure per market (cost basis, USDC)
        self._inflight: dict[str, _InFlight] = {}  # reservation id -> exposure in flight
        self._issued: dict[str, Approval] = {}  # reservation id -> the open Approval minted
        self._held: dict[tuple[str, int], _Holding] = {}  # positions seen through ``observe``
        # completed trades whose TradeUpdate is still to come: reservation id -> market, outcome
        self._awaiting: dict[str, tuple[str, int]] = {}
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

    def reduce(self, reason: str) -> None:
        """Only sells pass until ``resume()`` (a buy never reduces exposure on Kash)."""
        if self._state is TradingState.HALTED:
            self._resume_to = TradingState.REDUCING
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
        self._stale.add(market_id)

    def mark_fresh(self, market_id: str) -> None:
        self._stale.discard(market_id)

    def mark_untradeable(self, market_id: str) -> None:
        self._untradeable.add(market_id)

    def mark_tradeable(self, market_id: str) -> None:
        self._untradeable.discard(market_id)

    # ---- exposure and intents known from the store / venue -----------------------------------

    def set_market_exposure(self, exposure: Mapping[str, Atomic]) -> None:
        """Settled exposure per market (cost basis of open positions), e.g. from the venue.

        Per-outcome positions seen before are forgotten: these totals replace them.
        """
        self._cost = {m: max(0, v) for m, v in exposure.items()}
        self._held.clear()

    def remember_intents(self, intent_ids: Iterable[str]) -> None:
        self._known.update(dict.fromkeys(intent_ids))

    def track_inflight(self, reservation_id: str, market_id: str, exposure: Atomic) -> None:
        """Re-adopt an in-flight trade found at recovery (its exposure counts until settled)."""
        self._inflight[reservation_id] = _InFlight(market_id, exposure)

    def market_exposure(self, market_id: str) -> Atomic:
        inflight = sum(f.exposure for f in self._inflight.values() if f.market_id == market_id)
        return self._cost.get(market_id, 0) + inflight

    def total_exposure(self) -> Atomic:
        return sum(self._cost.values()) + sum(f.exposure for f in self._inflight.values())

    def snapshot(self, now: float) -> RiskSnapshot:
        self._maybe_auto_resume(now)
        markets = set(self._cost) | {f.market_id for f in self._inflight.values()}
        return RiskSnapshot(
            state=self._state,
            daily_used=self.ledger.used(now),
            market_exposure={m: self.market_exposure(m) for m in markets},
            total_exposure=self.total_exposure(),
            stale_markets=frozenset(self._stale),
            untradeable_markets=frozenset(self._untradeable),
            known_intents=self._known.keys(),  # a view: copying grew with every intent
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
        self._inflight[reservation_id] = _InFlight(intent.market_id, exposure, intent.outcome)
        terms = (
            intent,
            f"kb-{uuid.uuid4().hex}",
            reservation_id,
            draw,
            exposure,
            self.limits.needs_confirmation(intent.amount),
            intent.amount <= self.limits.auto_confirm_ceiling,
            t,
        )
        approval = Approval(*terms, _mint=_seal(*terms))
        self._issued[reservation_id] = approval
        return approval

    def is_issued(self, approval: Approval) -> bool:
        """Is this the very Approval this gate minted, still open (not settled or released)?"""
        issued = self._issued.get(approval.reservation_id)
        return issued is approval and issued.intent is approval.intent

    def record_denial(self, denial: Denial) -> None:
        """One log line and one event per denial, whoever found the reason."""
        i = denial.intent
        log.warning(
            "risk_denied",
            reason=str(denial.reason),
            detail=denial.detail,
            intent_id=i.intent_id,
            strategy=i.strategy,
            market_id=i.market_id,
            outcome=i.outcome,
            side=str(i.side),
            amount=i.amount,
            amount_usdc=usdc_str(i.amount),
        )
        self.recent_denials.append(denial)
        del self.recent_denials[:-50]
        if self._emit is not None:
            self._emit(
                RiskDenied(
                    ts=self.clock.now(),
                    intent_id=i.intent_id,
                    strategy=i.strategy,
                    market_id=i.market_id,
                    reason=str(denial.reason),
                    detail=denial.detail,
                )
            )

    # ---- what happened after the door --------------------------------------------------------

    def commit(self, approval: Approval, now: float | None = None) -> SpendEntry:
        """The venue accepted the trade (201/202): its daily draw now counts for 24 h."""
        self._failures = 0
        return self.ledger.commit(approval.reservation_id, self.clock.now() if now is None else now)

    def release(self, approval: Approval) -> Atomic:
        """The trade never counted on the venue: headroom and exposure come back exactly."""
        self._inflight.pop(approval.reservation_id, None)
        self._issued.pop(approval.reservation_id, None)
        return self.ledger.release(approval.reservation_id)

    def settle(self, reservation_id: str, *, side: Side, amount: Atomic, completed: bool) -> None:
        """A trade reached a terminal state: completed ones move into settled exposure.

        A buy adds the USDC spent. A sell's release (cost basis, not proceeds) is taken when its
        ``TradeUpdate`` or ``PositionSync`` reaches :meth:`observe`; only for an outcome whose
        position the gate has not seen is the sell's ``amount`` (its proceeds) taken off here.
        The daily draw stays committed either way: the server counted the buy when it accepted it.
        """
        self._issued.pop(reservation_id, None)
        flight = self._inflight.pop(reservation_id, None)
        if flight is None or not completed:
            return
        market = flight.market_id
        cur = self._cost.get(market, 0)
        key = None if flight.outcome is None else (market, flight.outcome)
        if side is Side.BUY:
            self._cost[market] = cur + amount
        elif key is None or key not in self._held:
            self._cost[market] = max(0, cur - amount)
            return
        if key is not None:
            self._awaiting[reservation_id] = key
            if len(self._awaiting) > _MAX_AWAITING:
                del self._awaiting[next(iter(self._awaiting))]

    def observe(self, event: Event) -> None:
        """Follow our positions (subscribe to ``TradeUpdate`` and ``PositionSync``).

        A completed buy adds its tokens and cost to the outcome; a completed sell with a token
        count releases ``cost * tokens // shares`` (average cost) from the position and from its
        market's exposure; a sync takes the venue's cost basis as the truth, the difference
        coming off (or onto) the market's exposure.
        """
        if isinstance(event, TradeUpdate):
            if event.status != "completed":
                return
            key = self._awaiting.pop(reservation_for(event.intent_id), None)
            if key is None:
                return  # not a trade this gate settled, or seen already
            held = self._held.setdefault(key, _Holding())
            if event.side is Side.BUY:
                held.shares += event.tokens or 0
                held.cost += event.amount
                return
            sold = min(event.tokens or 0, held.shares)
            if sold <= 0:
                return  # no token count: the PositionSync before it did the work
            released = held.cost * sold // held.shares
            held.shares -= sold
            held.cost -= released
            self._release(key[0], released)
        elif isinstance(event, PositionSync):
            key = (event.market_id, event.outcome)
            seen = self._held.get(key)
            shares, cost = max(0, event.shares), max(0, event.cost)
            if seen is not None:  # unseen: its cost is already inside the market's total
                self._release(event.market_id, seen.cost - cost)
            self._held[key] = _Holding(shares, cost)

    def _release(self, market_id: str, cost: Atomic) -> None:
        self._cost[market_id] = max(0, self._cost.get(market_id, 0) - cost)

    def record_success(self) -> None:
        self._failures = 0

    def record_failure(self, code: str, *, retry_after: float | None = None) -> None:
        """A venue error for an order: halt, reduce or count it; N in a row halts."""
        now = self.clock.now()
        if code in HALT_CODES:
            until = None
            if code in TEMPORARY_HALT_CODES:
                until = now + (retry_after if retry_after is not None else 300.0)
            self.halt(f"venue error {code}", until=until)
            return
        if code == "INSUFFICIENT_BALANCE":
            self.reduce("venue error INSUFFICIENT_BALANCE: fund the smart account")
        self._failures += 1
        if self._failures >= self.max_consecutive_failures:
            self.halt(f"{self._failures} consecutive order failures (last {code})")

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
