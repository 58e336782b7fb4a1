"""What the order path is configured with, and the parts it shares (one object, passed around).

``ExecutionSettings`` groups every timing and retry knob of the executor and the router, so
neither takes a dozen keyword arguments; ``ExecutionContext`` is the venue, gate, store, clock
and event sink that the submit, follow, reconcile and recovery parts all use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from kashbot import amm
from kashbot.clock import Clock
from kashbot.events import Event
from kashbot.execution.venue import TradingVenue
from kashbot.risk.gate import RiskGate
from kashbot.store.store import Store

PoolView = Callable[[str], "tuple[amm.Pool, amm.Fees] | None"]
"""The current pool (and its fees) of a market, or None if unknown: the engine's market view."""


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    """Timing and retry knobs of the order path (defaults: the daemon's).

    Following: ``poll_after_s`` of webhook silence before polling a trade, then every
    ``poll_interval_s``; after ``max_follow_s`` the follower gives up (the reconcile loop polls).
    ``prompt_poll_s`` (no webhooks): poll that soon after submit, x2 up to ``poll_interval_s``.
    Unknown outcomes: ``reconcile_attempts`` lookups/replays at ``reconcile_backoff_s * 2**n``,
    over at most ``reconcile_pages`` pages of the market's trades; a complete lookup that misses
    the trade ``unknown_settle_s`` after the last send proves it was never created (the venue
    gives up on a request after 30 s). ``max_intent_age_s``: an intent older than this (from
    ``created_ts``, else from its approval) is not sent, nor re-sent (None: no limit).
    Router: ``reconcile_interval_s`` is the reconcile loop's period (None: no loop); a venue
    lookup at recovery is tried ``recovery_attempts`` times, waiting ``recovery_backoff_s * 2**n``
    capped at ``recovery_backoff_max_s``; ``adopt_venue_spend`` reads up to
    ``venue_spend_pages`` pages of this key's trades into the daily ledger.
    """

    poll_after_s: float = 30.0
    poll_interval_s: float = 10.0
    max_follow_s: float = 3600.0
    prompt_poll_s: float | None = None
    reconcile_attempts: int = 3
    reconcile_backoff_s: float = 1.0
    reconcile_pages: int = 5
    max_intent_age_s: float | None = 10.0
    unknown_settle_s: float = 120.0
    reconcile_interval_s: float | None = 30.0
    recovery_attempts: int = 6
    recovery_backoff_s: float = 1.0
    recovery_backoff_max_s: float = 30.0
    adopt_venue_spend: bool = True
    venue_spend_pages: int = 20

    def __post_init__(self) -> None:
        if self.recovery_attempts < 1:
            raise ValueError("recovery_attempts must be >= 1")


@dataclass(slots=True)
class ExecutionContext:
    """The parts every piece of the order path shares (``settings`` may be replaced)."""

    venue: TradingVenue
    gate: RiskGate
    store: Store
    clock: Clock
    settings: ExecutionSettings
    sink: Callable[[Event], None] | None = None
    pool_view: PoolView | None = None
    work: asyncio.Event = field(default_factory=asyncio.Event)  # for the reconcile loop

    def emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)
