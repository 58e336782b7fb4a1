"""Strategy exceptions per (strategy, event type): the hook the engine's strategy runner calls.

A plain function and a process-wide counter, so the engine needs no reference to a daemon's
metrics (a backtest calls it too, harmlessly: nothing scrapes it there). Each daemon's
:class:`~kashbot.obs.metrics.DaemonMetrics` exposes it as
``kashbot_strategy_errors_total{strategy,event_type}``; a Prometheus counter only has to grow,
so several daemons in one process (tests) sharing it is fine.
"""

from __future__ import annotations

from collections import Counter

_ERRORS: Counter[tuple[str, str]] = Counter()


def record_strategy_error(strategy: str, event_type: str) -> None:
    """Count one exception a strategy's handler raised (``event_type``: the event class name)."""
    _ERRORS[(strategy, event_type)] += 1


def strategy_errors() -> dict[tuple[str, str], int]:
    """A copy of the counts so far, by (strategy id, event type)."""
    return dict(_ERRORS)
