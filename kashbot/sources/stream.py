"""Stream source for the simulator's ``/v1/stream`` websocket (contracts §B; Kash has none, §12).

Failure handling is the point of this module:

* reconnect with exponential backoff and *full jitter* (``uniform(0, min(cap, base * 2**n))``), so
  many bots dropped at once do not reconnect in lockstep; the attempt counter resets once a
  connection has delivered data;
* a heartbeat deadline: no message (heartbeats included) within ``heartbeat_timeout_s`` means the
  connection is dead even if TCP has not noticed; it is closed and re-opened;
* after every (re)connect: subscribe again and take the fresh snapshots as the truth;
* a per-connection ``seq`` gap (a lost message) triggers a re-subscribe, i.e. a re-snapshot;
* a :class:`StalenessWatchdog` raises ``StaleData`` as soon as the connection drops (and for any
  market silent for ``stale_after_s``) and ``DataFresh`` when its data is back.

The API key goes only to the REST API's own host (:func:`stream_api_key`): Kash has no stream, so
a live stream URL belongs to a third party that must never see the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from kashbot.client.models import Market, Prediction
from kashbot.clock import Clock
from kashbot.events import Event, PriceChange
from kashbot.retry import Backoff
from kashbot.sources.convert import chances_to_wad, market_snapshot, prediction_seen
from kashbot.sources.watchdog import StalenessWatchdog

log = structlog.get_logger("kashbot.stream")

Emit = Callable[[Event], None]


_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    return (parts.hostname or "").lower(), port


def stream_api_key(stream_url: str, rest_base_url: str, api_key: str) -> str | None:
    """The key to send to the stream: only if it is served by the REST API's host and port.

    The simulator serves both on one listener (paper); anywhere else the stream is someone
    else's server, and ``X-API-Key`` there would hand them the key to our money.
    """
    return api_key if _host_port(stream_url) == _host_port(rest_base_url) else None


class StreamConfig(BaseModel):
    """``sources.stream``: the one place the stream's settings and their defaults are written
    (the daemon passes the section to :class:`StreamSource` as it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="the simulator's /v1/stream; Kash itself has none")
    url: str | None = Field(
        None,
        description="ws(s) URL; paper: the simulator's. The API key is sent only to the REST "
        "API's own host; live mode needs wss://",
    )
    heartbeat_timeout_s: float = Field(15.0, gt=0)
    stale_after_s: float = Field(30.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _websocket(cls, v: str | None) -> str | None:
        if v is not None and (urlsplit(v).scheme not in ("ws", "wss") or not urlsplit(v).netloc):
            raise ValueError("must be a ws:// or wss:// URL")
        return v


class StreamSource:
    """Connects to ``url`` (the caller resolves it: ``cfg.url`` or the simulator's); the rest of
    ``cfg`` (default: the config's defaults) is read here."""

    name = "stream"

    def __init__(
        self,
        url: str,
        api_key: str | None,
        markets: Sequence[str] | Callable[[], Sequence[str]],
        clock: Clock,
        cfg: StreamConfig | None = None,
        *,
        check_interval: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        cfg = cfg or StreamConfig()
        self.url = url
        self._api_key = api_key
        self._markets = markets
        self.clock = clock
        self.cfg = cfg
        self.backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s, jitter="full")
        self.check_interval = check_interval or max(0.05, min(1.0, cfg.stale_after_s / 4))
        self.rng = rng or random.Random()
        self.connects = 0
        self.disconnects = 0
        self.messages = 0
        self.watchdog: StalenessWatchdog | None = None
        self._delivered = False

    def __repr__(self) -> str:  # the key stays out of reprs and logs
        return f"StreamSource(url={self.url!r})"

    def markets(self) -> list[str]:
        return list(self._markets() if callable(self._markets) else self._markets)

    async def run(self, emit: Emit) -> None:
        watchdog = self.watchdog = StalenessWatchdog(self.name, self.cfg.stale_after_s, emit)
        watchdog.watch(self.markets(), self.clock.now())
        checker = asyncio.create_task(self._check_loop(watchdog), name="stream-watchdog")
        attempt = 0
        try:
            while True:
                self._delivered = False
                try:
                    await self._session(emit, watchdog)
                except (OSError, TimeoutError, WebSocketException, InvalidURI) as exc:
                    if isinstance(exc, InvalidHandshake):
                        log.warning("stream_handshake_failed", error=str(exc)[:200])
                    else:
                        log.warning("stream_disconnected", error=type(exc).__name__)
                self.disconnects += 1
                watchdog.force_stale(self.clock.now())
                attempt = 0 if self._delivered else attempt + 1
                delay = self.backoff.delay(attempt, self.rng)
                log.info("stream_reconnecting", in_s=round(delay, 3), attempt=attempt)
                await self.clock.sleep(delay)
        finally:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker

    async def _check_loop(self, watchdog: StalenessWatchdog) -> None:
        while True:
            await self.clock.sleep(self.check_interval)
            watchdog.check(self.clock.now())

    async def _session(self, emit: Emit, watchdog: StalenessWatchdog) -> None:
        """One connection's life (ends by an exception); sets ``_delivered`` on data."""
        async with connect(
            self.url,
            additional_headers={"X-API-Key": self._api_key} if self._api_key else None,
            open_timeout=self.cfg.heartbeat_timeout_s,
            ping_interval=None,  # our own heartbeat deadline is the liveness check
            close_timeout=1.0,
        ) as ws:
            self.connects += 1
            markets = self.markets()
            watchdog.watch(markets, self.clock.now())
            await self._subscribe(ws, markets)
            log.info("stream_connected", markets=len(markets))
            last_seq: int | None = None
            heartbeat_s = self.cfg.heartbeat_timeout_s
            while True:
                try:
                    # Not ``wait_for``: on 3.11 it drops a cancel that lands as a frame arrives,
                    # so shutdown would hang; ``timeout()`` keeps it (and recv is cancel-safe).
                    async with asyncio.timeout(heartbeat_s):
                        raw = await ws.recv()
                except TimeoutError:
                    log.warning("stream_heartbeat_missed", timeout_s=heartbeat_s)
                    raise
                self.messages += 1
                msg = _loads(raw)
                if msg is None:
                    continue
                seq = msg.get("seq")
                if isinstance(seq, int):
                    if last_seq is not None and seq != last_seq + 1:
                        log.warning("stream_gap", expected=last_seq + 1, got=seq)
                        await self._subscribe(ws, markets)  # re-snapshot
                    last_seq = seq
                if self._handle(msg, emit, watchdog):
                    self._delivered = True

    async def _subscribe(self, ws: ClientConnection, markets: list[str]) -> None:
        await ws.send(json.dumps({"type": "subscribe", "markets": markets}))

    def _handle(self, msg: dict[str, Any], emit: Emit, watchdog: StalenessWatchdog) -> bool:
        now = self.clock.now()
        kind = msg.get("type")
        try:
            if kind == "heartbeat":
                watchdog.touch(None, now)
                return False
            parse = _MARKET_MESSAGES.get(kind) if isinstance(kind, str) else None
            if parse is not None:
                market_id, event = parse(msg, now)
                watchdog.touch(market_id, now)
                emit(event)
                return True
            if kind == "error":
                log.warning("stream_error", code=msg.get("code"), detail=msg.get("detail"))
                return False
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            log.warning("stream_bad_message", type=kind, error=type(exc).__name__)
            return False
        log.debug("stream_unknown_message", type=kind)
        return False


def _snapshot(msg: dict[str, Any], now: float) -> tuple[str, Event]:
    market = Market.model_validate(msg["market"])
    return market.id, market_snapshot(market, now)


def _price(msg: dict[str, Any], now: float) -> tuple[str, Event]:
    market_id = str(msg["marketId"])
    probs = chances_to_wad([Decimal(str(p)) for p in msg["probabilities"]])
    return market_id, PriceChange(now, market_id, probs)


def _trade(msg: dict[str, Any], now: float) -> tuple[str, Event]:
    pred = Prediction.model_validate(msg["prediction"])
    return pred.market_id, prediction_seen(pred, now)


# The messages that carry one market's data: parse to (market, event); the market's data is fresh.
_MARKET_MESSAGES: dict[str, Callable[[dict[str, Any], float], tuple[str, Event]]] = {
    "snapshot": _snapshot,
    "price": _price,
    "trade": _trade,
}


def _loads(raw: str | bytes) -> dict[str, Any] | None:
    try:
        msg = json.loads(raw, parse_float=Decimal)
    except ValueError:
        log.warning("stream_not_json")
        return None
    return msg if isinstance(msg, dict) else None
