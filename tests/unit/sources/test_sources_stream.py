"""Stream source against a local websocket server: snapshots, drops, heartbeat deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from kashbot.clock import WallClock
from kashbot.events import (
    DataFresh,
    Event,
    MarketSnapshot,
    PredictionSeen,
    PriceChange,
    StaleData,
)
from kashbot.money import WAD
from kashbot.retry import Backoff
from kashbot.sources import stream as stream_module
from kashbot.sources.stream import StreamConfig, StreamSource

MARKET = {
    "id": "m1",
    "status": "ACTIVE",
    "outcomeCount": 2,
    "outcomes": [
        {"index": 0, "label": "Yes", "probability": 0.25},
        {"index": 1, "label": "No", "probability": 0.75},
    ],
}
PRED = {
    "id": "p1",
    "marketId": "m1",
    "outcomeIndex": 0,
    "side": "buy",
    "usdcIn": "1000000",
    "tokensOut": "5",
    "price": "0.3",
    "probability": "0.26",
    "timestamp": "2026-01-01T00:00:00Z",
}


class Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.subscribes: list[list[str]] = []
        self.keys: list[str | None] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.keys.append(ws.request.headers.get("X-API-Key") if ws.request else None)
        seq = 0

        async def send(msg: dict[str, Any]) -> None:
            nonlocal seq
            seq += 1
            await ws.send(json.dumps({**msg, "seq": seq, "ts": "2026-01-01T00:00:00Z"}))

        sub = json.loads(await ws.recv())
        self.subscribes.append(sub["markets"])
        await send({"type": "snapshot", "market": MARKET})
        await send({"type": "trade", "marketId": "m1", "prediction": PRED})
        await send({"type": "price", "marketId": "m1", "probabilities": ["0.26", "0.74"]})
        if self.mode == "drop_first" and self.connections == 1:
            return  # close: the client must mark stale and reconnect
        if self.mode == "silent_first" and self.connections == 1:
            await ws.wait_closed()  # no heartbeat: the client deadline must fire
            return
        while True:
            await send({"type": "heartbeat"})
            await asyncio.sleep(0.02)


async def run_until(mode: str, stop_when: Any) -> tuple[Server, list[Event], StreamSource]:
    server = Server(mode)
    events: list[Event] = []
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        src = StreamSource(
            f"ws://127.0.0.1:{port}/v1/stream",
            "kash_test_secretkey",
            ["m1"],
            WallClock(),
            StreamConfig(
                heartbeat_timeout_s=0.3,
                stale_after_s=5.0,
                backoff_initial_s=0.01,
                backoff_max_s=0.05,
            ),
            rng=random.Random(1),
        )
        task = asyncio.create_task(src.run(events.append))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15.0  # generous for a loaded CI box; done in ~0.3 s normally
        for _ in range(10_000):
            if loop.time() > deadline or stop_when(server, events):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return server, events, src


async def test_snapshot_trade_and_price_become_events() -> None:
    server, events, _ = await run_until("normal", lambda s, e: len(e) >= 3)
    snap, trade, price = events[:3]
    assert isinstance(snap, MarketSnapshot) and snap.probabilities == (WAD // 4, 3 * WAD // 4)
    assert snap.labels == ("Yes", "No")
    assert (
        isinstance(trade, PredictionSeen)
        and trade.usdc == 1_000_000
        and trade.probability_after == 26 * WAD // 100
    )
    assert isinstance(price, PriceChange) and price.probabilities == (
        26 * WAD // 100,
        74 * WAD // 100,
    )
    assert server.subscribes == [["m1"]] and server.keys == ["kash_test_secretkey"]


def fresh_after_stale(s: Server, events: list[Event]) -> bool:
    kinds = [type(e) for e in events]
    return StaleData in kinds and DataFresh in kinds[kinds.index(StaleData) :]


async def test_drop_raises_stale_then_resubscribes_and_recovers() -> None:
    server, events, src = await run_until("drop_first", fresh_after_stale)
    assert server.connections >= 2 and server.subscribes[:2] == [["m1"], ["m1"]]
    stale = [e for e in events if isinstance(e, StaleData)]
    assert {e.market_id for e in stale} == {"m1", None}
    i = events.index(stale[0])
    assert any(isinstance(e, MarketSnapshot) for e in events[i:])  # re-snapshot after reconnect
    assert any(isinstance(e, DataFresh) and e.market_id == "m1" for e in events[i:])
    assert src.disconnects >= 1


async def test_missed_heartbeat_closes_and_reconnects() -> None:
    server, events, _ = await run_until("silent_first", fresh_after_stale)
    assert server.connections >= 2
    assert fresh_after_stale(server, events)


def test_full_jitter_is_bounded_and_capped() -> None:
    rng = random.Random(3)
    for attempt in range(12):
        d = Backoff(0.5, 30.0, jitter="full").delay(attempt, rng)
        assert 0 <= d <= min(30.0, 0.5 * 2**attempt)


def test_repr_hides_the_key() -> None:
    src = StreamSource("ws://x", "kash_test_secretkey", [], WallClock())
    assert "secret" not in repr(src)


class _FakeConnection:
    """A connection whose ``recv`` completes exactly when the test says so."""

    def __init__(self) -> None:
        self.receiving = asyncio.Event()
        self.pending: asyncio.Future[str] | None = None

    async def send(self, _msg: str) -> None:
        return None

    async def recv(self) -> str:
        self.pending = asyncio.get_running_loop().create_future()
        self.receiving.set()
        return await self.pending


async def test_cancel_is_not_lost_when_a_message_arrives_at_the_same_moment(
    monkeypatch: Any,
) -> None:
    """Daemon shutdown cancels the source; a frame landing in the same loop step must not eat it.

    Python 3.11's ``asyncio.wait_for`` returns the inner result and drops the cancellation when
    both are ready together, so the source kept reading forever (a hung shutdown).
    """
    fake = _FakeConnection()

    @contextlib.asynccontextmanager
    async def fake_connect(*_args: Any, **_kwargs: Any) -> AsyncIterator[_FakeConnection]:
        yield fake

    monkeypatch.setattr(stream_module, "connect", fake_connect)
    src = StreamSource(
        "ws://unused", "k", ["m1"], WallClock(), StreamConfig(heartbeat_timeout_s=60.0)
    )
    task = asyncio.create_task(src.run(lambda _e: None))
    await asyncio.wait_for(fake.receiving.wait(), 5.0)
    assert fake.pending is not None
    fake.pending.set_result(json.dumps({"type": "heartbeat", "seq": 1}))
    task.cancel()  # same loop step as the frame's arrival
    done, _ = await asyncio.wait({task}, timeout=5.0)
    if not done:  # leave no runaway task behind, then fail
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert done and task.cancelled()
