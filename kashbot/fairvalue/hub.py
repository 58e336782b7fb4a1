"""Several sources in one daemon: validate-once, combine per market, track staleness.

The hub is what the daemon wires: it runs every source under :func:`run_supervised`, keeps each
source's latest update per market, forwards the combined value to the engine when it changes
(or when the market comes back from stale), feeds derived sources, and tells the gate which
markets are stale (``on_stale_change``) so buys there are refused.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import structlog

from kashbot.clock import Clock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue.base import AnySource
from kashbot.fairvalue.combine import CombineRule, combine
from kashbot.fairvalue.loader import FairValuesConfig, KeyPath, build_sources
from kashbot.fairvalue.staleness import StalenessTracker
from kashbot.fairvalue.supervise import DEFAULT_RESTART, run_supervised
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.fairvalue")

_MAX_DERIVE_DEPTH = 4  # a derived-from-derived chain deeper than this is a config loop


class FairValueHub:
    """Also an engine ``Source`` (``name`` + ``run(emit)``): ``engine.add_source(hub)``."""

    name = "fair_values"

    def __init__(
        self,
        cfg: FairValuesConfig,
        sources: Sequence[AnySource],
        clock: Clock,
        emit: Callable[[FairValueUpdate], None] | None = None,
        *,
        on_stale_change: Callable[[frozenset[str]], None] | None = None,
        check_interval_s: float = 1.0,
        restart_backoff: Backoff = DEFAULT_RESTART,
    ) -> None:
        self.cfg = cfg
        self.sources = list(sources)
        self.clock = clock
        self._emit: Callable[[FairValueUpdate], None] = emit or (lambda _u: None)
        self._on_stale_change = on_stale_change
        self.check_interval_s = check_interval_s
        self.restart_backoff = restart_backoff
        self.order = [s.source_id for s in self.sources]
        self.max_age = {s.source_id: s.params.max_age_s for s in self.sources}
        self.latest: dict[str, dict[str, FairValueUpdate]] = {}
        self.forwarded: dict[str, FairValueUpdate] = {}
        self.tracker = StalenessTracker()
        for s in self.sources:
            self.tracker.expect(s.markets())
        self._stale: frozenset[str] = frozenset()  # as last reported to on_stale_change
        self._force: set[str] = set()  # forward once even if unchanged (back from stale)
        self._checking = False
        self._depth = 0
        self.restarts: dict[str, int] = {}

    def rule_for(self, market_id: str) -> CombineRule:
        return self.cfg.markets.get(market_id, self.cfg.combine)

    def emitter(self, source: AnySource) -> Callable[[FairValueUpdate], None]:
        """The ``emit`` handed to one source: its updates are stamped with its id."""
        sid = source.source_id

        def emit(update: FairValueUpdate) -> None:
            self.ingest(update if update.source == sid else replace(update, source=sid))

        return emit

    def ingest(self, update: FairValueUpdate) -> None:
        if update.source not in self.max_age:
            log.warning("fair_value_unknown_source", source=update.source)
            return
        self.tracker.observe(update, self.max_age[update.source])
        self.latest.setdefault(update.market_id, {})[update.source] = update
        self._recombine(update.market_id, self.clock.now())
        if update.market_id in self._stale and not self._checking:
            self.check()  # tell the gate now, not at the next check tick

    def _recombine(self, market_id: str, now: float) -> None:
        combined = combine(
            market_id,
            self.latest.get(market_id, {}),
            self.rule_for(market_id),
            self.order,
            now,
            self.max_age,
        )
        if combined is None:
            return
        last = self.forwarded.get(market_id)
        if (
            last is not None
            and last.probabilities == combined.probabilities
            and market_id not in self._force
        ):
            return
        self.forwarded[market_id] = combined
        self._force.discard(market_id)
        self._emit(combined)
        if self._depth >= _MAX_DERIVE_DEPTH:
            log.warning("fair_value_derive_loop", market_id=market_id)
            return
        self._depth += 1
        try:
            for s in self.sources:
                if s.source_id != combined.source:
                    s.observe(combined)
        finally:
            self._depth -= 1

    def check(self) -> frozenset[str]:
        """Re-judge staleness (and fall back to the next fresh source); returns the stale set."""
        now = self.clock.now()
        self._checking = True
        try:
            for market_id in list(self.latest):
                self._recombine(market_id, now)
        finally:
            self._checking = False
        became_stale, became_fresh = self.tracker.transitions(now)
        self._force |= became_stale
        for m in sorted(became_stale):
            log.warning("fair_value_stale", market_id=m, age_s=self.tracker.ages(now).get(m))
        for m in sorted(became_fresh):
            log.info("fair_value_fresh", market_id=m)
        self._stale = self.tracker.stale(now)
        if (became_stale or became_fresh) and self._on_stale_change is not None:
            self._on_stale_change(self._stale)
        return self._stale

    def stale(self) -> frozenset[str]:
        return self.tracker.stale(self.clock.now())

    def ages(self) -> dict[str, float | None]:
        return self.tracker.ages(self.clock.now())

    def _count_restart(self, name: str, restarts: int) -> None:
        self.restarts[name] = restarts

    @classmethod
    def from_config(
        cls,
        data: Mapping[str, Any] | FairValuesConfig,
        clock: Clock,
        *,
        on_stale_change: Callable[[frozenset[str]], None] | None = None,
        file: str | None = None,
        lines: Mapping[KeyPath, int] | None = None,
    ) -> FairValueHub:
        """Validate a ``fair_values:`` section and build its hub (errors name file:line)."""
        cfg, sources = build_sources(data, clock, file=file, lines=lines)
        return cls(cfg, sources, clock, on_stale_change=on_stale_change)

    async def run(self, emit: Callable[[FairValueUpdate], None] | None = None) -> None:
        """Every source, supervised, plus the staleness check loop; until cancelled.

        ``emit`` (the engine's, when the hub is added as an engine source) replaces the one
        given at construction.
        """
        if emit is not None:
            self._emit = emit
        rng = random.Random(self.cfg.seed)
        async with asyncio.TaskGroup() as tg:
            for s in self.sources:
                tg.create_task(
                    run_supervised(
                        s.source_id,
                        functools.partial(s.run, self.emitter(s)),
                        self.clock,
                        backoff=self.restart_backoff,
                        rng=random.Random(rng.getrandbits(64)),
                        on_restart=self._count_restart,
                    ),
                    name=f"fair-value:{s.source_id}",
                )
            tg.create_task(self._check_loop(), name="fair-value:staleness")

    async def _check_loop(self) -> None:
        self.check()
        while True:
            await self.clock.sleep(self.check_interval_s)
            self.check()
