"""Portfolio, positions, account usage and redemptions (§7 portfolio, account, redemptions)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kashbot.client.models.wire import Atomic, KashModel, Wad


class Portfolio(KashModel):
    smart_account_address: str | None = None  # 0x… on Base, a base58 wallet on Solana
    active_positions: int | None = None
    total_cost_basis_atomic: Atomic | None = None


class Position(KashModel):
    market_id: str
    outcome_index: int
    chain_ref: str | None = None
    shares: Wad
    cost_basis_atomic: Atomic
    trade_count: int | None = None
    first_trade_at: datetime | None = None
    last_trade_at: datetime | None = None


class LatencyMs(KashModel):
    p50: float | None = None
    p99: float | None = None


class TradeUsageWindow(KashModel):
    total: int = 0
    completed: int = 0
    failed: int = 0
    success_rate: float | None = None
    latency_ms: LatencyMs | None = None


class WebhookUsageWindow(KashModel):
    emitted: int = 0
    delivered: int = 0
    failed: int = 0
    success_rate: float | None = None


class AuthUsageWindow(KashModel):
    failures: int = 0
    rate_limit_rejections: int = 0


class AccountUsage(KashModel):
    api_key_id: str | None = None
    generated_at: datetime | None = None
    trades: dict[str, TradeUsageWindow] = Field(default_factory=dict)  # "24h", "7d", "30d"
    webhooks: dict[str, WebhookUsageWindow] = Field(default_factory=dict)
    auth: dict[str, AuthUsageWindow] = Field(default_factory=dict)


class Redemption(KashModel):
    id: str
    market_id: str
    outcome_index: int
    kind: str | None = None  # resolved | cancelled
    shares_wad: Wad | None = None
    status: str | None = None
    idempotent: bool = False  # from ``_meta.idempotent`` (an existing redemption was returned)
