"""Staleness watchdog: turns "no data for too long" into StaleData and its end into DataFresh.

A stream that dies silently is the classic way a bot keeps trading on a frozen price. Every
source reports what it heard (``touch``); ``check`` (called on a timer) raises one ``StaleData``
per market (or for the whole source) when the age passes the limit, and one ``DataFresh`` when
data comes back. The risk gate blocks new exposure on stale markets in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kashbot.events import DataFresh, Event, StaleData


class StalenessWatchdog:
    def __init__(self, source: str, stale_after: float, emit: Callable[[Event], None]) -> None:
        self.source = source
        self.stale_after = stale_after
        self._emit = emit
        self._last: dict[str | None, float] = {}  # None = the source as a whole
        self._stale: set[str | None] = set()

    def watch(self, market_ids: Iterable[str], now: float) -> None:
        """Start the clock for markets we expect data about (they go stale if none comes)."""
        for m in market_ids:
            self._last.setdefault(m, now)
        self._last.setdefault(None, now)

    def forget(self, market_id: str) -> None:
        """No more data is expected about ``market_id`` (retired): it never goes stale."""
        self._last.pop(market_id, None)
        self._stale.discard(market_id)

    def touch(self, market_id: str | None, now: float) -> None:
        """Fresh data about ``market_id`` (None: a sign of life such as a heartbeat)."""
        self._mark(None, now)
        if market_id is not None:
            self._mark(market_id, now)

    def _mark(self, key: str | None, now: float) -> None:
        self._last[key] = now
        if key in self._stale:
            self._stale.discard(key)
            self._emit(DataFresh(now, self.source, key))

    def check(self, now: float) -> None:
        for key, last in self._last.items():
            age = now - last
            if age > self.stale_after and key not in self._stale:
                self._stale.add(key)
                self._emit(StaleData(now, self.source, key, age))

    def force_stale(self, now: float) -> None:
        """The source lost its connection: everything it covers is stale right now."""
        for key, last in self._last.items():
            if key not in self._stale:
                self._stale.add(key)
                self._emit(StaleData(now, self.source, key, now - last))

    @property
    def stale(self) -> frozenset[str | None]:
        return frozenset(self._stale)
