"""Deliver alerts without ever holding up trading.

``submit`` is synchronous and O(1) (a bus handler calls it inline): deduplicate by key within
the window (counted as ``suppressed``), then append to a bounded queue (full: the oldest is
dropped and counted). One consumer task sends them one at a time. apprise is blocking, so each
send runs on this dispatcher's own two threads -- not the loop's default executor, which DNS
lookups share: a hanging endpoint may tie up these threads, never the rest of the daemon.
A send still running after ``send_timeout_s`` is given up (``timed_out``); while both threads
are stuck, alerts are not handed to them (``failed``) until one comes back.

An alert leaves the process, so its title and body go through the log masking first
(:func:`~kashbot.obs.logging.mask_text`: registered secrets, Kash keys, webhook secrets): an
exception's text quoted in an alert (a recovery failure, a denial's detail) may hold one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import structlog

from kashbot.alerts.config import Level
from kashbot.alerts.rules import LEVELS, STATE_KEY, Alert
from kashbot.obs.logging import mask_text

log = structlog.get_logger("kashbot.alerts")

WORKERS = 2
Sender = Callable[[Alert], bool]  # blocking; True = delivered


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    send: Sender
    events: frozenset[str] | None = None  # None = every event
    min_level: Level = "info"

    def wants(self, alert: Alert) -> bool:
        if self.events is not None and alert.event not in self.events:
            return False
        return LEVELS[alert.level] >= LEVELS[self.min_level]


class AlertDispatcher:
    def __init__(
        self,
        channels: list[Channel],
        *,
        dedup_window_s: float = 300.0,
        max_per_minute: int = 20,
        queue_size: int = 100,
        send_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = channels
        self.dedup_window_s = dedup_window_s
        self.max_per_minute = max_per_minute
        self.send_timeout_s = send_timeout_s
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self._queue: deque[Alert] = deque(maxlen=queue_size)
        self._last: dict[str, float] = {}
        self._recent: dict[str, deque[float]] = {c.name: deque() for c in channels}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="kashbot-alerts")
        self._busy = 0  # sends handed to the threads and not back yet (incl. given-up ones)

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` unless the same key was queued within the window; never blocks."""
        now = self.clock()
        last = self._last.get(alert.key)
        if last is not None and now - last < self.dedup_window_s:
            self.stats["suppressed"] += 1
            self.stats[f"suppressed.{alert.event}"] += 1
            return False
        if alert.key.startswith(STATE_KEY):  # halt, resume, halt again: all three are news
            self._last = {k: t for k, t in self._last.items() if not k.startswith(STATE_KEY)}
        self._last[alert.key] = now
        if len(self._last) > 4096:  # forget keys older than the window
            self._last = {k: t for k, t in self._last.items() if now - t < self.dedup_window_s}
        if len(self._queue) == self._queue.maxlen:
            self.stats["dropped"] += 1  # deque(maxlen) drops the oldest on append
        self._queue.append(alert)
        self.stats["queued"] += 1
        self._idle.clear()
        self._wake.set()
        return True

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        """The consumer: send each queued alert to the channels that want it, in order."""
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            alert = self._queue.popleft()
            for channel in self.channels:
                if channel.wants(alert) and self._admit(channel):
                    try:
                        await self._send(channel, alert)
                    except Exception:  # never let one alert end the sender
                        self.stats["failed"] += 1
                        log.exception("alert_send_crashed", channel=channel.name)

    async def flush(self, within_s: float) -> bool:
        """Wait (at most ``within_s``) until the queue is sent; True if it was."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self._idle.wait()
        return self._idle.is_set()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _admit(self, channel: Channel) -> bool:
        """At most ``max_per_minute`` sends per channel in any 60 s."""
        now, recent = self.clock(), self._recent[channel.name]
        while recent and now - recent[0] >= 60.0:
            recent.popleft()
        if len(recent) >= self.max_per_minute:
            self.stats["rate_limited"] += 1
            return False
        recent.append(now)
        return True

    async def _send(self, channel: Channel, alert: Alert) -> None:
        if self._busy >= WORKERS:
            self.stats["failed"] += 1
            log.warning("alert_not_sent", channel=channel.name, alert=alert.event, why="busy")
            return
        self._busy += 1
        loop = asyncio.get_running_loop()
        future: Future[bool] = self._pool.submit(channel.send, masked(alert))
        future.add_done_callback(lambda _: _call_soon(loop, self._back))
        try:
            async with asyncio.timeout(self.send_timeout_s):
                ok = await asyncio.wrap_future(future)
        except TimeoutError:
            self.stats["timed_out"] += 1
            log.warning("alert_send_timeout", channel=channel.name, alert=alert.event)
            return
        except Exception as exc:  # a plugin bug: counted, never raised into the daemon
            ok = False
            log.warning("alert_send_error", channel=channel.name, error=type(exc).__name__)
        self.stats["sent" if ok else "failed"] += 1
        if not ok:
            log.warning("alert_send_failed", channel=channel.name, alert=alert.event)

    def _back(self) -> None:
        self._busy -= 1


def masked(alert: Alert) -> Alert:
    """``alert`` with every secret the logs would mask masked in its title and body."""
    return replace(alert, title=mask_text(alert.title), body=mask_text(alert.body))


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """From a worker thread; a loop already closed (the daemon stopped) needs no news."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn)
