"""Timer source: periodic ``Timer`` events on the injected clock, live and in backtests alike.

Why one task sleeping on ``Clock.sleep`` rather than ``loop.call_later``: under a ``SimClock`` the
sleep is a registered sleeper, so ``SimClock.next_deadline()`` already tells a backtest driver
when the next timer is due and ``advance_to`` wakes it — no driver needs to know timers exist.
Under a ``WallClock`` it is an ordinary sleep.

Schedule: timer ``k`` fires at ``anchor + n * interval`` (n = 1, 2, ...), so it does not drift
with processing time. If the loop was blocked past several ticks, the timer fires once and the
missed ticks are counted in ``skipped`` instead of arriving as a burst.

Strategies declare timers as ``{name: interval_s}`` (see :func:`declared_timers`); each Timer
event carries the declaring strategy's id so the engine delivers it to that strategy only.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kashbot.clock import Clock
from kashbot.events import Event, Timer

log = structlog.get_logger("kashbot.sources.timer")

# Wake-ups may land a hair before the deadline (float rounding under SimClock, timer
# granularity under WallClock); a deadline this close counts as due.
DUE_TOLERANCE_S = 1e-3
MIN_INTERVAL_S = 0.01  # faster than this is a busy loop, not a timer


@dataclass(frozen=True, slots=True)
class TimerSpec:
    name: str
    interval_s: float
    strategy: str | None = None  # None: every strategy that handles Timer receives it


def _check_timers(raw: object, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise TypeError(f"{where}: timers must be a mapping of name -> interval_s")
    out: dict[str, float] = {}
    for name, every in raw.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: timer names must be non-empty strings, got {name!r}")
        if isinstance(every, bool) or not isinstance(every, int | float):
            raise TypeError(f"{where}.{name}: interval_s must be a number, got {every!r}")
        if not math.isfinite(every) or every < MIN_INTERVAL_S:
            raise ValueError(
                f"{where}.{name}: interval_s must be >= {MIN_INTERVAL_S}, got {every!r}"
            )
        out[name] = float(every)
    return out


def declared_timers(
    strategy: Any, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """A strategy's timers: class/instance ``timers``, then ``params.timers``, then ``overrides``.

    Later sources win per name, so a config file can change an interval a strategy declares.
    """
    merged: dict[str, float] = {}
    own = getattr(strategy, "timers", None)
    if own is not None:
        merged.update(_check_timers(own, f"{type(strategy).__name__}.timers"))
    params = getattr(strategy, "params", None)
    from_params = getattr(params, "timers", None) if params is not None else None
    if from_params is not None:
        merged.update(_check_timers(from_params, "params.timers"))
    if overrides:
        merged.update(_check_timers(overrides, "timers"))
    return merged


class TimerSource:
    """Emits ``Timer(ts, name, strategy)`` for every spec on its schedule until cancelled."""

    name = "timer"

    def __init__(
        self, clock: Clock, specs: Iterable[TimerSpec], *, anchor: float | None = None
    ) -> None:
        self.clock = clock
        self.specs = tuple(specs)
        for spec in self.specs:
            _check_timers({spec.name: spec.interval_s}, f"timer of {spec.strategy or 'engine'}")
        self.anchor = anchor
        self.fired: Counter[str] = Counter()
        self.skipped = 0

    def __repr__(self) -> str:
        return f"TimerSource({len(self.specs)} timers)"

    async def run(self, emit: Callable[[Event], None]) -> None:
        if not self.specs:
            return
        clock = self.clock
        anchor = clock.now() if self.anchor is None else self.anchor
        heap = [(anchor + s.interval_s, i, s) for i, s in enumerate(self.specs)]
        heapq.heapify(heap)
        while True:
            due, i, spec = heap[0]
            now = clock.now()
            if due > now + DUE_TOLERANCE_S:
                await clock.sleep(due - now)
                continue
            emit(Timer(now, spec.name, spec.strategy))
            self.fired[spec.name] += 1
            missed = max(0, math.floor((now + DUE_TOLERANCE_S - due) / spec.interval_s))
            if missed:
                self.skipped += missed
                log.warning("timer_ticks_skipped", timer=spec.name, missed=missed)
            heapq.heapreplace(heap, (due + (missed + 1) * spec.interval_s, i, spec))
