"""The polymarket source against a local replay of the venue: REST snapshot at connect, the
market-channel subscription, the fixture's midpoints, PING/PONG, and a resubscribe after a drop."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from aiohttp import web
from fv_servers import HttpServer, WsServer, wait_for
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from kashbot.clock import WallClock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue import build_sources
from kashbot.fairvalue.validate import to_wad_chances

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "polymarket"
REST = json.loads((FIXTURES / "rest_books.json").read_text())
T = REST["tokens"]
FRAMES = (FIXTURES / "market_channel.jsonl").read_text().splitlines()


def wad(*ps: str) -> tuple[int, ...]:
    return to_wad_chances([Decimal(p) for p in ps], "proportional")


class Venue:
    def __init__(self) -> None:
        self.subscribes: list[object] = []
        self.pings = 0
        self.book_requests: list[str] = []
        self.connections = 0

    async def ws(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            self.subscribes.append(json.loads(await ws.recv()))
            for frame in FRAMES:
                await ws.send(frame)
            if self.connections == 1:
                return  # drop the first connection once the fixture is replayed
            async for msg in ws:
                if msg == "PING":
                    self.pings += 1
                    await ws.send("PONG")
        except ConnectionClosed:
            return

    async def book(self, request: web.Request) -> web.Response:
        token = request.query["token_id"]
        self.book_requests.append(token)
        return web.json_response(REST["books"][token])


async def test_replayed_venue_gives_the_fixture_midpoints() -> None:
    venue = Venue()
    ws_server = WsServer(venue.ws)
    await ws_server.start()
    app = web.Application()
    app.router.add_get("/book", venue.book)
    rest = HttpServer(app)
    await rest.start()
    cfg = {
        "seed": 5,
        "sources": [
            {
                "name": "polymarket",
                "id": "pm",
                "params": {
                    "url": ws_server.url,
                    "rest_url": rest.url,
                    "markets": {
                        "kash-bin": [T["YES"], T["NO"]],
                        "kash-three": [T["A"], T["B"], T["C"]],
                    },
                    "ping_interval_s": 0.05,
                    "backoff_initial_s": 0.01,
                    "backoff_max_s": 0.02,
                },
            }
        ],
    }
    _, (src,) = build_sources(cfg, WallClock())
    out: list[FairValueUpdate] = []
    with capture_logs() as logs:
        task = asyncio.create_task(src.run(out.append))
        try:
            await wait_for(lambda: venue.pings >= 1 and venue.connections >= 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await ws_server.kill()
            await rest.stop()
    tokens = [T["YES"], T["NO"], T["A"], T["B"], T["C"]]
    assert venue.subscribes[:2] == [{"assets_ids": tokens, "type": "market"}] * 2
    assert venue.book_requests[:5] == tokens and len(venue.book_requests) >= 10
    one_pass = [
        ("kash-bin", wad("0.50", "0.50")),  # the REST snapshot
        ("kash-bin", wad("0.51", "0.49")),
        ("kash-bin", wad("0.515", "0.485")),
        ("kash-three", wad("0.31", "0.45", "0.24")),
        ("kash-three", wad("0.31", "0.45", "0.25")),
    ]
    got = [(u.market_id, u.probabilities) for u in out if u.source_ts is None]
    assert got[:5] == one_pass and got[5:10] == one_pass  # again after the reconnect
    assert out[0].confidence == 98 * 10**16 and out[0].source == "pm"
    bad = [e for e in logs if e["event"] == "fair_value_ws_bad_message"]
    assert len(bad) >= 3 and all(e["source"] == "pm" for e in bad)
