"""``/v1/stream``: the simulator's websocket feed (an extension; Kash has no streaming API).

Protocol (contracts §B): authenticate with ``X-API-Key`` (or ``?apiKey=``), send
``{"type":"subscribe","markets":[...]}``; receive a ``snapshot`` per market, then ``trade`` and
``price`` messages for every trade on subscribed markets, and ``heartbeat`` every
``stream.heartbeat_interval_s``. Every message has a per-connection ``seq`` and an ISO ``ts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from kashbot.sim import serialize as ser
from kashbot.sim.errors import SimError
from kashbot.sim.ids import iso
from kashbot.sim.models import KeyState
from kashbot.sim.venue import MarketTick, Venue


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    key: KeyState
    markets: set[str] = field(default_factory=set)
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)
    seq: int = 0


class StreamHub:
    """Fans venue ticks out to subscribed websocket connections."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.conns: set[_Conn] = set()
        venue.listeners.append(self._on_tick)

    def _on_tick(self, tick: MarketTick) -> None:
        for conn in list(self.conns):
            if tick.market_id in conn.markets:
                p = tick.prediction
                conn.queue.put_nowait(
                    {"type": "trade", "marketId": p.market_id, "prediction": ser.prediction(p)}
                )
                conn.queue.put_nowait(
                    {
                        "type": "price",
                        "marketId": p.market_id,
                        "probabilities": [ser.wad_str(x) for x in p.probabilities],
                    }
                )

    def disconnect(self, key_ref: str | None = None) -> int:
        """Close every stream (or one key's); returns how many were told to close."""
        n = 0
        for conn in list(self.conns):
            if key_ref is None or key_ref in (conn.key.id, conn.key.name, conn.key.prefix):
                conn.queue.put_nowait(None)
                n += 1
        return n

    async def close_all(self) -> None:
        for conn in list(self.conns):
            await conn.ws.close()

    def _stamp(self, conn: _Conn, msg: dict[str, Any]) -> str:
        conn.seq += 1
        return json.dumps({**msg, "seq": conn.seq, "ts": iso(self.venue.clock.now())})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        venue = self.venue
        try:
            api_key = request.headers.get("X-API-Key") or request.query.get("apiKey")
            key = venue.authenticate(api_key, request.remote)
            venue.require_scope(key, "markets:read")
        except SimError as err:
            body = err.problem(instance=request.path, request_id="")
            return web.json_response(
                body, status=err.status, content_type="application/problem+json"
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, key)
        self.conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        beat = asyncio.create_task(self._heartbeat(conn))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self._on_message(conn, msg.data)
        finally:
            self.conns.discard(conn)
            beat.cancel()
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await writer
                await beat
        return ws

    def _on_message(self, conn: _Conn, data: str) -> None:
        try:
            msg = json.loads(data)
            kind = msg["type"]
            markets = msg.get("markets", [])
            if not isinstance(markets, list):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            conn.queue.put_nowait(
                {"type": "error", "code": "VALIDATION_FAILED", "detail": "bad message"}
            )
            return
        if kind == "subscribe":
            for mid in markets:
                m = self.venue.markets.get(str(mid))
                if m is None:
                    conn.queue.put_nowait(
                        {"type": "error", "code": "MARKET_NOT_FOUND", "detail": f"{mid}"}
                    )
                    continue
                conn.markets.add(m.id)
                conn.queue.put_nowait({"type": "snapshot", "market": ser.market(m)})
        elif kind == "unsubscribe":
            conn.markets.difference_update(str(m) for m in markets)
        else:
            conn.queue.put_nowait(
                {"type": "error", "code": "VALIDATION_FAILED", "detail": f"unknown type {kind}"}
            )

    async def _writer(self, conn: _Conn) -> None:
        venue = self.venue
        while True:
            msg = await conn.queue.get()
            names = (conn.key.name, conn.key.id, conn.key.prefix)
            fault = venue.faults.take({"stream_disconnect"}, venue.clock.now(), key_names=names)
            if msg is None or fault is not None:
                await conn.ws.close()
                return
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(self._stamp(conn, msg))
            except ConnectionError:
                return

    async def _heartbeat(self, conn: _Conn) -> None:
        interval = self.venue.scenario.stream.heartbeat_interval_s / self.venue.time_scale
        while True:
            await asyncio.sleep(interval)
            conn.queue.put_nowait({"type": "heartbeat"})
