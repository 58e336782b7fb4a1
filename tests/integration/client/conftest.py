"""Fixtures for the client integration suite.

The suite runs the real ``KashClient`` against the simulator (``kashbot.sim.embedded.run_sim``) on
127.0.0.1: ``sim``, ``tap``, ``clock``, ``make_client`` and ``kash`` (a developer-tier client).

Only the ``test_client_wire_contract_*.py`` files use the scripted peer of
``kash_fake_server.py`` (fixtures ``scripted_server`` / ``make_scripted_client`` /
``scripted_kash``): they feed the client responses the simulator never produces on purpose.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from kash_fake_server import API_KEY, FakeKash, RecordingClock
from kash_sim_support import FAST_WEBHOOKS, VirtualSleepClock, WireTap

from kashbot.client import KashClient, RetryPolicy
from kashbot.sim.embedded import SimHandle, run_sim

# ---------------------------------------------------------------- the simulator (the default)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    """Default scenario, still pools (no noise traders), lifecycle and webhooks sped up."""
    async with run_sim(time_scale=20, noise=False, overrides=FAST_WEBHOOKS) as handle:
        yield handle


@pytest.fixture
def tap() -> WireTap:
    return WireTap()


@pytest.fixture
def clock() -> VirtualSleepClock:
    return VirtualSleepClock()


@pytest.fixture
async def make_client(
    sim: SimHandle, tap: WireTap, clock: VirtualSleepClock
) -> AsyncIterator[Callable[..., KashClient]]:
    """``make_client(tier="developer", **KashClient kwargs)``: a tapped client on ``sim``."""
    sessions: list[aiohttp.ClientSession] = []
    clients: list[KashClient] = []

    def factory(tier: str = "developer", **kwargs: Any) -> KashClient:
        kwargs.setdefault("api_key", sim.keys[tier].api_key)
        kwargs.setdefault("base_url", sim.base_url)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=3, base_delay=0.01))
        kwargs.setdefault("rng", random.Random(7))
        if "session" not in kwargs:
            sessions.append(tap.session())
            kwargs["session"] = sessions[-1]
        client = KashClient(**kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()
    for session in sessions:
        await session.close()


@pytest.fixture
async def kash(make_client: Callable[..., KashClient]) -> AsyncIterator[KashClient]:
    async with make_client() as client:
        yield client


# ---------------------------------------------------------------- the scripted peer (wire contract)


@pytest.fixture
async def scripted_server() -> AsyncIterator[FakeKash]:
    server = FakeKash()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def scripted_clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def make_scripted_client(
    scripted_server: FakeKash, scripted_clock: RecordingClock
) -> AsyncIterator[Callable[..., KashClient]]:
    opened: list[KashClient] = []

    def factory(**kwargs: Any) -> KashClient:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", scripted_server.base_url)
        kwargs.setdefault("clock", scripted_clock)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=3, base_delay=0.01))
        kwargs.setdefault("rng", random.Random(7))
        client = KashClient(**kwargs)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.aclose()


@pytest.fixture
async def scripted_kash(
    make_scripted_client: Callable[..., KashClient],
) -> AsyncIterator[KashClient]:
    async with make_scripted_client() as client:
        yield client
