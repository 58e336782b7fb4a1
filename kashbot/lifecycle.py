"""A market's lifecycle as one pure function of what the venue said and the time.

Kash's REST market (kash-today §4) says ``status`` (UNSEEDED | ACTIVE | RESOLVED | ABANDONED),
``freezeAt`` (trading closes; no FROZEN status exists, frozen is derived from the clock),
``resolutionState`` (resolving | proposed | settling | resolved | cancelled, null before expiry)
and ``resolution.proposedOutcomeIndex``. :func:`phase_at` folds them into one :class:`Phase`:
the risk gate denies by it (whatever strategy asked) and the redeemer claims by it.

Choices for what the venue leaves open are in ``docs/lifecycle.md``. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_FREEZE_MARGIN_S = 60.0  # stop buying this long before freezeAt (risk.freeze_margin_s)

# resolutionState values after which nothing trades and the outcome is not yet claimable
PENDING_RESOLUTION = frozenset({"resolving", "proposed", "settling"})


class Phase(StrEnum):
    UNKNOWN = "UNKNOWN"  # no status yet (or an unknown one): the gate does not judge
    UNSEEDED = "UNSEEDED"  # created, not seeded: nothing trades yet
    OPEN = "OPEN"  # ACTIVE, before the freeze margin
    FREEZING = "FREEZING"  # ACTIVE, within the margin before freezeAt: sells only
    FROZEN = "FROZEN"  # past freezeAt, outcome not settled: nothing trades
    RESOLVING = "RESOLVING"  # resolving/proposed/settling: nothing trades, nothing to claim yet
    RESOLVED = "RESOLVED"  # final: winners are claimable
    CANCELLED = "CANCELLED"  # final: every outcome is refunded
    ABANDONED = "ABANDONED"  # the venue gave up on it: nothing trades, nothing to claim


CLOSED_PHASES = frozenset(
    {
        Phase.UNSEEDED,
        Phase.FROZEN,
        Phase.RESOLVING,
        Phase.RESOLVED,
        Phase.CANCELLED,
        Phase.ABANDONED,
    }
)
CLAIMABLE_PHASES = frozenset({Phase.RESOLVED, Phase.CANCELLED})


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What the venue last said about a market's life (times in clock seconds)."""

    status: str | None
    freeze_at: float | None = None
    resolution_state: str | None = None
    winning_outcomes: tuple[int, ...] = ()  # known once final; () = not (yet) known


def phase_at(lc: Lifecycle, t: float, freeze_margin_s: float = DEFAULT_FREEZE_MARGIN_S) -> Phase:
    """The market's phase at time ``t``; ``resolutionState`` wins over ``status``."""
    rs = (lc.resolution_state or "").lower()
    status = (lc.status or "").upper()
    if rs == "cancelled":
        return Phase.CANCELLED
    if rs == "resolved" or status == "RESOLVED":
        return Phase.RESOLVED
    if rs in PENDING_RESOLUTION:
        return Phase.RESOLVING
    if status == "ABANDONED":
        return Phase.ABANDONED
    if status == "UNSEEDED":
        return Phase.UNSEEDED
    if status != "ACTIVE":
        return Phase.UNKNOWN
    if lc.freeze_at is not None:
        if t >= lc.freeze_at:
            return Phase.FROZEN
        if t >= lc.freeze_at - max(0.0, freeze_margin_s):
            return Phase.FREEZING
    return Phase.OPEN


def winners_from(
    resolution_state: str | None,
    proposed_outcome: int | None,
    settlement_status: str | None,
) -> tuple[int, ...]:
    """The winning outcome(s) once the REST market says so, else ``()`` (unknown).

    REST has no final-outcome field (kash-today unknown 5): a ``resolved`` market's
    ``resolution.proposedOutcomeIndex`` is taken as the winner unless its settlement says
    ``cancelled``. Multi-winner markets cannot be told apart here (``()``: ask the venue).
    """
    if (resolution_state or "").lower() != "resolved" or proposed_outcome is None:
        return ()
    if (settlement_status or "").lower() == "cancelled":
        return ()
    return (proposed_outcome,)
