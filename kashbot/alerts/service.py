"""The running alert service: engine events in, notifications out, plus what no event says.

Engine events (``TradingStateChanged``, ``RiskDenied`` for a spend cap, ``StaleData``,
``PositionRedeemed``) reach :meth:`AlertService.on_event` through the bus -- one dict lookup and
a deque append on the trading path, nothing more. Outcome-unknown orders have no event of their
own, so a watcher reads the router's list every ``watch_interval_s``; the daily summary is a
timer on the wall clock (UTC).

Both loops outlive their own failures: an exception in one round (a status reader's bug, a bad
intent list) is logged with its traceback, counted in :attr:`AlertService.errors` and retried
after a back-off (``LOOP_BACKOFF``), so one bad round never ends the daily summaries silently,
and :meth:`stop` never re-raises it into the daemon's shutdown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
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
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.alerts")

WATCHED: tuple[type[Event], ...] = (TradingStateChanged, RiskDenied, StaleData, PositionRedeemed)
# A failing round of a loop is retried after 1, 2, 4 ... up to 300 s (reset by a good round).
LOOP_BACKOFF = Backoff(1.0, 300.0)


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
        self.errors: Counter[str] = Counter()  # failed rounds per loop ("watch", "summary")

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
        """Stop the timers, give what is queued (e.g. the final halt) ``flush_s`` to go out.
        Never raises what a task died of (logged instead): the daemon is shutting down."""
        sender, *timers = self._tasks
        for task in timers:
            task.cancel()
        await self.dispatcher.flush(min(flush_s, self.cfg.send_timeout_s))
        sender.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                self.errors[task.get_name()] += 1
                log.exception("alerts_task_died", task=task.get_name())
        self.dispatcher.close()
        log.info("alerts_stopped", **dict(self.dispatcher.stats), errors=dict(self.errors))

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
        failures = 0
        while True:
            try:
                self.check_unknown()
            except Exception:
                await self._failed("watch", failures)
                failures += 1
                continue
            failures = 0
            await asyncio.sleep(self.cfg.watch_interval_s)

    async def _summaries(self) -> None:
        assert self.cfg.daily_summary_utc is not None
        at = next_daily(self._wall(), self.cfg.daily_summary_utc)
        failures = 0
        while True:
            left = at - self._wall()  # re-read each minute: a suspended machine, a clock step
            if left > 0:
                await asyncio.sleep(min(left, 60.0))
                continue
            try:
                self.send_summary()
            except Exception:  # retried (backing off) until one goes out, then the next day's
                await self._failed("summary", failures)
                failures += 1
                continue
            failures = 0
            at = next_daily(self._wall(), self.cfg.daily_summary_utc)

    async def _failed(self, loop: str, failures: int) -> None:
        """One failed round of ``loop``: log it with the traceback, count it, back off."""
        self.errors[loop] += 1
        delay = LOOP_BACKOFF.delay(failures)
        log.exception("alerts_loop_failed", loop=loop, failures=failures + 1, retry_in_s=delay)
        await asyncio.sleep(delay)
