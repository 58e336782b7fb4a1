"""Run a source forever: a source that dies (or returns) is logged and restarted with backoff.

The wait grows exponentially with full jitter (many daemons hitting one dead feed should not come
back in lockstep) and resets once the source has run ``healthy_after_s``. The daemon never sees
the failure except as a log line and, after ``max_age_s``, stale fair values.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import structlog

from kashbot.clock import Clock
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.fairvalue")

DEFAULT_RESTART = Backoff(0.5, 30.0, jitter="full")


async def run_supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    clock: Clock,
    *,
    backoff: Backoff = DEFAULT_RESTART,
    rng: random.Random | None = None,
    healthy_after_s: float = 60.0,
    on_restart: Callable[[str, int], None] | None = None,
) -> None:
    """``await run()`` again and again until cancelled; ``on_restart(name, restarts)`` after
    each failure (metrics)."""
    rng = rng or random.Random()
    failures = 0
    restarts = 0
    while True:
        started = clock.now()
        try:
            await run()
            log.warning("fair_value_source_ended", source=name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dead source is restarted, never fatal, never silent
            log.warning(
                "fair_value_source_died", source=name, error=f"{type(exc).__name__}: {exc}"[:300]
            )
        if clock.now() - started >= healthy_after_s:
            failures = 0
        delay = backoff.delay(failures, rng)
        failures += 1
        restarts += 1
        log.info(
            "fair_value_source_restarting", source=name, in_s=round(delay, 3), restarts=restarts
        )
        if on_restart is not None:
            on_restart(name, restarts)
        await clock.sleep(delay)
