"""Mutable venue state records. Money is int (USDC atomic, WAD tokens); times are clock seconds."""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from kashbot import amm
from kashbot.money import Atomic, Wad
from kashbot.sim.limits import RollingVolume

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled"})
IN_FLIGHT = frozenset({"pending", "validating", "executing"})
Side = Literal["buy", "sell"]


@dataclass(slots=True)
class UserState:
    id: str
    balance: Atomic
    smart_account: str
    smart_account_provisioned: bool = True
    delegation_enabled: bool = True
    held: Atomic = 0  # USDC reserved by accepted, not yet executed buys


@dataclass(slots=True)
class KeyState:
    id: str
    name: str
    api_key: str
    user_id: str
    tier: str
    scopes: frozenset[str]
    requests_per_minute: int
    per_trade_cap: Atomic
    daily_cap: Atomic
    threshold: Atomic | None
    confirm_window_s: float
    webhook_url: str | None
    webhook_secret: str | None
    ip_allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    revoked: bool = False
    expires_at: float | None = None
    previous_secret: str | None = None
    previous_retained_until: float | None = None
    rotated_at: float | None = None
    volume: RollingVolume = field(default_factory=RollingVolume)
    auth_failures: list[float] = field(default_factory=list)
    rate_rejections: list[float] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return self.api_key[:14]

    def __repr__(self) -> str:  # secrets stay out of reprs and logs
        return f"KeyState(id={self.id!r}, name={self.name!r}, tier={self.tier!r})"


@dataclass(slots=True)
class Prediction:
    """One executed trade on a market by anyone (§7.2 row)."""

    id: str
    seq: int
    market_id: str
    outcome: int
    side: Side
    usdc_in: Atomic | None
    usdc_out: Atomic | None
    tokens_in: Wad | None
    tokens_out: Wad | None
    price: Wad  # post-trade marginal price of the outcome, USDC per token (WAD)
    probability: Wad  # post-trade q of the outcome
    probabilities: tuple[Wad, ...]
    ts: float
    block_number: int
    tx_hash: str
    log_index: int | None  # None on Solana (kash-today §3)
    source: str  # "user" | "noise" | "external" (ground truth only, never on the wire)
    trade_id: str | None = None


@dataclass(slots=True)
class MarketState:
    id: str
    title: str
    description: str | None
    labels: tuple[str, ...]
    status: str  # UNSEEDED | ACTIVE | RESOLVED | ABANDONED
    pool: amm.Pool
    contract_address: str
    created_at: float
    freeze_at: float | None
    expires_at: float | None
    chain: str = "solana:mainnet-beta"
    fees: amm.Fees = amm.DEFAULT_FEES  # what trades pay on this market
    quote_fees: amm.Fees = amm.DEFAULT_FEES  # what its quotes assume (api choice)
    resolved_at: float | None = None
    winners: tuple[int, ...] = ()
    resolved_pool: amm.Pool | None = None  # snapshot at resolution/cancel, the redemption basis
    # resolving | proposed | settling | resolved | cancelled; None while trading (before expiry)
    resolution_state: str | None = None
    proposal: Proposal | None = None
    # newest executed-trade rows (bounded: scenario ``api.prediction_log_size``); ``executions``
    # counts every one ever made
    predictions: deque[Prediction] = field(default_factory=deque)
    executions: int = 0
    true_logits: list[float] = field(default_factory=list)
    truth_at: float = 0.0
    noise_holdings: list[Wad] = field(default_factory=list)
    version: int = 0  # bumps on every change (ETag input)

    def tradeable(self, now: float) -> bool:
        return (
            self.status == "ACTIVE"
            and self.resolution_state is None
            and (self.freeze_at is None or now < self.freeze_at)
        )

    @property
    def settled(self) -> bool:
        """Resolved or cancelled for good: positions can be redeemed."""
        return self.resolution_state in ("resolved", "cancelled") and self.resolved_pool is not None


