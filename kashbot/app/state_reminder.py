"""A low-rate reminder that trading is not ACTIVE.

The gate logs a state change once (``trading_state_changed``, a warning) and the denials it then
causes at debug level, so a halted daemon does not log a warning per market every few seconds.
This task repeats the news at most every ``interval_s`` (default 10 min) while the state lasts.
"""

from __future__ import annotations

import structlog

from kashbot.clock import Clock
from kashbot.events import TradingState
from kashbot.risk.gate import RiskGate

log = structlog.get_logger("kashbot.daemon")

REMINDER_S = 600.0


async def remind_trading_state(
    gate: RiskGate, clock: Clock, interval_s: float = REMINDER_S
) -> None:
    """Every ``interval_s``: one warning if the gate is HALTED or REDUCING (until cancelled)."""
    while True:
        await clock.sleep(interval_s)
        state = gate.state
        if state is TradingState.ACTIVE:
            continue
        log.warning(
            "trading_state_reminder",
            state=str(state),
            reason=gate.state_reason,
            hint="kashbot resume (or reduce) when it is safe; denials by the state log at debug",
        )
