"""What deserves a notification: pure functions from the engine's events (and the daemon's
status) to :class:`Alert` values, each with the key deduplication uses. No I/O here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kashbot.alerts.config import EventName, Level
from kashbot.events import (
    Event,
    PositionRedeemed,
    RiskDenied,
    StaleData,
    TradingState,
    TradingStateChanged,
)
from kashbot.money import fmt_usdc
from kashbot.obs.logging import mask_text

LEVELS: dict[Level, int] = {"info": 0, "warning": 1, "error": 2}
CAP_REASONS = frozenset({"DAILY_CAP", "DAILY_CAP_SHARED", "VENUE_SPENDING_LIMIT"})
STATE_EVENTS: dict[TradingState, tuple[EventName, Level]] = {
    TradingState.HALTED: ("halt", "error"),
    TradingState.REDUCING: ("reduce", "warning"),
    TradingState.ACTIVE: ("resume", "info"),
}


# Trading-state alerts dedupe only against the same state: a change to another state forgets them.
STATE_KEY = "state:"


@dataclass(frozen=True, slots=True)
class Alert:
    event: EventName
    level: Level
    key: str  # the same key within the dedup window is sent once
    title: str
    body: str


def alert_for(event: Event) -> Alert | None:
    """The alert an engine event raises, if any."""
    if isinstance(event, TradingStateChanged):
        name, level = STATE_EVENTS[event.new]
        return Alert(
            name,
            level,
            f"{STATE_KEY}{name}:{event.reason}",  # see Dispatcher.submit
            f"kashbot {event.new}",
            f"trading {event.old} -> {event.new}: {event.reason}",
        )
    if isinstance(event, RiskDenied) and event.reason in CAP_REASONS:
        return Alert(
            "cap_reached",
            "warning",
            f"cap:{event.reason}",
            "kashbot spend cap reached",
            f"{event.reason}: buys are refused ({event.detail or event.market_id})",
        )
    if isinstance(event, StaleData):
        where = event.market_id or "all markets"
        return Alert(
            "stale_data",
            "warning",
            f"stale:{event.source}:{event.market_id}",
            "kashbot data stale",
            f"{event.source} silent for {event.age:.0f} s ({where}); buys there are refused",
        )
    if isinstance(event, PositionRedeemed):
        return Alert(
            "redemption",
            "info",
            f"redeem:{event.market_id}:{event.outcome}:{event.kind}:{event.redemption_id}",
            "kashbot position closed",
            f"{event.market_id} outcome {event.outcome}: {event.kind}, "
            f"payout {fmt_usdc(event.payout)} USDC",
        )
    return None


def strategy_paused_alert(strategy_id: str, errors_in_row: int, error: str, times: int) -> Alert:
    """A strategy paused after ``errors_in_row`` exceptions in a row (its ``times``-th pause:
    each pause is news, also one right after a resume, so the key counts them)."""
    return Alert(
        "strategy_paused",
        "error",
        f"strategy_paused:{strategy_id}:{times}",
        f"kashbot strategy {strategy_id} paused",
        f"strategy {strategy_id} raised {errors_in_row} times in a row and is no longer called "
        f"(last: {mask_text(error)[:300]}); "
        f"fix it, then: kashbot strategy resume {strategy_id} [CONFIG]",
    )


def unknown_alert(intent_id: str) -> Alert:
    return Alert(
        "outcome_unknown",
        "warning",
        f"unknown:{intent_id}",
        "kashbot order outcome unknown",
        f"intent {intent_id}: the venue's answer was lost; reconciling (see kashbot status)",
    )


def recovery_alert(error: BaseException) -> Alert:
    return Alert(
        "recovery_failed",
        "error",
        "recovery_failed",
        "kashbot recovery failed",
        f"startup recovery failed, the daemon did not start: {error}",
    )


def summary_alert(status: Mapping[str, Any], day: str) -> Alert:
    """The daily summary from ``kashbot status``'s JSON."""
    pnl = status.get("pnl_usdc") or {}
    lines = [
        f"state {status.get('state')}",
        f"PnL at mark {pnl.get('total')} USDC (realized {pnl.get('realized')})",
        f"fills {status.get('fills')}, open positions {len(status.get('positions') or [])}",
        f"24h spend {status.get('spend_used_usdc')} of {status.get('spend_cap_usdc')} USDC",
        f"held for confirmation {len(status.get('held_trades') or [])}",
    ]
    return Alert(
        "daily_summary", "info", f"summary:{day}", f"kashbot daily summary {day}", "\n".join(lines)
    )


def next_daily(now: float, hhmm: str) -> float:
    """The next epoch time (strictly after ``now``) that is ``HH:MM`` UTC."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    at = today.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at.timestamp() <= now:
        at += dt.timedelta(days=1)
    return at.timestamp()
