"""Replay source: the recorded *inputs* of a run, in the order the engine first saw them.

A journal holds inputs (market data, fair values, staleness alarms) and outputs (our trade
lifecycle, denials, timers, intents). A replay yields only the inputs: the outputs are what the
run under test must produce again by itself.

Two ways to consume it:

- iterate it (``for event in source``) — the backtest's fast path: no awaits at all, the driver
  moves the ``SimClock`` and calls ``engine.feed`` itself;
- as an engine ``Source`` (``await source.run(emit)``) — paced by a clock, so a daemon can be fed
  a recording in real or scaled time (with no clock it emits as fast as the loop allows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from kashbot.backtest.recording import JournalHeader, JournalReader, Recordable
from kashbot.clock import Clock
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    PredictionSeen,
    PriceChange,
    QuoteSeen,
    StaleData,
)

INPUT_TYPES: frozenset[type[Event]] = frozenset(
    {MarketSnapshot, PriceChange, PredictionSeen, QuoteSeen, FairValueUpdate, StaleData, DataFresh}
)

YIELD_EVERY = 1024  # in unpaced mode, let other tasks run this often


class ReplaySource:
    """Recorded input events, from a journal file or an in-memory sequence."""

    name = "replay"

    def __init__(
        self,
        data: str | Path | Iterable[Recordable],
        *,
        types: frozenset[type[Event]] = INPUT_TYPES,
        clock: Clock | None = None,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.header: JournalHeader | None = None
        self._path: Path | None = None
        self._items: Iterable[Recordable] | None = None
        if isinstance(data, str | Path):
            self._path = Path(data)
            with JournalReader(self._path) as reader:  # fail fast on a bad header
                self.header = reader.header
        else:
            self._items = data
        self._types = types
        self._clock = clock
        self._speed = speed
        self.emitted = 0

    def _raw(self) -> Iterator[Recordable]:
        if self._path is not None:
            with JournalReader(self._path) as reader:
                yield from reader
        else:
            assert self._items is not None
            yield from self._items

    def __iter__(self) -> Iterator[Event]:
        types = self._types
        for item in self._raw():
            if type(item) in types:
                assert isinstance(item, Event)
                yield item

    async def run(self, emit: Callable[[Event], None]) -> None:
        """Emit every input event; with a clock, wait until each event's (scaled) time."""
        clock = self._clock
        first_ts: float | None = None
        start = clock.now() if clock is not None else 0.0
        for event in self:
            if clock is not None:
                if first_ts is None:
                    first_ts = event.ts
                due = start + (event.ts - first_ts) / self._speed
                delay = due - clock.now()
                if delay > 0:
                    await clock.sleep(delay)
            emit(event)
            self.emitted += 1
            if clock is None and self.emitted % YIELD_EVERY == 0:
                await asyncio.sleep(0)
