"""The gate's pure rules: reason codes, the snapshot it decides from, and ``evaluate``.

``evaluate(intent, snapshot, limits)`` is the whole decision (None: the intent may go); it reads
nothing but its arguments, so tests and the property suite call it directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum

from kashbot.events import OrderIntent, Side, TradingState
from kashbot.lifecycle import CLOSED_PHASES, Lifecycle, Phase, phase_at
from kashbot.money import Atomic
from kashbot.risk.limits import Limits

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
    FAIR_VALUE_STALE = "FAIR_VALUE_STALE"  # a buy where the fair value is older than max_age_s
    MARKET_NOT_TRADEABLE = "MARKET_NOT_TRADEABLE"
    MARKET_FROZEN = "MARKET_FROZEN"  # a buy within ``freeze_margin_s`` of freezeAt
    MARKET_CLOSED = "MARKET_CLOSED"  # any trade once trading is closed (frozen, resolving, ...)
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
    # the shared spend ledger's (kashbot.execution.shared_spend), after the gate approved
    DAILY_CAP_SHARED = "DAILY_CAP_SHARED"  # the key's cap is spent by all daemons together
    SHARED_STATE_UNAVAILABLE = "SHARED_STATE_UNAVAILABLE"  # Redis unreachable: fail closed


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
    fair_value_stale: frozenset[str] = frozenset()  # kashbot.fairvalue: buys refused there
    untradeable_markets: frozenset[str] = frozenset()
    known_intents: AbstractSet[str] = frozenset()
    now: float = 0.0  # the time the lifecycle is judged at
    lifecycles: Mapping[str, Lifecycle] = field(default_factory=dict)


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
    lifecycle = snap.lifecycles.get(intent.market_id)
    if lifecycle is not None:  # the market's life, whatever strategy asked
        phase = phase_at(lifecycle, snap.now, limits.freeze_margin_s)
        if phase in CLOSED_PHASES:
            return deny(Reason.MARKET_CLOSED, str(phase))
        if phase is Phase.FREEZING and not reduces_exposure(intent):
            return deny(
                Reason.MARKET_FROZEN,
                f"freezeAt {lifecycle.freeze_at} - {limits.freeze_margin_s:g} s <= {snap.now}",
            )
    if intent.market_id in snap.untradeable_markets:
        return deny(Reason.MARKET_NOT_TRADEABLE)
    if intent.market_id in snap.stale_markets and not reduces_exposure(intent):
        return deny(Reason.STALE_DATA)
    if intent.market_id in snap.fair_value_stale and not reduces_exposure(intent):
        return deny(Reason.FAIR_VALUE_STALE)
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
