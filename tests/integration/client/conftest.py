"""Fixtures: a scripted fake Kash server and a client wired to it with virtual sleeps.

``kash_server`` is the only place the server is created, so swapping in another server (e.g. the
simulator) means replacing this fixture.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kash_fake_server import API_KEY, FakeKash, RecordingClock

from kashbot.client import KashClient, RetryPolicy


@pytest.fixture
async def kash_server() -> AsyncIterator[FakeKash]:
    server = FakeKash()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def make_client(
    kash_server: FakeKash, clock: RecordingClock
) -> AsyncIterator[Callable[..., KashClient]]:
    opened: list[KashClient] = []

    def factory(**kwargs: Any) -> KashClient:
        kwargs.setdefault("api_key", API_KEY)
        kwargs.setdefault("base_url", kash_server.base_url)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("retry_policy", RetryPolicy(max_retries=3, base_delay=0.01))
        kwargs.setdefault("rng", random.Random(7))
        client = KashClient(**kwargs)
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.aclose()


@pytest.fixture
async def kash(make_client: Callable[..., KashClient]) -> AsyncIterator[KashClient]:
    async with make_client() as client:
        yield client
