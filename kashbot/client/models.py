"""Pydantic models for Kash REST v1 resources (§6, §7) and the request bodies we send.

Responses: camelCase aliases, unknown fields ignored (forward compatible), frozen. Money keeps
its wire unit: USDC decimal strings become ``Decimal``, atomic-6 and WAD-18 integer strings become
``int`` (parsed strictly: digits only, never via float). Request bodies are validated strictly
(unknown fields forbidden, documented formats enforced) before anything leaves the process.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
)
from pydantic.alias_generators import to_camel

from kashbot.money import MoneyError, usdc_str, usdc_to_atomic

_INT_RE = re.compile(r"^-?\d+$")
AMOUNT_RE = re.compile(r"^\d+(\.\d{1,6})?$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,255}$")
CLIENT_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
METADATA_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-.]{1,64}$")
METADATA_MAX_KEYS = 10
METADATA_MAX_VALUE_LEN = 500


def _strict_int(value: Any) -> Any:
    """Integer strings (atomic USDC, WAD) → int. Refuses floats, "1.0", "1e18" and bools."""
    if isinstance(value, bool):
        raise ValueError("expected an integer string, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    raise ValueError(f"expected an integer string, got {value!r}")


def _decimal(value: Any) -> Any:
    """Decimal strings or JSON numbers → Decimal via ``str`` (no binary float expansion)."""
    if isinstance(value, bool):
        raise ValueError("expected a decimal, got a bool")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        try:
            result = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal: {value!r}") from exc
        if not result.is_finite():
            raise ValueError(f"not a finite decimal: {value!r}")
        return result
    raise ValueError(f"expected a decimal, got {type(value).__name__}")


def _usdc_amount(value: Any) -> Any:
    """USDC decimal string (≤ 6 dp) → Decimal."""
    if isinstance(value, str) and AMOUNT_RE.match(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and value >= 0:
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent >= -6:
            return value
    raise ValueError(f"expected a USDC decimal string with at most 6 decimals, got {value!r}")


# Wire form is the integer/decimal string; the JSON dump reproduces it (the simulator reuses these).
IntStr = Annotated[int, BeforeValidator(_strict_int), PlainSerializer(str, when_used="json")]
Atomic = IntStr  # USDC atomic-6
Wad = IntStr  # WAD-18
DecimalStr = Annotated[Decimal, BeforeValidator(_decimal), PlainSerializer(str, when_used="json")]
UsdcAmount = Annotated[
    Decimal, BeforeValidator(_usdc_amount), PlainSerializer(str, when_used="json")
]
Side = Literal["buy", "sell"]

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


class KashModel(BaseModel):
    """Response model base: aliases, tolerant of new fields, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class Meta(KashModel):
    request_id: str | None = None
    timestamp: datetime | None = None
    idempotent: bool | None = None
    message: str | None = None


# --- markets ----------------------------------------------------------------------------------


class Outcome(KashModel):
    index: int
    label: str
    probability: DecimalStr | None = None


class Market(KashModel):
    id: str
    contract_address: str | None = None
    chain_id: int | None = None
    chain_ref: str | None = None
    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    status: str | None = None  # UNSEEDED | ACTIVE | RESOLVED (| ABANDONED on quote summaries)
    outcome_count: int
    outcomes: list[Outcome] = Field(default_factory=list)
    created_at: datetime | None = None
    expires_at: datetime | None = None
    resolved_at: datetime | None = None
    freeze_at: datetime | None = None


class MarketSummary(KashModel):
    """The ``market`` block next to a quote."""

    id: str
    contract_address: str | None = None
    chain_id: int | None = None
    chain_ref: str | None = None
    status: str | None = None
    outcomes: list[Outcome] = Field(default_factory=list)


class Prediction(KashModel):
    """One trade on a market (public tape; no trader identity)."""

    id: str
    market_id: str
    outcome_index: int
    side: Side
    usdc_in: Atomic | None = None
    usdc_out: Atomic | None = None
    tokens_in: Wad | None = None
    tokens_out: Wad | None = None
    price: DecimalStr | None = None
    probability: DecimalStr | None = None
    timestamp: datetime | None = None
    block_number: str | None = None
    transaction_hash: str | None = None
    log_index: int | None = None


class Quote(KashModel):
    """A buy or sell quote; the response's ``market`` and ``units`` blocks are folded in."""

    outcome_index: int
    action: Side
    amount_in: Atomic | None = None  # buy: USDC in
    tokens_out: Wad | None = None  # buy
    tokens_in: Wad | None = None  # sell
    usdc_out: Atomic | None = None  # sell, net of the AMM sell fee
    gross_release: Wad | None = None  # sell
    reserve_after: Wad | None = None
    c: Wad | None = None
    p_after: list[Wad] = Field(default_factory=list)
    q_after: list[Wad] = Field(default_factory=list)
    effective_price: DecimalStr | None = None  # convenience ratio of raw atomic values
    implied_probability: DecimalStr | None = None
    market: MarketSummary | None = None
    units: dict[str, str] = Field(default_factory=dict)


