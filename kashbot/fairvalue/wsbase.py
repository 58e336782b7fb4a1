"""The reconnecting websocket loop shared by ``websocket`` and ``polymarket``.

* reconnect with exponential backoff and full jitter from the source's seeded ``Random``; the
  attempt count resets once a connection has delivered data;
* a heartbeat deadline: no message at all within ``heartbeat_s`` means the connection is dead
  even if TCP has not noticed; it is closed and re-opened;
* after every (re)connect ``on_connect`` runs again (subscribe, snapshot): values from before the
  drop are no longer vouched for;
* an optional text ping (``ping_text`` every ``ping_interval_s``: Polymarket wants ``PING``);
* while connected, the last values are re-vouched every ``refresh_s`` (emitted again with
  ``source_ts=None``), so a quiet but live feed does not go stale and a dead one does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any, TypeVar

import structlog
from pydantic import Field
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI, WebSocketException

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.base import Emit, FairValueSource, SourceParams
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.fairvalue")


class WsParams(SourceParams):
    url: str
    heartbeat_s: float = Field(30.0, gt=0, description="no message this long: reconnect")
    open_timeout_s: float = Field(10.0, gt=0)
    ping_text: str | None = Field(None, description="a text message sent every ping_interval_s")
    ping_interval_s: float = Field(10.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    refresh_s: float | None = Field(
        None, gt=0, description="re-vouch live values this often (default: max_age_s / 3)"
    )


WP = TypeVar("WP", bound=WsParams)


class WsSource(FairValueSource[WP]):
    """Subclasses implement ``on_connect`` and ``on_message``; both use :meth:`deliver`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connects = 0
        self.disconnects = 0
        self._last: dict[str, FairValueUpdate] = {}  # re-vouched while the connection lives
        self._delivered = False

    async def on_connect(self, ws: ClientConnection, emit: Emit) -> None:
        """Subscribe (and take a snapshot) on a fresh connection."""

    def on_message(self, raw: str | bytes, emit: Emit) -> bool:
        """Handle one message; True when it carried data (resets the reconnect backoff)."""
        raise NotImplementedError

    def deliver(self, update: FairValueUpdate, emit: Emit) -> None:
        self._last[update.market_id] = update
        emit(update)

    async def run(self, emit: Emit) -> None:
        p = self.params
        backoff = Backoff(p.backoff_initial_s, p.backoff_max_s, jitter="full")
        self._last.clear()
        attempt = 0
        while True:
            self._delivered = False
            try:
                await self._session(emit)
            except (OSError, TimeoutError, WebSocketException, InvalidURI) as exc:
                log.warning(
                    "fair_value_ws_disconnected",
                    source=self.source_id,
                    error=f"{type(exc).__name__}: {exc}"[:200],
                )
            self.disconnects += 1
            self._last.clear()
            attempt = 0 if self._delivered else attempt + 1
            delay = backoff.delay(attempt, self.rng)
            log.info("fair_value_ws_reconnecting", source=self.source_id, in_s=round(delay, 3))
            await self.clock.sleep(delay)

    async def _session(self, emit: Emit) -> None:
        p = self.params
        refresh = p.refresh_s or p.max_age_s / 3
        async with connect(
            p.url, open_timeout=p.open_timeout_s, ping_interval=None, close_timeout=1.0
        ) as ws:
            self.connects += 1
            await self.on_connect(ws, emit)
            log.info("fair_value_ws_connected", source=self.source_id)
            pinger = asyncio.create_task(self._ping(ws)) if p.ping_text else None
            vouched = self.clock.now()
            try:
                while True:
                    try:
                        async with asyncio.timeout(p.heartbeat_s):
                            raw = await ws.recv()
                    except TimeoutError:
                        log.warning("fair_value_ws_heartbeat_missed", source=self.source_id)
                        raise
                    if self.on_message(raw, emit):
                        self._delivered = True
                    now = self.clock.now()
                    if now - vouched >= refresh:
                        vouched = now
                        for u in list(self._last.values()):
                            emit(replace(u, ts=now, source_ts=None))
            finally:
                if pinger is not None:
                    pinger.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pinger

    async def _ping(self, ws: ClientConnection) -> None:
        assert self.params.ping_text is not None
        while True:
            await self.clock.sleep(self.params.ping_interval_s)
            with contextlib.suppress(WebSocketException):
                await ws.send(self.params.ping_text)
