"""What the gate knows per market besides exposure: staleness, venue refusals and lifecycle.

A market the venue refused (``MARKET_NOT_TRADEABLE``, ``MARKET_NOT_FOUND``) stays untradeable
until a snapshot taken *after* the refusal says it trades again (phase OPEN): the venue, not a
timer, lifts it. The lifecycle is the venue's last word per market, judged by
:func:`kashbot.lifecycle.phase_at` inside ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from kashbot.events import MarketSnapshot
from kashbot.lifecycle import Lifecycle, Phase, phase_at

log = structlog.get_logger("kashbot.risk")


class MarketFlags:
    """Stale and untradeable markets, and each market's lifecycle, as the gate sees them."""

    def __init__(self) -> None:
        self.stale: set[str] = set()
        self.untradeable: dict[str, float] = {}  # market -> when the venue refused it
        self.lifecycles: dict[str, Lifecycle] = {}

    def observe(self, snap: MarketSnapshot, freeze_margin_s: float) -> None:
        lc = Lifecycle(snap.status, snap.freeze_at, snap.resolution_state, snap.winning_outcomes)
        self.lifecycles[snap.market_id] = lc
        marked = self.untradeable.get(snap.market_id)
        if (
            marked is not None
            and snap.ts > marked
            and phase_at(lc, snap.ts, freeze_margin_s) is Phase.OPEN
        ):
            del self.untradeable[snap.market_id]
            log.info("market_tradeable_again", market_id=snap.market_id)

    def phase(self, market_id: str, now: float, freeze_margin_s: float) -> Phase:
        lc = self.lifecycles.get(market_id)
        return Phase.UNKNOWN if lc is None else phase_at(lc, now, freeze_margin_s)

    def view(self) -> Mapping[str, Lifecycle]:
        return self.lifecycles
