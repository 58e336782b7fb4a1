"""``websocket``: a generic JSON-over-websocket feed, mapped by a :class:`FieldMap`.

``subscribe`` (one JSON value or a list of them) is sent after every (re)connect; ``only_if``
(path -> expected string) picks the data messages out of everything else (heartbeats, acks).
Reconnects, heartbeat deadline and re-vouching are :mod:`kashbot.fairvalue.wsbase`'s.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import structlog
from pydantic import Field
from websockets.asyncio.client import ClientConnection

from kashbot.fairvalue.base import Emit
from kashbot.fairvalue.mapping import extract
from kashbot.fairvalue.paths import FieldMap, parse, select
from kashbot.fairvalue.wsbase import WsParams, WsSource

log = structlog.get_logger("kashbot.fairvalue")


class WebsocketParams(WsParams):
    mapping: FieldMap
    subscribe: list[Any] = Field(
        default_factory=list, description="messages sent after every (re)connect"
    )
    only_if: dict[str, str] = Field(
        default_factory=dict, description="path -> value a data message must have"
    )


class WebsocketSource(WsSource[WebsocketParams]):
    name = "websocket"
    Params = WebsocketParams

    def markets(self) -> frozenset[str]:
        m = self.params.mapping
        if m.market_id is not None:
            return frozenset({m.market_id})
        return frozenset(m.markets.values()) if m.markets else frozenset()

    async def on_connect(self, ws: ClientConnection, emit: Emit) -> None:
        for msg in self.params.subscribe:
            await ws.send(msg if isinstance(msg, str) else json.dumps(msg, default=_number))

    def on_message(self, raw: str | bytes, emit: Emit) -> bool:
        try:
            doc = json.loads(raw, parse_float=Decimal)
        except ValueError:
            self.refused += 1
            log.warning("fair_value_ws_bad_message", source=self.source_id, reason="not JSON")
            return False
        for path, want in self.params.only_if.items():
            got = select(doc, parse(path))
            if len(got) != 1 or str(got[0][1]) != want:
                return False
        delivered = False
        for row in extract(doc, self.params.mapping):
            u = self.accept_row(row)
            if u is not None:
                self.deliver(u, emit)
                delivered = True
        return delivered


def _number(value: object) -> int | float:
    """YAML config numbers arrive as Decimal: back to a JSON number for the wire."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
