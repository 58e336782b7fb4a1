"""A strategy's exceptions: counted, shown once, and a strategy that keeps failing paused.

A strategy that raises on every event used to leave a clean-looking report with no trades and no
sign of trouble. The engine records each exception here: per (strategy, event type) counts for the
status JSON, ``report.json``, the backtest summary and metrics (:meth:`StrategyErrors.counts`);
one traceback per (strategy, exception type), later ones only counted (a log line at 10, 100,
1,000 ... of them) so ``--verbose`` is not a flood; and after ``pause_after`` exceptions in a row
(no successful call between) the strategy is paused: the engine stops calling it, logs
``strategy_paused`` and calls every ``on_pause`` hook (the engine's routing and the daemon's
alert hook in there). The operator resumes it (``kashbot strategy resume ID``, the control
endpoint's ``POST /strategy/<id>/resume``, :meth:`StrategyErrors.resume`) once fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("kashbot.engine")

# on_pause(strategy_id, errors_in_row, last_error): the place an alert hooks in.
PauseHook = Callable[[str, int, str], None]
DEFAULT_PAUSE_AFTER = 20


@dataclass(slots=True)
class StrategyErrors:
    """Exception counts per strategy and event type; pauses after ``pause_after`` in a row
    (``0``: never)."""

    pause_after: int = DEFAULT_PAUSE_AFTER
    on_pause: list[PauseHook] = field(default_factory=list)
    by_event: dict[tuple[str, str], int] = field(default_factory=dict)
    in_row: dict[str, int] = field(default_factory=dict)  # only strategies failing right now
    paused: dict[str, str] = field(default_factory=dict)  # strategy id -> the error that did it
    last: dict[str, str] = field(default_factory=dict)  # strategy id -> its latest error
    pauses: dict[str, int] = field(default_factory=dict)  # strategy id -> times paused so far
    _by_type: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_event.values())

    def record(self, strategy_id: str, event_type: str, exc: BaseException) -> bool:
        """Count one exception (call from the ``except`` block); True if it paused the strategy."""
        key = (strategy_id, event_type)
        self.by_event[key] = self.by_event.get(key, 0) + 1
        kind = (strategy_id, type(exc).__name__)
        seen = self._by_type.get(kind, 0) + 1
        self._by_type[kind] = seen
        error = f"{type(exc).__name__}: {exc}"
        self.last[strategy_id] = error
        if seen == 1:  # the traceback once per (strategy, exception type)
            log.exception("strategy_error", strategy=strategy_id, event_type=event_type)
        elif _is_power_of_ten(seen):
            log.error("strategy_error_repeated", strategy=strategy_id, error=error, count=seen)
        row = self.in_row.get(strategy_id, 0) + 1
        self.in_row[strategy_id] = row
        if self.pause_after and row >= self.pause_after and strategy_id not in self.paused:
            self.paused[strategy_id] = error
            self.pauses[strategy_id] = self.pauses.get(strategy_id, 0) + 1
            log.error(
                "strategy_paused",
                strategy=strategy_id,
                errors_in_row=row,
                last_error=error,
                note="the engine no longer calls it; fix it, then: kashbot strategy resume "
                f"{strategy_id} [CONFIG] (or restart)",
            )
            for hook in self.on_pause:
                hook(strategy_id, row, error)
            return True
        return False

    def succeeded(self, strategy_id: str) -> None:
        """A call returned normally: the run in a row ends."""
        self.in_row.pop(strategy_id, None)

    def resume(self, strategy_id: str) -> str | None:
        """Count from zero again; the error that had paused it (None: it was not paused).
        The engine's ``resume_strategy`` calls this and routes events to it again."""
        was = self.paused.pop(strategy_id, None)
        self.in_row.pop(strategy_id, None)
        if was is not None:
            log.warning("strategy_resumed", strategy=strategy_id, paused_by=was)
        return was

    def counts(self) -> dict[tuple[str, str], int]:
        """(strategy id, event type) -> exceptions so far: what a metric exports."""
        return dict(self.by_event)

    def as_json(self, strategy_ids: list[str] | None = None) -> dict[str, Any]:
        """``{strategy id: {total, by_event_type, in_row, paused, last_error}}``; every id in
        ``strategy_ids`` appears, with zeros when it never raised."""
        out: dict[str, Any] = {}
        for sid in strategy_ids or []:
            out[sid] = _entry()
        for (sid, event_type), n in sorted(self.by_event.items()):
            entry = out.setdefault(sid, _entry())
            entry["by_event_type"][event_type] = n
            entry["total"] += n
        for sid, entry in out.items():
            entry["in_row"] = self.in_row.get(sid, 0)
            entry["paused"] = sid in self.paused
            entry["last_error"] = self.last.get(sid)
        return out


def _entry() -> dict[str, Any]:
    return {"total": 0, "by_event_type": {}, "in_row": 0, "paused": False, "last_error": None}


def _is_power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
