"""The venue's state and its scheduler: what every part of the simulated Kash shares.

Scheduled work (trade lifecycle steps, confirmation expiry, noise trades, market resolution,
redemptions, webhook attempts) sits in one heap keyed by (time, seq) and runs at its
*scheduled* time when :meth:`VenueState.advance` is called; what a step does is the
:class:`~kashbot.sim.venue.Venue`'s ``_run``.
"""

from __future__ import annotations

import abc
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kashbot import amm
from kashbot.clock import Clock, SimClock
from kashbot.sim.faults import FaultRegistry
from kashbot.sim.ids import IdFactory, parse_iso, rng_for
from kashbot.sim.limits import SlidingWindow, TokenBucket
from kashbot.sim.models import (
    Delivery,
    IdempotencyEntry,
    KeyState,
    MarketState,
    MarketTick,
    Position,
    Redemption,
    TradeRecord,
    UserState,
    WebhookEvent,
)
from kashbot.sim.scenario import Scenario, load_scenario

FIRST_BLOCK = 30_000_000


class VenueState(abc.ABC):
    """Every table of the simulated venue, the id and RNG streams, and the step heap."""

    def __init__(
        self,
        scenario: Scenario | str | Path | dict[str, Any] | None = None,
        *,
        clock: Clock | None = None,
        seed: int | None = None,
        time_scale: float = 1.0,
        webhook_sink: Callable[[Delivery], int | None] | None = None,
    ) -> None:
        self.scenario = load_scenario(scenario)
        sc = self.scenario
        self.seed = sc.seed if seed is None else seed
        self.clock: Clock = clock if clock is not None else SimClock(parse_iso(sc.start_time))
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self.webhook_sink = webhook_sink
        # deliveries to an in-process sink carry X-Kash-Signature unless this is False: a
        # backtest's session reads the body of its own venue and verifies nothing
        self.sink_signed = True
        self.fees = amm.Fees(sc.fees.protocol_bps, sc.fees.amm_sell_bps)
        self.quote_fees = (
            self.fees if sc.api.quote_includes_protocol_fee else amm.Fees(0, sc.fees.amm_sell_bps)
        )
        self.ids = IdFactory(self.seed)
        self._rng_life = rng_for(self.seed, "lifecycle")
        self._rng_hook = rng_for(self.seed, "webhooks")
        self.faults = FaultRegistry(self.seed)
        self.start = self.clock.now()
        self._seq = itertools.count(1)
        self._heap: list[tuple[float, int, str, str]] = []
        self.on_schedule: Callable[[float], None] | None = None
        self.listeners: list[Callable[[MarketTick], None]] = []
        self.markets: dict[str, MarketState] = {}
        self.users: dict[str, UserState] = {}
        self.keys: dict[str, KeyState] = {}
        self._by_api_key: dict[str, KeyState] = {}
        self.trades: dict[str, TradeRecord] = {}
        self._by_correlation: dict[str, str] = {}
        self._crids: dict[tuple[str, str], str] = {}
        self._idem: dict[tuple[str, str], IdempotencyEntry] = {}
        # time-ordered queues the retention ages (kashbot.sim.trade_retention)
        self._ended_trades: deque[tuple[float, str]] = deque()  # (end time, trade id)
        self._idem_used: deque[tuple[tuple[str, str], IdempotencyEntry]] = deque()
        self.positions: dict[tuple[str, str, int], Position] = {}
        self.events: dict[str, WebhookEvent] = {}
        self._outbox: dict[str, list[str]] = {}
        # per key, by seq: every event that may be pending/retrying (a superset, pruned lazily),
        # so a delivery step looks at the queue rather than the whole outbox
        self._queued: dict[str, list[WebhookEvent]] = {}
        self._last_event: dict[str, str] = {}  # trade id -> its newest webhook event
        self.redemptions: dict[str, Redemption] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=sc.api.request_log_size)
        self._reads: dict[str, SlidingWindow] = {}
        self._writes: dict[str, TokenBucket] = {}
        self._noise_rng: dict[str, Any] = {}
        self._block = FIRST_BLOCK
        self._advancing = False
        # bumped by every market lifecycle change (status, resolution, freeze, winners), so a
        # backtest looks at the markets only when one moved on (Venue._set_state)
        self.lifecycle_epoch = 0
        self._populate()

    @abc.abstractmethod
    def _populate(self) -> None:
        """Fill the empty tables from the scenario (users, keys, markets, armed faults)."""

    def _scaled(self, seconds: float) -> float:
        return seconds / self.time_scale

    def _schedule(self, t: float, kind: str, ref: str) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, ref))
        if self.on_schedule is not None:
            self.on_schedule(t)

    def next_due(self) -> float | None:
        """When the next scheduled step is due (None when nothing is scheduled)."""
        return self._heap[0][0] if self._heap else None

    def advance(self, now: float | None = None) -> int:
        """Run every scheduled step due at or before ``now`` (default ``clock.now()``).

        Steps run at their own scheduled time, so the result does not depend on how often or
        how late ``advance`` is called. Returns how many steps ran.
        """
        if self._advancing:
            return 0
        now = self.clock.now() if now is None else now
        ran = 0
        self._advancing = True
        try:
            while self._heap and self._heap[0][0] <= now:
                t, _, kind, ref = heapq.heappop(self._heap)
                self._run(kind, ref, t)
                ran += 1
        finally:
            self._advancing = False
        return ran

    @abc.abstractmethod
    def _run(self, kind: str, ref: str, t: float) -> None:
        """Carry out one scheduled step of ``kind`` for ``ref`` at its time ``t``."""

    @abc.abstractmethod
    def _forget_old(self, now: float) -> None:
        """Drop finished records older than the retention (see ``trade_retention``)."""

    def _sync(self) -> float:
        now = self.clock.now()
        self.advance(now)
        self._forget_old(now)
        return now
