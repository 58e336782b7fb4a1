"""The http source against a local aiohttp server: ETag/304, re-vouching, backoff, bad rows."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from fv_servers import HttpServer, wait_for
from structlog.testing import capture_logs

from kashbot.clock import WallClock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue import build_sources
from kashbot.money import WAD


class Endpoint:
    def __init__(self) -> None:
        self.version = 1
        self.fail_next = 0
        self.seen_etags: list[str | None] = []
        self.statuses: list[int] = []

    def doc(self) -> dict[str, object]:
        p = "0.25" if self.version == 1 else "0.75"
        return {
            "data": {
                "markets": [
                    {"slug": "btc", "prob": p, "updated": 1_800_000_000_000 + self.version},
                    {"slug": "eth", "prob": "2", "updated": 1_800_000_000_000},
                ]
            }
        }

    async def handle(self, request: web.Request) -> web.Response:
        self.seen_etags.append(request.headers.get("If-None-Match"))
        if self.fail_next:
            self.fail_next -= 1
            self.statuses.append(500)
            return web.Response(status=500)
        etag = f'"v{self.version}"'
        if request.headers.get("If-None-Match") == etag:
            self.statuses.append(304)
            return web.Response(status=304, headers={"ETag": etag})
        self.statuses.append(200)
        return web.json_response(self.doc(), headers={"ETag": etag})


async def test_etag_304_backoff_and_bad_rows() -> None:
    ep = Endpoint()
    app = web.Application()
    app.router.add_get("/fair", ep.handle)
    server = HttpServer(app)
    await server.start()
    cfg = {
        "seed": 1,
        "sources": [
            {
                "name": "http",
                "id": "desk",
                "params": {
                    "url": f"{server.url}/fair",
                    "poll_s": 0.02,
                    "backoff_initial_s": 0.02,
                    "backoff_max_s": 0.05,
                    "mapping": {
                        "rows": "data.markets[*]",
                        "market": "slug",
                        "markets": {"btc": "kash-btc", "eth": "kash-eth"},
                        "p_yes": "prob",
                        "ts": "updated",
                        "ts_unit": 0.001,
                    },
                },
            }
        ],
    }
    _, (src,) = build_sources(cfg, WallClock())
    out: list[FairValueUpdate] = []
    with capture_logs() as logs:
        task = asyncio.create_task(src.run(out.append))
        try:
            await wait_for(lambda: ep.statuses.count(304) >= 2)
            ep.fail_next = 2
            await wait_for(lambda: ep.statuses.count(500) == 2 and ep.statuses[-1] != 500)
            ep.version = 2
            await wait_for(lambda: any(u.probabilities[0] == 3 * WAD // 4 for u in out))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop()
    assert ep.seen_etags[0] is None and '"v1"' in ep.seen_etags
    first = out[0]
    assert (first.market_id, first.source, first.probabilities) == (
        "kash-btc",
        "desk",
        (WAD // 4, 3 * WAD // 4),
    )
    assert first.source_ts == 1_800_000_000.001
    revouched = [u for u in out[1:] if u.probabilities == first.probabilities]
    assert revouched and revouched[-1].ts > first.ts  # a 304 re-vouches
    assert all(u.market_id == "kash-btc" for u in out)  # eth's 2.0 never emitted
    refused = [e for e in logs if e["event"] == "fair_value_row_refused"]
    assert refused[0]["source"] == "desk" and refused[0]["row"] == "data.markets[*]#1"
    failed = [e for e in logs if e["event"] == "fair_value_http_failed"]
    assert len(failed) == 2 and "500" in failed[0]["error"]
    assert all(0 <= e["retry_in_s"] <= 0.05 for e in failed)
    json.dumps([e["event"] for e in logs])  # plain data only