# --- trades -----------------------------------------------------------------------------------


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
    chain_ref: str | None = None
    tx_hash: str | None = None
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


# --- traces, portfolio, account ----------------------------------------------------------------


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


class Portfolio(KashModel):
    smart_account_address: str | None = None
    active_positions: int | None = None
    total_cost_basis_atomic: Atomic | None = None


class Position(KashModel):
    market_id: str
    outcome_index: int
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


# --- webhook management, redemptions ------------------------------------------------------------


class WebhookEventDelivery(KashModel):
    attempts: int | None = None
    last_attempted_at: datetime | None = None
    last_delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_failure_code: str | None = None
    last_error_message: str | None = None
    terminal_failure_at: datetime | None = None


class WebhookEventRecord(KashModel):
    id: str  # opaque (docs: evt_<hex>, SDK: uuid)
    event_type: str
    trade_request_id: str | None = None
    emitted_at: datetime | None = None
    outbox_emitted_at: datetime | None = None
    replay_count: int = 0
    status: str | None = None
    delivery: WebhookEventDelivery | None = None


class RedeliveredEvent(KashModel):
    id: str
    event_type: str | None = None
    api_key_id: str | None = None
    trade_request_id: str | None = None
    emitted_at: datetime | None = None
    last_delivered_at: datetime | None = None
    delivery_attempts: int | None = None
    message: str | None = None  # from ``_meta.message``


class WebhookSecret(KashModel):
    secret: SecretStr  # shown once by the server; ``.get_secret_value()`` to store it
    rotated_at: datetime | None = None
    previous_retained_until: datetime | None = None


class Redemption(KashModel):
    id: str
    market_id: str
    outcome_index: int
    kind: str | None = None  # resolved | cancelled
    shares_wad: Wad | None = None
    status: str | None = None
    idempotent: bool = False  # from ``_meta.idempotent`` (an existing redemption was returned)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list; pass ``cursor`` back for the next page."""

    data: list[T]
    cursor: str | None
    has_more: bool
    limit: int | None = None
    request_id: str | None = field(default=None, compare=False)


# --- request bodies (strict) ---------------------------------------------------------------------


class RequestModel(BaseModel):
    """Outgoing body base: unknown fields forbidden, camelCase on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )


def _check_uuid(name: str, value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{name} must be a UUID") from None
    return value


class TradeRequest(RequestModel):
    market_id: str
    outcome_index: int = Field(ge=0)
    amount: str
    side: Side
    client_request_id: str | None = None
    metadata: dict[str, str] | None = None

    @field_validator("market_id")
    @classmethod
    def _market_uuid(cls, v: str) -> str:
        return _check_uuid("marketId", v)

    @field_validator("amount")
    @classmethod
    def _amount(cls, v: str) -> str:
        if not AMOUNT_RE.match(v):
            raise ValueError("amount must be a USDC decimal string with at most 6 decimals")
        if Decimal(v) <= 0:
            raise ValueError("amount must be greater than zero")
        return v

    @field_validator("client_request_id")
    @classmethod
    def _crid(cls, v: str | None) -> str | None:
        if v is not None and not CLIENT_REQUEST_ID_RE.match(v):
            raise ValueError("clientRequestId must be 1-128 chars of [A-Za-z0-9_-:.]")
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if len(v) > METADATA_MAX_KEYS:
            raise ValueError(f"metadata has {len(v)} keys; at most {METADATA_MAX_KEYS} allowed")
        for key, value in v.items():
            if not METADATA_KEY_RE.match(key):
                raise ValueError(f"metadata key {key!r} must be 1-64 chars of [a-zA-Z0-9_-.]")
            if len(value) > METADATA_MAX_VALUE_LEN:
                raise ValueError(
                    f"metadata[{key!r}] is {len(value)} chars; at most {METADATA_MAX_VALUE_LEN}"
                )
        return v

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class ConfirmRequest(RequestModel):
    token: str = Field(min_length=40, max_length=64, repr=False)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class RedemptionRequest(RequestModel):
    market_id: str
    outcome_index: int = Field(ge=0, le=255)

    @field_validator("market_id")
    @classmethod
    def _market_uuid(cls, v: str) -> str:
        return _check_uuid("marketId", v)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


def amount_to_wire(amount: Decimal | str | int) -> str:
    """A trade amount in the API's form (``"10.5"``); refuses floats and > 6 decimals."""
    if isinstance(amount, float):
        raise ValueError("amount must be Decimal or str, never float")
    try:
        atomic = usdc_to_atomic(amount)
    except MoneyError as exc:
        raise ValueError(f"amount: {exc}") from None
    if atomic <= 0:
        raise ValueError("amount must be greater than zero")
    return usdc_str(atomic)


def check_idempotency_key(key: str) -> str:
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError("idempotency_key must be 1-255 chars of [A-Za-z0-9_-:.]")
    return key
