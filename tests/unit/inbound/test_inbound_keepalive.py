"""Keep-alive under the inbound guard: a pooled client connection is reused, not cut.

Regression: the guard re-armed the header deadline after every answer without cancelling the
previous timer, so (1) an idle keep-alive connection was cut (and logged as a slow peer) after
``header_timeout_s``, and (2) a deadline armed for an earlier request could abort the connection
while a later request on it was being sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kashbot.inbound import GuardedSite, InboundGuard, InboundLimits

pytestmark = pytest.mark.timeout(30)

LIMITS = InboundLimits(header_timeout_s=0.3, body_timeout_s=0.3, keepalive_idle_s=1.2)
REQUEST = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


async def _ping(_: web.Request) -> web.Response:
    return web.Response(text="pong")


@pytest.fixture
async def served() -> AsyncIterator[tuple[InboundGuard, int]]:
    site = GuardedSite(LIMITS, label="test")
    guard = site.guard
    app = site.application(1024**2)
    app.router.add_get("/ping", _ping)
    port = await site.start(app, "127.0.0.1", 0, shutdown_timeout=1.0)
    try:
        yield guard, port
    finally:
        await site.stop()


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def test_idle_keepalive_connection_is_reused_past_the_header_deadline(
    served: tuple[InboundGuard, int],
) -> None:
    guard, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(3):
            writer.write(REQUEST)
            await writer.drain()
            assert (await _answer(reader)).endswith(b"pong")
            await asyncio.sleep(0.5)  # idle longer than the header deadline, within keep-alive
    finally:
        writer.close()
    assert guard.timed_out == 0


async def test_an_earlier_requests_deadline_does_not_cut_a_later_one(
    served: tuple[InboundGuard, int],
) -> None:
    guard, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(12):  # requests back to back for ~1.2 s, four header deadlines long
            writer.write(REQUEST)
            await writer.drain()
            assert (await _answer(reader)).endswith(b"pong")
            await asyncio.sleep(0.1)
    finally:
        writer.close()
    assert guard.timed_out == 0


async def test_an_idle_keepalive_connection_is_closed_quietly_after_the_idle_limit(
    served: tuple[InboundGuard, int],
) -> None:
    guard, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    await writer.drain()
    await _answer(reader)
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the server closed it
    writer.close()
    assert guard.idle_closed == 1
    assert guard.timed_out == 0


async def test_a_slow_first_head_is_still_cut_at_the_header_deadline(
    served: tuple[InboundGuard, int],
) -> None:
    guard, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ping HTTP/1.1\r\n")  # never finishes its head
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    writer.close()
    assert guard.timed_out == 1
