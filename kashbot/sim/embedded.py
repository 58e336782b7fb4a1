"""``run_sim``: start the simulator on 127.0.0.1 (a free port) for a test, a backtest or a demo.

    async with run_sim(time_scale=20, noise=False) as sim:
        async with KashClient(sim.keys["mm"].api_key, sim.base_url) as c: ...

``scenario`` is a path, a dict or None (``configs/sim/default.yaml``); ``overrides`` is deep-merged
into it; ``noise=False`` silences the noise traders (quote == execution tests need a still pool);
``clock`` lets a test run the server on a :class:`~kashbot.clock.SimClock` it moves by hand
(``await sim.advance(60)``).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kashbot.clock import Clock, SimClock, WallClock
from kashbot.sim.app import SimServer
from kashbot.sim.models import TERMINAL, TradeRecord
from kashbot.sim.scenario import DEFAULT_SCENARIO, FaultSpec, Scenario, ScenarioError
from kashbot.sim.venue import Venue


@dataclass(frozen=True)
class SimKey:
    """A scenario key as a test needs it. Test fixtures only; reprs hide the secrets anyway."""

    api_key: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    user_id: str
    tier: str
    name: str
    key_id: str

    @property
    def prefix(self) -> str:
        return self.api_key[:14]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario_dict(scenario: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """A scenario as a plain dict (to tweak before :func:`run_sim` or ``Venue``)."""
    if isinstance(scenario, dict):
        return copy.deepcopy(scenario)
    path = Path(scenario) if scenario is not None else DEFAULT_SCENARIO
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping at the top level")
    return data


def prepare_scenario(
    scenario: str | Path | dict[str, Any] | Scenario | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    noise: bool = True,
) -> Scenario | str | Path | dict[str, Any] | None:
    if isinstance(scenario, Scenario) or (overrides is None and noise):
        return scenario
    data = deep_merge(scenario_dict(scenario), overrides or {})
    if not noise:
        for m in data.get("markets", []):
            m["noise"] = {**m.get("noise", {}), "enabled": False}
    return data


class SimHandle:
    """A running simulator: URLs, the venue (ground truth) and fault/time helpers."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.venue: Venue = server.venue

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def admin_url(self) -> str:
        return self.server.admin_url

    @property
    def stream_url(self) -> str:
        return self.server.stream_url

    @property
    def keys(self) -> dict[str, SimKey]:
        """First key of each tier (the default scenario has exactly one per tier)."""
        out: dict[str, SimKey] = {}
        for k in self.venue.keys.values():
            out.setdefault(k.tier, self._snap(k.name))
        return out

    @property
    def keys_by_name(self) -> dict[str, SimKey]:
        return {k.name: self._snap(k.name) for k in self.venue.keys.values()}

    def _snap(self, ref: str) -> SimKey:
        k = self.venue.find_key(ref)
        return SimKey(k.api_key, k.webhook_secret, k.user_id, k.tier, k.name, k.id)

    def key(self, ref: str) -> SimKey:
        """By tier, name, id or api-key prefix."""
        return self.keys.get(ref) or self._snap(ref)

    @property
    def market_ids(self) -> list[str]:
        return list(self.venue.markets)

    def arm_fault(self, kind: str, **spec: Any) -> str:
        fid = self.venue.arm_fault(FaultSpec.model_validate({"kind": kind, **spec}))
        self.server.kick()
        return fid

    def clear_faults(self) -> None:
        self.venue.faults.clear()

    def set_webhook(self, ref: str, url: str | None, secret: str | None = None) -> str | None:
        """Point a key (tier/name/id/prefix) at a receiver; returns the secret to verify with."""
        k = self.venue.set_webhook(self.key(ref).name, url, secret)
        self.server.kick()
        return k.webhook_secret

    def disconnect_streams(self, key: str | None = None) -> int:
        return self.server.hub.disconnect(key)

    async def advance(self, seconds: float) -> None:
        """Move a SimClock-driven simulator forward and run what became due."""
        clock = self.venue.clock
        if not isinstance(clock, SimClock):
            raise TypeError("advance() needs run_sim(clock=SimClock())")
        clock.advance(seconds)
        self.venue.advance()
        self.server.kick()
        await asyncio.sleep(0)

    async def wait_for_trade(
        self, trade_id: str, statuses: Iterable[str] = TERMINAL, within: float = 10.0
    ) -> TradeRecord:
        """Wait (bounded) until the trade reaches one of ``statuses``; returns it."""
        want = set(statuses)
        async with asyncio.timeout(within):
            while True:
                self.venue.advance()
                t = self.venue.trades[trade_id]
                if t.status in want:
                    return t
                await asyncio.sleep(0.005)

    async def wait_until(self, predicate: Any, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.venue.advance()
                await asyncio.sleep(0.005)


@asynccontextmanager
async def run_sim(
    scenario: str | Path | dict[str, Any] | Scenario | None = None,
    *,
    seed: int = 0,
    time_scale: float = 1.0,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    noise: bool = True,
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[SimHandle]:
    venue = Venue(
        prepare_scenario(scenario, overrides=overrides, noise=noise),
        clock=clock or WallClock(),
        seed=seed,
        time_scale=time_scale,
    )
    server = SimServer(venue, host=host, port=port)
    await server.start()
    try:
        yield SimHandle(server)
    finally:
        await server.stop()
