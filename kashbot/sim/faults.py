"""Armed faults: which request, webhook or trade misbehaves next, and how.

Pure bookkeeping; the HTTP layer, the deliverer and the venue ask ``take(...)`` at the point where
each fault bites. Probabilistic faults flip a seeded coin so a scenario replays identically.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import get_args

from kashbot.sim.ids import rng_for
from kashbot.sim.scenario import FaultKind, FaultSpec

# The kinds that bite away from the HTTP edge, each named once, by where it bites; every other
# kind of the scenario's ``FaultKind`` is an HTTP fault (the server's edge middleware asks).
WEBHOOK_KINDS = frozenset({"webhook_duplicate", "webhook_reorder", "webhook_outage"})
STREAM_KINDS = frozenset({"stream_disconnect"})
TRADE_KINDS = frozenset({"trade_fail", "trade_reject"})  # a trade's final status
NON_HTTP_KINDS = WEBHOOK_KINDS | STREAM_KINDS | TRADE_KINDS
HTTP_KINDS: frozenset[str] = frozenset(get_args(FaultKind)) - NON_HTTP_KINDS
TRADE_ROUTES = ("POST /v1/trades", "POST /v1/trades/*/confirm")


@dataclass(slots=True)
class ArmedFault:
    id: str
    spec: FaultSpec
    armed_at: float
    fired: int = 0

    def active(self, now: float) -> bool:
        start = self.armed_at + self.spec.after_s
        if now < start:
            return False
        if self.spec.duration_s is not None and now >= start + self.spec.duration_s:
            return False
        return self.spec.count is None or self.fired < self.spec.count

    def expired(self, now: float) -> bool:
        if self.spec.count is not None and self.fired >= self.spec.count:
            return True
        start = self.armed_at + self.spec.after_s
        return self.spec.duration_s is not None and now >= start + self.spec.duration_s

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "armedAt": self.armed_at,
            "fired": self.fired,
            **self.spec.model_dump(mode="json"),
        }


def _route_matches(patterns: tuple[str, ...], route: str, path: str, method: str) -> bool:
    if not patterns:
        return True
    return any(
        fnmatch.fnmatchcase(route, p) or fnmatch.fnmatchcase(f"{method} {path}", p)
        for p in patterns
    )


class FaultRegistry:
    def __init__(self, seed: int) -> None:
        self._faults: list[ArmedFault] = []
        self._rng: random.Random = rng_for(seed, "faults")
        self._n = 0

    def arm(self, spec: FaultSpec, now: float) -> ArmedFault:
        self._n += 1
        routes = spec.routes
        if spec.kind == "trade_halt" and not routes:
            spec = spec.model_copy(update={"routes": TRADE_ROUTES})
        elif routes:
            spec = spec.model_copy(update={"routes": routes})
        fault = ArmedFault(f"flt_{self._n}", spec, now)
        self._faults.append(fault)
        return fault

    def disarm(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def list(self, now: float) -> list[ArmedFault]:
        self._faults = [f for f in self._faults if not f.expired(now)]
        return list(self._faults)

    def take(
        self,
        kinds: frozenset[str] | set[str],
        now: float,
        *,
        route: str = "",
        path: str = "",
        method: str = "",
        key_names: tuple[str, ...] = (),
    ) -> ArmedFault | None:
        """The first active fault of ``kinds`` matching this point; consumes one ``count``."""
        for fault in self._faults:
            spec = fault.spec
            if spec.kind not in kinds or not fault.active(now):
                continue
            if spec.key is not None and spec.key not in key_names:
                continue
            if route and not _route_matches(spec.routes, route, path, method):
                continue
            if spec.probability < 1.0 and self._rng.random() >= spec.probability:
                continue
            fault.fired += 1
            return fault
        return None
