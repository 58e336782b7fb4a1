"""Scenario schema of a market: chain, fees, noise traders and its lifecycle timeline.

Timeline offsets are clock seconds from the venue's start (not divided by the time scale, so a
recorded run's freeze times replay exactly): ``freeze_after_s`` (or ``expires_after_s`` minus
``freeze_lead_s``) stops trading, ``expires_after_s`` starts resolving, ``resolve.after_s``
proposes the outcome, ``dispute_window_s`` later it is finalizable, ``settle_s`` later resolved.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kashbot.money import usdc_to_atomic
from kashbot.sim.chains import CHAIN_RE, DEFAULT_CHAIN, is_solana

USDC_RE = re.compile(r"^\d+(\.\d{1,6})?$")
BASE58_ADDRESS_RE = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
EVM_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def usdc_field(v: Any) -> str:
    """USDC amounts in scenarios are decimal strings (or ints); never floats."""
    if isinstance(v, bool | float):
        raise ValueError("USDC amounts must be written as strings like '1000' or '0.5'")
    s = str(v)
    if not USDC_RE.match(s):
        raise ValueError(f"not a USDC amount with at most 6 decimals: {s!r}")
    return s


class FeesConfig(_Model):
    protocol_bps: int = Field(default=100, ge=0, lt=10_000)
    amm_sell_bps: int = Field(default=100, ge=0, lt=10_000)


class NoiseConfig(_Model):
    """Seeded noise traders chasing a hidden true probability (random walk with jumps)."""

    enabled: bool = True
    trades_per_minute: float = Field(default=6.0, ge=0)
    min_usdc: str = "1"
    max_usdc: str = "25"
    informed_share: float = Field(default=0.6, ge=0, le=1)
    volatility: float = Field(default=0.05, ge=0)  # logit std-dev per sqrt(minute)
    jumps_per_hour: float = Field(default=0.5, ge=0)
    jump_size: float = Field(default=0.6, ge=0)  # logit std-dev of a jump

    _amounts = field_validator("min_usdc", "max_usdc", mode="before")(usdc_field)

    @model_validator(mode="after")
    def _range(self) -> NoiseConfig:
        if usdc_to_atomic(self.min_usdc) > usdc_to_atomic(self.max_usdc):
            raise ValueError("min_usdc must not exceed max_usdc")
        return self


class ResolveAt(_Model):
    """How the market ends: an outcome proposal, a dispute window, settlement; or a cancel.

    ``after_s`` (default: the market's ``expires_after_s``) is when the outcome is proposed
    (or the market cancelled). With both windows 0 the market resolves at ``after_s``.
    """

    after_s: float | None = Field(default=None, ge=0)
    winners: tuple[int, ...] = ()
    cancel: bool = False
    dispute_window_s: float = Field(default=0.0, ge=0)
    settle_s: float = Field(default=0.0, ge=0)
    disputed: bool = False  # settlementStatus "disputed" while the window is open

    @model_validator(mode="after")
    def _outcome(self) -> ResolveAt:
        if self.cancel == bool(self.winners):
            raise ValueError("resolve needs either winners or cancel: true (not both)")
        return self


class MarketConfig(_Model):
    id: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    title: str
    description: str | None = None
    outcomes: tuple[str, ...] = Field(min_length=2, max_length=8)
    status: Literal["UNSEEDED", "ACTIVE", "RESOLVED", "ABANDONED"] = "ACTIVE"
    chain: str = DEFAULT_CHAIN  # every market since the 2026-10-01 cutover is on Solana
    fees: FeesConfig | None = None  # None: the scenario's fees
    liquidity_usdc: str = "1000"
    initial_probabilities: tuple[str, ...] | None = None
    true_probabilities: tuple[str, ...] | None = None
    freeze_after_s: float | None = Field(default=None, ge=0)
    expires_after_s: float | None = Field(default=None, ge=0)
    freeze_lead_s: float = Field(default=300.0, ge=0)  # freezeAt = expiresAt - this by default
    resolve: ResolveAt | None = None
    noise: NoiseConfig = NoiseConfig()
    contract_address: str | None = None

    _liq = field_validator("liquidity_usdc", mode="before")(usdc_field)

    @field_validator("chain")
    @classmethod
    def _chain(cls, v: str) -> str:
        if not CHAIN_RE.match(v):
            raise ValueError("chain must be solana:mainnet-beta|devnet|localnet or evm:<chain id>")
        return v

    @field_validator("initial_probabilities", "true_probabilities", mode="before")
    @classmethod
    def _probs(cls, v: Any) -> tuple[str, ...] | None:
        if v is None:
            return None
        out = tuple(str(x) for x in v)
        for x in out:
            d = Decimal(x)
            if not 0 < d < 1:
                raise ValueError(f"probabilities must be strictly between 0 and 1, got {x}")
        if sum(Decimal(x) for x in out) != 1:
            raise ValueError("probabilities must sum to exactly 1")
        return out

    @model_validator(mode="after")
    def _shape(self) -> MarketConfig:
        n = len(self.outcomes)
        for name in ("initial_probabilities", "true_probabilities"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"{name} needs {n} entries (one per outcome)")
        if self.resolve is not None:
            if any(not 0 <= w < n for w in self.resolve.winners):
                raise ValueError("resolve.winners must be outcome indices")
            if self.resolve.after_s is None and self.expires_after_s is None:
                raise ValueError("resolve.after_s is required when expires_after_s is not set")
        addr = self.contract_address
        if addr is not None:
            pattern = BASE58_ADDRESS_RE if is_solana(self.chain) else EVM_ADDRESS_RE
            if not pattern.match(addr):
                raise ValueError(f"contract_address is not a {self.chain} address")
        return self

    def freeze_offset(self) -> float | None:
        """Seconds from start to freezeAt: explicit, else expiresAt - freeze_lead_s (>= 0)."""
        if self.freeze_after_s is not None:
            return self.freeze_after_s
        if self.expires_after_s is not None:
            return max(self.expires_after_s - self.freeze_lead_s, 0.0)
        return None

    def proposal_offset(self) -> float | None:
        if self.resolve is None:
            return None
        return self.resolve.after_s if self.resolve.after_s is not None else self.expires_after_s
