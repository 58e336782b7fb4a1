"""The running alert service: engine events in, notifications out, plus what no event says.

Engine events (``TradingStateChanged``, ``RiskDenied`` for a spend cap, ``StaleData``,
``PositionRedeemed``) reach :meth:`AlertService.on_event` through the bus -- one dict lookup and
a deque append on the trading path, nothing more. Outcome-unknown orders have no event of their
own, so a watcher reads the router's list every ``watch_interval_s``; the daily summary is a
timer on the wall clock (UTC).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from kashbot.alerts.config import AlertsConfig
from kashbot.alerts.dispatch import AlertDispatcher
from kashbot.alerts.rules import alert_for, next_daily, summary_alert, unknown_alert
from kashbot.events import (
    Event,
    PositionRedeemed,
    RiskDenied,
    StaleData,
    TradingStateChanged,
)

log = structlog.get_logger("kashbot.alerts")

WATCHED: tuple[type[Event], ...] = (TradingStateChanged, RiskDenied, StaleData, PositionRedeemed)


class Subscribable(Protocol):
    def subscribe(self, kind: Any, handler: Callable[[Any], None]) -> None: ...


class AlertService:
    def __init__(
        self,
        cfg: AlertsConfig,
        dispatcher: AlertDispatcher,
        *,
        status: Callable[[], dict[str, Any]],
        unknown_intents: Callable[[], list[str]],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.dispatcher = dispatcher
        self._status = status
        self._unknown = unknown_intents
        self._wall = wall
        self._seen_unknown: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self, bus: Subscribable) -> None:
        for kind in WATCHED:
            bus.subscribe(kind, self.on_event)

    def on_event(self, event: Event) -> None:
        alert = alert_for(event)
        if alert is not None:
            self.dispatcher.submit(alert)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="alerts-send"),
            asyncio.create_task(self._watch(), name="alerts-watch"),
        ]
        if self.cfg.daily_summary_utc is not None:
            self._tasks.append(asyncio.create_task(self._summaries(), name="alerts-summary"))

    async def stop(self, flush_s: float = 5.0) -> None:
        """Stop the timers, give what is queued (e.g. the final halt) ``flush_s`` to go out."""
        sender, *timers = self._tasks
        for task in timers:
            task.cancel()
        await self.dispatcher.flush(min(flush_s, self.cfg.send_timeout_s))
        sender.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.dispatcher.close()
        log.info("alerts_stopped", **dict(self.dispatcher.stats))

    def check_unknown(self) -> None:
        """One alert per intent whose outcome became unknown (each intent once)."""
        current = set(self._unknown())
        for intent_id in sorted(current - self._seen_unknown):
            self.dispatcher.submit(unknown_alert(intent_id))
        self._seen_unknown = current

    def send_summary(self) -> None:
        day = dt.datetime.fromtimestamp(self._wall(), dt.UTC).strftime("%Y-%m-%d")
        self.dispatcher.submit(summary_alert(self._status(), day))

    async def _watch(self) -> None:
        while True:
            self.check_unknown()
            await asyncio.sleep(self.cfg.watch_interval_s)

    async def _summaries(self) -> None:
        assert self.cfg.daily_summary_utc is not None
        at = next_daily(self._wall(), self.cfg.daily_summary_utc)
        while True:
            left = at - self._wall()  # re-read each minute: a suspended machine, a clock step
            if left > 0:
                await asyncio.sleep(min(left, 60.0))
                continue
            self.send_summary()
            at = next_daily(self._wall(), self.cfg.daily_summary_utc)
