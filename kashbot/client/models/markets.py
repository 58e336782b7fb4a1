"""Markets, their public trade tape (predictions) and quotes (§7 markets)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kashbot.client.models.wire import Atomic, DecimalStr, KashModel, Side, Wad


class Outcome(KashModel):
    index: int
    label: str
    probability: DecimalStr | None = None


def chain_of(chain_ref: str | None, chain_id: int | None) -> str | None:
    """The chain as a ``chainRef`` (``solana:mainnet-beta``, ``evm:8453``, any new value as sent).

    Before ``2026-08-19`` only ``chainId`` exists, so an EVM id becomes ``evm:<id>``."""
    if chain_ref:
        return chain_ref
    return None if chain_id is None else f"evm:{chain_id}"


class Resolution(KashModel):
    """A pending (or final) outcome proposal (kash-today §4; null when there is none)."""

    proposed_outcome_index: int | None = None
    proposed_at: datetime | None = None
    finalizable_at: datetime | None = None
    settlement_status: str | None = None  # proposed | disputed | finalized | cancelled (open)
    dispute_open: bool | None = None


class Market(KashModel):
    """A market. On Solana (``2026-08-19``) ``chainId`` is absent and ``contractAddress`` base58."""

    id: str
    contract_address: str | None = None
    chain_id: int | None = None
    chain_ref: str | None = None  # plain string: unknown chains still parse
    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    status: str | None = None  # UNSEEDED | ACTIVE | RESOLVED | ABANDONED (open set)
    outcome_count: int
    outcomes: list[Outcome] = Field(default_factory=list)
    created_at: datetime | None = None
    expires_at: datetime | None = None  # the on-chain resolve time
    resolved_at: datetime | None = None
    freeze_at: datetime | None = None  # trading closes (typically expiresAt - 300 s)
    # resolving | proposed | settling | resolved | cancelled; null before expiry (open set)
    resolution_state: str | None = None
    resolution: Resolution | None = None
    # Per-market fees where the venue publishes them (Solana program fields; REST has none yet)
    protocol_fee_bps: int | None = None
    sell_fee_bps: int | None = None

    @property
    def chain(self) -> str | None:
        return chain_of(self.chain_ref, self.chain_id)


class MarketSummary(KashModel):
    """The ``market`` block next to a quote."""

    id: str
    contract_address: str | None = None
    chain_id: int | None = None
    chain_ref: str | None = None
    status: str | None = None
    outcomes: list[Outcome] = Field(default_factory=list)

    @property
    def chain(self) -> str | None:
        return chain_of(self.chain_ref, self.chain_id)


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
    transaction_hash: str | None = None  # 0x… on EVM, a base58 signature on Solana
    log_index: int | None = None  # null on Solana rows (id is signature-instruction-inner)
    chain_ref: str | None = None


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
