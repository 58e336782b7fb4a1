"""Helpers for driving the real KashClient against the simulator (``run_sim``) on 127.0.0.1.

- :class:`WireTap` records every HTTP request the client's aiohttp session actually sends (method,
  undecoded path, query, headers, body bytes) through aiohttp request tracing. The simulator
  decides what comes back; its own request log (``sim.venue.requests``) is the server-side truth.
- :class:`VirtualSleepClock`: wall time for ``now()`` (the simulator checks request signatures
  against its wall clock) while ``sleep()`` only records, so retries never really wait.
- :class:`LinkedClock`: the client's clock *is* the simulator's ``SimClock``; a retry's sleep moves
  the simulator forward by exactly that long (rate-limit windows refill, as they would).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp

from kashbot.sim.embedded import SimHandle

# Markets of configs/sim/default.yaml (2, 3 and 5 outcomes).
M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"
M3 = "7c06e2e5-dd34-4334-9c82-e4fba33bff68"
M5 = "38fcee42-9cb4-4fd0-b4c6-5508cd084e33"
FAST_WEBHOOKS = {"webhooks": {"retry_time_factor": 0.002, "jitter": 0.0}}
WAD = 10**18


@dataclass
class Sent:
    method: str
    path: str  # undecoded, as on the wire (%2F stays %2F)
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WireTap:
    sent: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_chunk_sent.append(self._chunk)

    async def _start(
        self,
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        url = params.url
        ctx.sent = Sent(params.method, url.raw_path, dict(url.query), dict(params.headers))
        self.sent.append(ctx.sent)

    async def _chunk(
        self,
        _session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestChunkSentParams,
    ) -> None:
        ctx.sent.body += params.chunk

    def session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(trace_configs=[self.config])

    def calls(self, method: str, path: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and s.path == path]


def served(sim: SimHandle, route: str | None = None) -> list[dict[str, Any]]:
    """The simulator's request log (ground truth), optionally for one route template."""
    return [r for r in sim.venue.requests if route is None or r["route"] == route]


def statuses(sim: SimHandle, route: str) -> list[int]:
    return [r["status"] for r in served(sim, route)]


class VirtualSleepClock:
    def __init__(self, skew_s: float = 0.0) -> None:
        self.skew_s = skew_s
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.time() + self.skew_s

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


class LinkedClock:
    def __init__(self, sim: SimHandle) -> None:
        self.sim = sim
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.sim.venue.clock.now()

    def now_ms(self) -> int:
        return self.sim.venue.clock.now_ms()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.sim.advance(seconds)
