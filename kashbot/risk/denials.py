"""How a denial is told: one structlog line and one ``RiskDenied`` event, whoever found it."""

from __future__ import annotations

import structlog

from kashbot.events import RiskDenied
from kashbot.risk.rules import Denial, Reason

log = structlog.get_logger("kashbot.risk")

# A denial by the trading state is routine: the state's change was the warning.
_ROUTINE = (Reason.HALTED, Reason.REDUCING_ONLY)


def log_denial(denial: Denial) -> None:
    """The ``risk_denied`` line (debug for a routine one, else a warning)."""
    (log.debug if denial.reason in _ROUTINE else log.warning)(
        "risk_denied",
        reason=str(denial.reason),
        detail=denial.detail,
        **denial.intent.log_fields(),
    )


def denial_event(denial: Denial, ts: float) -> RiskDenied:
    """The bus event for a denial (metrics and the status view count them)."""
    i = denial.intent
    return RiskDenied(
        ts=ts,
        intent_id=i.intent_id,
        strategy=i.strategy,
        market_id=i.market_id,
        reason=str(denial.reason),
        detail=denial.detail,
    )
