"""The control endpoint against slow and hostile peers (issue 13): deadlines, cap, bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kashbot.app.control import ControlServer
from kashbot.inbound import InboundLimits

TOKEN = "tok-" + "y" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


class Confirms:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = asyncio.Event()
        self.done: list[str] = []

    async def confirm(self, trade_id: str) -> str:
        await self.release.wait()
        self.done.append(trade_id)
        self.finished.set()
        return "completed"


@pytest.fixture
async def control() -> AsyncIterator[tuple[ControlServer, list[str], Confirms]]:
    actions: list[str] = []
    confirms = Confirms()
    server = ControlServer(
        halt=actions.append,
        confirm=confirms.confirm,
        token=TOKEN,
        limits=InboundLimits(header_timeout_s=0.3, body_timeout_s=0.3, request_timeout_s=0.5),
    )
    await server.start()
    try:
        yield server, actions, confirms
    finally:
        confirms.release.set()
        await server.stop()


async def test_slow_body_gets_408_and_acts_not(
    control: tuple[ControlServer, list[str], Confirms],
) -> None:
    server, actions, _ = control
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        f"POST /halt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{".encode()
    )
    await writer.drain()
    async with asyncio.timeout(3):
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 408") and actions == []
    writer.close()


async def test_slow_head_is_cut(control: tuple[ControlServer, list[str], Confirms]) -> None:
    server, _, _ = control
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /halt HTTP/1.1\r\nHost")
    await writer.drain()
    async with asyncio.timeout(3):
        assert await reader.read() == b""
    writer.close()


@pytest.mark.parametrize("body", [b"[" * 100_000, b"\xff\xfe", b"1" * 4000, b'{"reason": 5}'])
async def test_hostile_bodies_are_4xx_or_defaulted(
    control: tuple[ControlServer, list[str], Confirms], body: bytes
) -> None:
    server, actions, _ = control
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/halt", data=body, headers=AUTH) as r,
    ):
        assert r.status in (200, 400, 413)
        assert (r.status == 200) == (actions == ["operator via control endpoint"])


async def test_confirm_past_the_total_deadline_is_503_and_still_finishes(
    control: tuple[ControlServer, list[str], Confirms],
) -> None:
    """A confirm may already be at the venue: the deadline answers, it does not cancel."""
    server, _, confirms = control
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/confirm", json={"trade_id": "t-1"}, headers=AUTH) as r,
    ):
        assert r.status == 503 and "Retry-After" in r.headers
    confirms.release.set()
    async with asyncio.timeout(2):
        await confirms.finished.wait()
    assert confirms.done == ["t-1"]
