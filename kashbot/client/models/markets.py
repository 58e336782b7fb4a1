"""Markets, their public trade tape (predictions) and quotes (§7 markets)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kashbot.client.models.wire import Atomic, DecimalStr, KashModel, Side, Wad


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
