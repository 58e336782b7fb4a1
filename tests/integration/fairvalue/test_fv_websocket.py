"""The generic websocket source through the hub: subscribe, map, refuse bad messages, and a
killed-and-restarted server: stale (buys refused) then fresh again (buys pass)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from fv_servers import WsServer, wait_for
from structlog.testing import capture_logs
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from kashbot.clock import WallClock
from kashbot.events import FairValueUpdate, OrderIntent, Side, TradingState
from kashbot.fairvalue import FairValueHub, build_sources
from kashbot.fairvalue.validate import to_wad_chances
from kashbot.retry import Backoff
from kashbot.risk.limits import Limits
from kashbot.risk.rules import Reason, RiskSnapshot, evaluate
from kashbot.tiers import Tier

LIMITS = Limits(Tier.MM, 10**9, 10**12, 10**9)
BUY = OrderIntent("i-1", "s", "m1", 0, Side.BUY, 10**6)


def gate_says(stale: frozenset[str]) -> Reason | None:
    denial = evaluate(
        BUY, RiskSnapshot(TradingState.ACTIVE, 0, {}, 0, fair_value_stale=stale), LIMITS
    )
    return None if denial is None else denial.reason


class Feed:
    def __init__(self) -> None:
        self.subscribes: list[object] = []
        self.p = "0.40"

    async def handler(self, ws: ServerConnection) -> None:
        self.subscribes.append(json.loads(await ws.recv()))
        try:
            await ws.send("this is not json")
            await ws.send(json.dumps({"type": "fv", "rows": [{"id": "ext-1", "p": "1.5"}]}))
            while True:
                await ws.send(json.dumps({"type": "fv", "rows": [{"id": "ext-1", "p": self.p}]}))
                await ws.send(json.dumps({"type": "hb"}))
                await asyncio.sleep(0.05)
        except ConnectionClosed:
            return


async def test_kill_and_restart_goes_stale_then_fresh() -> None:
    feed = Feed()
    server = WsServer(feed.handler)
    await server.start()
    cfg = {
        "seed": 3,
        "sources": [
            {
                "name": "websocket",
                "id": "feed",
                "params": {
                    "url": server.url,
                    "subscribe": [{"op": "subscribe", "channel": "fv", "depth": 1}],
                    "only_if": {"type": "fv"},
                    "mapping": {
                        "rows": "rows[*]",
                        "market": "id",
                        "markets": {"ext-1": "m1"},
                        "p_yes": "p",
                    },
                    "max_age_s": 0.4,
                    "refresh_s": 0.05,
                    "heartbeat_s": 0.5,
                    "backoff_initial_s": 0.05,
                    "backoff_max_s": 0.2,
                },
            }
        ],
    }
    out: list[FairValueUpdate] = []
    stale: list[frozenset[str]] = [frozenset()]
    fv_cfg, sources = build_sources(cfg, WallClock())
    hub = FairValueHub(
        fv_cfg,
        sources,
        WallClock(),
        out.append,
        on_stale_change=stale.append,
        check_interval_s=0.05,
        restart_backoff=Backoff(0.05, 0.2),
    )
    with capture_logs() as logs:
        task = asyncio.create_task(hub.run())
        try:
            await wait_for(lambda: bool(out))
            assert out[0].market_id == "m1" and out[0].source == "feed"
            assert out[0].probabilities == to_wad_chances([Decimal("0.40"), Decimal("0.60")])
            assert gate_says(stale[-1]) is None
            assert feed.subscribes == [{"op": "subscribe", "channel": "fv", "depth": 1}]

            await server.kill()
            await wait_for(lambda: stale[-1] == {"m1"})
            assert gate_says(stale[-1]) is Reason.FAIR_VALUE_STALE

            feed.p = "0.45"
            await server.start()
            await wait_for(lambda: stale[-1] == set())
            assert gate_says(stale[-1]) is None
            assert out[-1].probabilities == to_wad_chances([Decimal("0.45"), Decimal("0.55")])
            assert len(feed.subscribes) >= 2  # resubscribed after the reconnect
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.kill()
    events = [e["event"] for e in logs]
    assert "fair_value_ws_disconnected" in events and "fair_value_stale" in events
    assert "fair_value_fresh" in events
    bad = [e for e in logs if e["event"] == "fair_value_ws_bad_message"]
    refused = [e for e in logs if e["event"] == "fair_value_row_refused"]
    assert bad and bad[0]["source"] == "feed"
    assert refused and refused[0]["row"] == "rows[*]#0" and "[0, 1]" in refused[0]["reason"]
    assert "fair_value_source_died" not in events  # the source itself never crashed


async def test_heartbeat_deadline_reconnects_a_silent_connection() -> None:
    connections = 0

    async def silent(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        await ws.send(json.dumps({"p": "0.3"}))
        await ws.wait_closed()  # then nothing: the client's deadline must fire

    server = WsServer(silent)
    await server.start()
    cfg = {
        "sources": [
            {
                "name": "websocket",
                "params": {
                    "url": server.url,
                    "subscribe": ["hello"],
                    "heartbeat_s": 0.2,
                    "backoff_initial_s": 0.01,
                    "backoff_max_s": 0.02,
                    "mapping": {"market_id": "m1", "p_yes": "p"},
                },
            }
        ]
    }
    _, sources = build_sources(cfg, WallClock())
    out: list[FairValueUpdate] = []
    task = asyncio.create_task(sources[0].run(out.append))
    try:
        with capture_logs() as logs:
            await wait_for(lambda: connections >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.kill()
    assert out and out[0].market_id == "m1"
    assert "fair_value_ws_heartbeat_missed" in [e["event"] for e in logs]