@dataclass(slots=True)
class Proposal:
    """The market resource's ``resolution`` (kash-today §4)."""

    outcome: int
    proposed_at: float
    finalizable_at: float
    settlement_status: str  # proposed | disputed | finalized | cancelled
    dispute_open: bool = True


@dataclass(slots=True)
class Position:
    user_id: str
    market_id: str
    outcome: int
    shares: Wad = 0
    cost_basis: Atomic = 0
    trade_count: int = 0
    first_trade_at: float | None = None
    last_trade_at: float | None = None
    held: Wad = 0  # shares reserved by accepted, not yet executed sells


@dataclass(slots=True)
class TraceEvent:
    type: str
    occurred_at: float
    seq: int
    data: dict[str, object]


@dataclass(slots=True)
class TradeRecord:
    id: str
    seq: int
    key_id: str
    user_id: str
    market_id: str
    outcome: int
    side: Side
    amount: Atomic
    status: str
    correlation_id: str
    client_request_id: str | None
    metadata: dict[str, str]
    created_at: float
    updated_at: float
    tx_hash: str | None = None
    tokens_out: Wad | None = None
    tokens_in: Wad | None = None  # tokens burned by a sell (simulator extension field)
    payout: Atomic | None = None  # USDC received by a sell (simulator extension field)
    error_code: str | None = None
    error_message: str | None = None
    token: str | None = None
    token_expires_at: float | None = None
    token_used: bool = False
    gated: bool = False
    held_usdc: Atomic = 0
    held_tokens: Wad = 0
    trace: list[TraceEvent] = field(default_factory=list)
    forced_outcome: tuple[str, str] | None = None  # (status, errorCode) from a fault
    version: int = 0


@dataclass(slots=True)
class WebhookEvent:
    id: str
    seq: int
    key_id: str
    type: str
    trade_id: str | None
    created_at: float
    body: bytes  # the exact bytes delivered on every attempt
    api_version: str
    status: str = "pending"  # none | pending | delivered | retrying | failed
    attempts: int = 0
    run_attempts: int = 0  # attempts in the current (auto or manual) delivery run
    next_attempt_at: float | None = None
    in_flight: bool = False
    last_attempted_at: float | None = None
    last_delivered_at: float | None = None
    last_status_code: int | None = None
    last_failure_code: str | None = None
    last_error_message: str | None = None
    terminal_failure_at: float | None = None
    replay_count: int = 0
    outbox_emitted_at: float | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP attempt the deliverer should make now."""

    event_id: str
    key_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    duplicate: bool = False


@dataclass(slots=True)
class Redemption:
    id: str
    seq: int
    user_id: str
    key_id: str
    market_id: str
    outcome: int
    kind: str  # resolved | cancelled
    shares: Wad
    payout: Atomic
    status: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class QuoteResult:
    market_id: str
    outcome: int
    action: Side
    amount_in: int  # USDC atomic (buy) or WAD tokens (sell)
    tokens_out: Wad | None
    usdc_out: Atomic | None
    gross_release: Wad | None
    reserve_after: Wad
    c_after: Wad
    p_after: tuple[Wad, ...]
    q_after: tuple[Wad, ...]
    protocol_fee: Atomic
    amm_fee: Atomic


@dataclass(frozen=True, slots=True)
class TradeSubmission:
    """What POST /v1/trades answers: the trade, its status code and, if gated, the token."""

    trade: TradeRecord
    status_code: int  # 201, 202, or 200 for a replay after confirmation
    replay: bool
    idempotency_key: str | None
    confirmation_token: str | None
    confirmation_expires_at: float | None


@dataclass(frozen=True, slots=True)
class MarketTick:
    """Pushed to listeners (the stream) after every executed trade on a market."""

    market_id: str
    prediction: Prediction


@dataclass(slots=True)
class IdempotencyEntry:
    """What an ``Idempotency-Key`` was first used for (§6): body fingerprint, trade, answer."""

    fingerprint: str
    trade_id: str
    created_at: float
    status_code: int
