"""Paper mode only: the simulator's hidden true chances as ``FairValueUpdate`` events.

A stand-in for a real fair-value feed (a model, another venue), so the bundled strategy has
something to trade toward in a demo. Read from the simulator's admin API (``GET /_sim/truth``),
which exists only on 127.0.0.1 and never against the real venue.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import aiohttp
import structlog

from kashbot.clock import Clock
from kashbot.events import Event, FairValueUpdate
from kashbot.sources.convert import chances_to_wad

log = structlog.get_logger("kashbot.sim_truth")


class SimTruthSource:
    name = "sim_truth"

    def __init__(self, admin_url: str, clock: Clock, interval: float = 5.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.clock = clock
        self.interval = interval
        self._last: dict[str, tuple[int, ...]] = {}

    async def run(self, emit: Callable[[Event], None]) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.get(f"{self.admin_url}/truth") as resp:
                        resp.raise_for_status()
                        data = await resp.json()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("sim_truth_failed", error=type(exc).__name__)
                else:
                    now = self.clock.now()
                    for market_id, row in data.items():
                        chances = chances_to_wad([Decimal(x) for x in row["trueProbabilities"]])
                        if chances and self._last.get(market_id) != chances:
                            self._last[market_id] = chances
                            emit(FairValueUpdate(now, market_id, chances, "sim_truth"))
                await self.clock.sleep(self.interval)
