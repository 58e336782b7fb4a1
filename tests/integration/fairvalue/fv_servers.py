"""Local servers for the fair-value source tests: a websocket server that can be killed and
restarted on the same port, and an aiohttp app runner. 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WsServer:
    """``start()``/``kill()`` as often as needed, always on the same port."""

    def __init__(self, handler: Callable[[ServerConnection], Awaitable[None]]) -> None:
        self.handler = handler
        self.port = free_port()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self._server = await serve(self.handler, "127.0.0.1", self.port)

    async def kill(self) -> None:
        assert self._server is not None
        self._server.close()  # closes live connections too
        await self._server.wait_closed()
        self._server = None


class HttpServer:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.runner = web.AppRunner(app)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def wait_for(cond: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Poll ``cond`` until true (generous for a loaded CI box; usually milliseconds)."""
    async with asyncio.timeout(limit_s):
        while not cond():  # noqa: ASYNC110 - the conditions are plain attributes, no event
            await asyncio.sleep(0.01)
