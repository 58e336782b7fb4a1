"""An in-process fake TradingVenue with Kash's idempotency semantics and scripted faults."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from kashbot.client.errors import (
    KashError,
    KashResponseError,
    OutcomeUnknownError,
    RequestDeadlineExceeded,
)
from kashbot.client.models import Page, Position, Trade, TradeCreated
from kashbot.clock import Clock

Fault = Literal["lost_after_create", "lost_before_create", "garbled_2xx"]
"""``lost_*``: the answer is lost (before or after the venue created the trade);
``garbled_2xx``: the trade is created but its 2xx body cannot be parsed."""
Step = Fault | KashError | None
"""One ``create_trade`` call: a fault, an error raised before creating, or None (normal)."""


class TradeWithTokensIn(Trade):
    """A trade resource carrying the simulator's ``tokensIn`` extension (tokens a sell burned)."""

    tokens_in: int | None = None


def _answered_after_replay_check(err: KashError) -> bool:
    """A 4xx verdict (not 408/429) comes after the key lookup: a known key gets its replay."""
    return err.status is not None and 400 <= err.status < 500 and err.status not in (408, 429)


@dataclass
class SentCall:
    idempotency_key: str | None
    client_request_id: str | None
    body: tuple[Any, ...]


@dataclass
class FakeVenue:
    confirm_threshold: Decimal | None = None
    faults: list[Step] = field(default_factory=list)  # consumed one per create_trade call
    errors: list[KashError] = field(default_factory=list)  # raised before creating, in order
    list_errors: list[KashError] = field(default_factory=list)  # raised by list_trades, in order
    unlisted: set[str] = field(default_factory=set)  # trades list_trades does not show (yet)
    list_calls: int = 0
    on_list: Callable[[], None] | None = None  # runs at each list_trades call (e.g. halt a gate)
    confirm_errors: list[KashError] = field(default_factory=list)  # raised by confirm_trade
    calls: list[SentCall] = field(default_factory=list)
    confirms: list[str] = field(default_factory=list)
    trades: dict[str, Trade] = field(default_factory=dict)
    by_key: dict[str, tuple[tuple[Any, ...], TradeCreated]] = field(default_factory=dict)
    positions: list[Position] = field(default_factory=list)
    position_calls: list[str | None] = field(default_factory=list)
    position_errors: list[KashError] = field(default_factory=list)  # raised by list_positions
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    # Like KashClient's request budget: wait this long on ``clock`` before sending, then honour
    # ``not_after`` (nothing sent once it has passed).
    clock: Clock | None = None
    budget_wait_s: float = 0.0
    not_afters: list[float | None] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def create_trade(
        self,
        market_id: str,
        outcome_index: int,
        side: Literal["buy", "sell"],
        amount: Decimal | str,
        *,
        client_request_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        not_after: float | None = None,
    ) -> TradeCreated:
        self.not_afters.append(not_after)
        if self.clock is not None:
            if self.budget_wait_s:
                await self.clock.sleep(self.budget_wait_s)
            if not_after is not None and self.clock.now() > not_after:
                raise RequestDeadlineExceeded("POST /v1/trades: deadline passed before sending")
        body = (
            market_id,
            outcome_index,
            side,
            str(amount),
            client_request_id,
            dict(metadata or {}),
        )
        self.calls.append(SentCall(idempotency_key, client_request_id, body))
        fault = self.faults.pop(0) if self.faults else None
        if isinstance(fault, KashError) and not (
            idempotency_key in self.by_key and _answered_after_replay_check(fault)
        ):
            raise fault
        if fault == "lost_before_create":
            raise OutcomeUnknownError("dropped", idempotency_key=idempotency_key or "", body=b"{}")
        if self.errors:
            raise self.errors.pop(0)
        if idempotency_key in self.by_key:
            old_body, created = self.by_key[idempotency_key]
            assert old_body == body, "same key, different body"
            result = created.model_copy(
                update={"idempotent_replay": True, "trade": self.trades[created.trade.id]}
            )
        else:
            for t in self.trades.values():
                assert t.client_request_id != client_request_id, "duplicate trade created"
            tid = f"t{next(self._ids)}"
            gated = self.confirm_threshold is not None and Decimal(amount) >= self.confirm_threshold
            trade = Trade(
                id=tid,
                market_id=market_id,
                outcome_index=outcome_index,
                side=side,
                amount=Decimal(str(amount)),
                status="pending_confirmation" if gated else "pending",
                client_request_id=client_request_id,
                metadata=dict(metadata or {}),
                created_at=self.now,
            )
            self.trades[tid] = trade
            conf = {"token": "x" * 43, "expires_at": self.now} if gated else None
            result = TradeCreated.model_validate(
                {
                    "trade": trade,
                    "confirmation": conf,
                    "idempotency_key": idempotency_key or "",
                    "status_code": 202 if gated else 201,
                }
            )
            self.by_key[idempotency_key or tid] = (body, result)
        if fault == "lost_after_create":
            raise OutcomeUnknownError(
                "timed out", idempotency_key=idempotency_key or "", body=b"{}"
            )
        if fault == "garbled_2xx":
            raise KashResponseError("POST /v1/trades: unexpected response shape", status=201)
        return result

    async def confirm_trade(self, trade_id: str, token: str) -> Trade:
        self.confirms.append(trade_id)
        if self.confirm_errors:
            raise self.confirm_errors.pop(0)
        self.set_status(trade_id, "pending")
        return self.trades[trade_id]

    async def get_trade(self, trade_id: str) -> Trade:
        return self.trades[trade_id]

    async def list_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Trade]:
        self.list_calls += 1
        if self.on_list is not None:
            self.on_list()
        if self.list_errors:
            raise self.list_errors.pop(0)
        rows = [
            t
            for t in reversed(self.trades.values())
            if market_id in (None, t.market_id) and t.id not in self.unlisted
        ]
        return Page(data=rows, cursor=None, has_more=False)

    async def list_positions(self, market_id: str | None = None) -> list[Position]:
        self.position_calls.append(market_id)
        if self.position_errors:
            raise self.position_errors.pop(0)
        return [p for p in self.positions if market_id in (None, p.market_id)]

    def hold(self, market_id: str, outcome: int, shares: int, cost: int) -> None:
        """Set the venue's position in one outcome (a zero position has no row, as on Kash)."""
        self.positions = [
            p for p in self.positions if (p.market_id, p.outcome_index) != (market_id, outcome)
        ]
        if shares > 0:
            self.positions.append(
                Position(
                    market_id=market_id,
                    outcome_index=outcome,
                    shares=shares,
                    cost_basis_atomic=cost,
                )
            )

    def set_trade(self, trade_id: str, trade: Trade) -> None:
        self.trades[trade_id] = trade

    def set_status(self, trade_id: str, status: str, tokens_out: int | None = None) -> None:
        self.trades[trade_id] = self.trades[trade_id].model_copy(
            update={"status": status, "tokens_out": tokens_out}
        )

    def created_count(self) -> int:
        return len(self.trades)
