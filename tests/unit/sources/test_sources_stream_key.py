"""The stream gets the API key only when it is served by the REST API's own host and port."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from kashbot.clock import WallClock
from kashbot.sources.stream import StreamSource, stream_api_key

KEY = "kash_test_" + "k" * 32


@pytest.mark.parametrize(
    ("stream", "rest", "sent"),
    [
        ("ws://127.0.0.1:8700/v1/stream", "http://127.0.0.1:8700/v1", True),  # the simulator
        ("wss://api.kash.bot/stream", "https://api.kash.bot/v1", True),  # default ports match
        ("wss://API.kash.bot:443/s", "https://api.kash.bot/v1", True),
        ("ws://127.0.0.1:9000/v1/stream", "http://127.0.0.1:8700/v1", False),  # another port
        ("wss://feeds.example.com/kash", "https://api.kash.bot/v1", False),  # a third party
        ("ws://api.kash.bot/stream", "https://api.kash.bot/v1", False),  # 80 is not 443
    ],
)
def test_key_only_for_the_rest_host(stream: str, rest: str, sent: bool) -> None:
    assert stream_api_key(stream, rest, KEY) == (KEY if sent else None)


async def test_no_key_header_when_withheld() -> None:
    headers: list[dict[str, str]] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        headers.append({k.lower(): v for k, v in ws.request.headers.raw_items()})
        json.loads(await ws.recv())  # the subscribe
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        src = StreamSource(f"ws://127.0.0.1:{port}/s", None, ["m1"], WallClock())
        task = asyncio.create_task(src.run(lambda e: None))
        for _ in range(500):
            if headers:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert headers and "x-api-key" not in headers[0]
