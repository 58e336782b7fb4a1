"""``polymarket``: midpoints from Polymarket's public CLOB market channel (no key needed).

After every (re)connect: a REST snapshot of each token's book (``GET {rest_url}/book?token_id=``),
then the market-channel subscription ``{"assets_ids": [...], "type": "market"}``. The channel
sends ``book`` (a whole side-by-side book, also on subscribe) and ``price_change`` (levels whose
size is now ``size``; 0 removes the level), either alone or as a JSON array; a ``PING`` text every
10 s is answered ``PONG``. Other event types (``last_trade_price``, ``tick_size_change``...) are
ignored; a malformed message is logged and skipped.

Per token the fair chance is the book's midpoint ``(best bid + best ask) / 2`` and its spread
``ask - bid`` the doubt: a Kash market's confidence is ``1 - widest spread`` of its tokens, and a
token whose spread exceeds ``max_spread`` (or with an empty side) gives no value at all. Tokens map
to a Kash market's outcomes in order; a binary market may map only its first outcome's token (the
second is ``1 - p``). Midpoints rarely sum to 1, so ``normalise`` defaults to proportional.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import structlog
from pydantic import Field, field_validator
from websockets.asyncio.client import ClientConnection

from kashbot.fairvalue.base import Emit
from kashbot.fairvalue.validate import Normalise, RowError, to_decimal
from kashbot.fairvalue.wsbase import WsParams, WsSource
from kashbot.money import Wad

log = structlog.get_logger("kashbot.fairvalue")

MARKET_WS = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
CLOB_REST = "https://clob.polymarket.com"


@dataclass(slots=True)
class Book:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)  # price -> size
    asks: dict[Decimal, Decimal] = field(default_factory=dict)

    def replace_with(self, bids: Iterable[Any], asks: Iterable[Any]) -> None:
        new_bids, new_asks = _levels(bids), _levels(asks)  # both parse, or the book stays
        self.bids, self.asks = new_bids, new_asks

    def set_level(self, side: str, price: Decimal, size: Decimal) -> None:
        levels = self.bids if side.upper() == "BUY" else self.asks
        if size <= 0:
            levels.pop(price, None)
        else:
            levels[price] = size

    def mid_and_spread(self) -> tuple[Decimal, Decimal] | None:
        if not self.bids or not self.asks:
            return None
        bid, ask = max(self.bids), min(self.asks)
        if ask < bid:
            return None  # crossed: a torn update, not a price
        return (bid + ask) / 2, ask - bid


def _levels(raw: Iterable[Any]) -> dict[Decimal, Decimal]:
    out: dict[Decimal, Decimal] = {}
    for lvl in raw:
        price, size = to_decimal(lvl["price"]), to_decimal(lvl["size"])
        if size > 0:
            out[price] = size
    return out


def apply_event(books: Mapping[str, Book], msg: Mapping[str, Any]) -> set[str]:
    """Apply one channel event to the books of tokens we follow; returns the tokens touched.

    Raises ``KeyError``/``TypeError``/``RowError`` on a malformed event.
    """
    kind = msg.get("event_type")
    touched: set[str] = set()
    if kind == "book":
        token = str(msg["asset_id"])
        if token in books:
            books[token].replace_with(msg["bids"], msg["asks"])
            touched.add(token)
    elif kind == "price_change":
        if "price_changes" in msg:  # the current shape: one entry per (token, level)
            changes = [(str(c["asset_id"]), c) for c in msg["price_changes"]]
        else:  # the older shape: one token, a list of level changes
            changes = [(str(msg["asset_id"]), c) for c in msg["changes"]]
        for token, c in changes:
            if token in books:
                books[token].set_level(
                    str(c["side"]), to_decimal(c["price"]), to_decimal(c["size"])
                )
                touched.add(token)
    return touched


def market_chances(
    books: Mapping[str, Book], tokens: list[str], max_spread: Decimal
) -> tuple[list[Decimal], Decimal] | None:
    """The outcome chances and confidence of a market mapped to ``tokens`` (None: not yet)."""
    mids: list[Decimal] = []
    widest = Decimal(0)
    for token in tokens:
        got = books[token].mid_and_spread()
        if got is None or got[1] > max_spread:
            return None
        mids.append(got[0])
        widest = max(widest, got[1])
    if len(tokens) == 1:
        mids.append(1 - mids[0])
    return mids, max(Decimal(0), 1 - widest)


class PolymarketParams(WsParams):
    url: str = MARKET_WS
    rest_url: str = CLOB_REST
    markets: dict[str, list[str]] = Field(
        description="Kash market id -> Polymarket token ids by outcome index (one: binary yes)"
    )
    snapshot: bool = Field(True, description="GET /book per token at every (re)connect")
    max_spread: Decimal = Field(Decimal("0.2"), gt=0, le=1)
    venue_time: bool = Field(False, description="use the message timestamp as source_ts")
    normalise: Normalise = "proportional"
    ping_text: str | None = "PING"

    @field_validator("markets")
    @classmethod
    def _mapped(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: set[str] = set()
        for market, tokens in v.items():
            if not 1 <= len(tokens) <= 8:
                raise ValueError(f"{market}: map 1 (binary yes) to 8 token ids")
            dup = seen & set(tokens)
            if dup or len(set(tokens)) != len(tokens):
                raise ValueError(f"{market}: a token is mapped twice")
            seen |= set(tokens)
        return v


class PolymarketSource(WsSource[PolymarketParams]):
    name = "polymarket"
    Params = PolymarketParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.books: dict[str, Book] = {}
        self.market_of: dict[str, str] = {}
        for market, tokens in self.params.markets.items():
            for t in tokens:
                self.books[t] = Book()
                self.market_of[t] = market
        self._sent: dict[str, tuple[Wad, ...]] = {}

    def markets(self) -> frozenset[str]:
        return frozenset(self.params.markets)

    async def on_connect(self, ws: ClientConnection, emit: Emit) -> None:
        for book in self.books.values():
            book.replace_with([], [])
        self._sent.clear()
        if self.params.snapshot:
            await self._snapshot(emit)
        await ws.send(json.dumps({"assets_ids": list(self.books), "type": "market"}))

    async def _snapshot(self, emit: Emit) -> None:
        timeout = aiohttp.ClientTimeout(total=self.params.open_timeout_s)
        url = self.params.rest_url.rstrip("/") + "/book"
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for token in self.books:
                try:
                    async with session.get(url, params={"token_id": token}) as resp:
                        resp.raise_for_status()
                        body = await resp.json(content_type=None)
                    if self.handle([{**body, "event_type": "book", "asset_id": token}], emit):
                        self._delivered = True
                except (aiohttp.ClientError, TimeoutError, ValueError, TypeError) as exc:
                    log.warning(
                        "fair_value_polymarket_snapshot_failed",
                        source=self.source_id,
                        token=token[:16],
                        error=type(exc).__name__,
                    )

    def on_message(self, raw: str | bytes, emit: Emit) -> bool:
        if raw in ("PONG", b"PONG"):
            return False
        try:
            doc = json.loads(raw)
        except ValueError:
            self.refused += 1
            log.warning("fair_value_ws_bad_message", source=self.source_id, reason="not JSON")
            return False
        return self.handle(doc if isinstance(doc, list) else [doc], emit)

    def handle(self, events: list[Any], emit: Emit) -> bool:
        """Apply one frame's events (an initial dump is an array: applied as one), then emit
        each touched market once; True when a value was delivered."""
        touched: set[str] = set()
        ts: float | None = None
        kinds: list[str] = []
        for msg in events:
            kind = msg.get("event_type") if isinstance(msg, dict) else None
            try:
                if not isinstance(msg, dict):
                    raise TypeError("not an object")
                touched |= apply_event(self.books, msg)
                if self.params.venue_time:
                    ts = float(to_decimal(msg["timestamp"])) / 1000
            except (KeyError, TypeError, RowError) as exc:
                self.refused += 1
                log.warning(
                    "fair_value_ws_bad_message",
                    source=self.source_id,
                    type=kind,
                    reason=f"{type(exc).__name__}: {exc}"[:200],
                )
                continue
            kinds.append(str(kind))
        delivered = False
        for market in sorted({self.market_of[t] for t in touched}):
            got = market_chances(self.books, self.params.markets[market], self.params.max_spread)
            if got is None:
                continue
            row = f"{'+'.join(sorted(set(kinds)))} {market}"
            u = self.accept(market, got[0], row=row, source_ts=ts, confidence=got[1])
            if u is not None and self._sent.get(market) != u.probabilities:
                self._sent[market] = u.probabilities
                self.deliver(u, emit)
                delivered = True
        return delivered
