"""What the executor needs from a venue: the trading subset of ``KashClient``.

Live and paper trading pass a ``KashClient``; the backtester passes an in-process adapter over the
simulator's venue. Errors are the client's (``kashbot.client.errors``), so an adapter raises the
same classes the REST client would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal, Protocol

from kashbot.client.models import Page, Position, Trade, TradeCreated

Action = Literal["buy", "sell"]


class TradingVenue(Protocol):
    async def create_trade(
        self,
        market_id: str,
        outcome_index: int,
        side: Action,
        amount: Decimal | str,
        *,
        client_request_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        not_after: float | None = None,
    ) -> TradeCreated:
        """``not_after`` (venue clock seconds): once past, send nothing and raise
        ``RequestDeadlineExceeded`` if nothing was sent yet (``OutcomeUnknownError`` if an
        earlier attempt may have reached the venue)."""
        ...

    async def confirm_trade(self, trade_id: str, token: str) -> Trade: ...

    async def get_trade(self, trade_id: str) -> Trade: ...

    async def list_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Trade]: ...

    async def list_positions(self, market_id: str | None = None) -> list[Position]: ...
