"""Trades, their creation result and confirmation, and traces (§7 trades, traces)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kashbot.client.models.wire import KashModel, Side, UsdcAmount, Wad
from kashbot.money import usdc_to_atomic

TRADE_STATUSES = (
    "pending_confirmation",
    "pending",
    "validating",
    "executing",
    "completed",
    "failed",
    "rejected",
)
TERMINAL_TRADE_STATUSES = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})
IN_FLIGHT_TRADE_STATUSES = frozenset({"pending", "validating", "executing"})


class WebhookDelivery(KashModel):
    status: str | None = None
    attempts: int | None = None
    last_attempted_at: datetime | None = None
    last_status_code: int | None = None
    last_failure_code: str | None = None
    terminal_failure_at: datetime | None = None


class Trade(KashModel):
    id: str
    market_id: str
    outcome_index: int
    side: Side
    amount: UsdcAmount  # buy: USDC spent; sell: USDC to receive
    status: str
    correlation_id: str | None = None
    client_request_id: str | None = None
    chain_ref: str | None = None  # from 2026-08-19; absent before
    tx_hash: str | None = None  # 0x+64 hex or a base58 signature; null for Solana trades
    tokens_out: Wad | None = None
    # Tokens a completed sell burned: the simulator's extension (kash-api.md §18 item 3 — real
    # Kash may never send it, so callers must cope with None by asking for the position).
    tokens_in: Wad | None = None
    error_code: str | None = None
    error_message: str | None = None
    webhook_delivery: WebhookDelivery | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def amount_atomic(self) -> int:
        return usdc_to_atomic(self.amount)

    @property
    def awaiting_confirmation(self) -> bool:
        return self.status == "pending_confirmation"

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT_TRADE_STATUSES

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TRADE_STATUSES


class Confirmation(KashModel):
    token: str = Field(repr=False)  # single-use secret: never in reprs or logs
    expires_at: datetime


class TradeCreated(KashModel):
    """Result of ``POST /v1/trades``: 201 (accepted) or 202 (needs ``confirm_trade``)."""

    trade: Trade
    confirmation: Confirmation | None = None
    idempotent_replay: bool = False
    idempotency_key: str
    status_code: int
    request_id: str | None = None

    @property
    def requires_confirmation(self) -> bool:
        return self.confirmation is not None


class TraceEventData(KashModel):
    trade_id: str | None = None
    market_id: str | None = None
    outcome_index: int | None = None
    side: Side | None = None
    amount: UsdcAmount | None = None
    chain_id: int | None = None
    tx_hash: str | None = None
    tokens_out: Wad | None = None
    error_code: str | None = None
    error_message: str | None = None
    reason: str | None = None


class TraceEvent(KashModel):
    type: str  # CloudEvents type, open set
    occurred_at: datetime | None = None
    sequence_number: int | None = None
    data: TraceEventData = Field(default_factory=TraceEventData)


class Trace(KashModel):
    correlation_id: str
    events: list[TraceEvent] = Field(default_factory=list)
