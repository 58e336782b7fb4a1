"""The caps the gate enforces: tier defaults from the venue (§4 of the API notes), lowered per key.

A key's tier fixes the server's per-trade cap, rolling-24h buy cap and high-value confirm
threshold. Our limits may only be *lower* (a tighter bot never meets the server's 409); raising
one above the tier value is refused unless the caller says it is a contract override (enterprise
and mm contracts can change any axis per key). Exposure limits and the auto-confirm ceiling are
our own policy and have no server counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

from kashbot.lifecycle import DEFAULT_FREEZE_MARGIN_S
from kashbot.money import Atomic, MoneyError, usdc_str, usdc_to_atomic
from kashbot.tiers import TIER_DEFAULTS as TIER_DEFAULTS
from kashbot.tiers import Tier as Tier
from kashbot.tiers import TierDefaults as TierDefaults

if TYPE_CHECKING:
    from decimal import Decimal


class RiskSettings(Protocol):
    """The config's ``risk`` section as :meth:`Limits.from_config` reads it (``RiskConfig``);
    a protocol, so limits need not import the config that imports them."""

    @property
    def per_trade_cap_usdc(self) -> Decimal | None: ...
    @property
    def daily_cap_usdc(self) -> Decimal | None: ...
    @property
    def max_market_exposure_usdc(self) -> Decimal | None: ...
    @property
    def max_total_exposure_usdc(self) -> Decimal | None: ...
    @property
    def confirm_ceiling_usdc(self) -> Decimal: ...
    @property
    def contract_override(self) -> bool: ...


DEFAULT_MIN_TRADE: Atomic = 10_000  # 0.01 USDC; the venue's minimum is unpublished (§18.4)


class LimitsError(ValueError):
    """A limit that is invalid or above the tier without a contract override.

    ``field`` names the setting (a :class:`Limits` field, or the config key when raised by
    :meth:`Limits.from_config`); amounts in ``message`` are in USDC, as people write them.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# Limits field -> the RiskConfig key that sets it (for errors that point into a config file).
CONFIG_KEYS: dict[str, str] = {
    "per_trade_cap": "risk.per_trade_cap_usdc",
    "daily_cap": "risk.daily_cap_usdc",
    "market_exposure_cap": "risk.max_market_exposure_usdc",
    "total_exposure_cap": "risk.max_total_exposure_usdc",
    "auto_confirm_ceiling": "risk.confirm_ceiling_usdc",
    "freeze_margin_s": "risk.freeze_margin_s",
}


def _usdc(atomic: Atomic) -> str:
    return f"{usdc_str(max(atomic, 0))} USDC"


class LimitPolicy(TypedDict, total=False):
    """The :class:`Limits` fields no tier sets (our own policy), as :meth:`Limits.for_tier`
    takes them: typed here, defaulted once, by the dataclass."""

    market_exposure_cap: Atomic | None
    total_exposure_cap: Atomic | None
    auto_confirm_ceiling: Atomic
    deny_above_ceiling: bool
    min_trade: Atomic
    contract_override: bool
    freeze_margin_s: float


@dataclass(frozen=True, slots=True)
class Limits:
    """Everything the gate checks an intent against, in USDC atomic units.

    ``confirm_threshold`` predicts the server's 202 (it is the server's value, so lowering it only
    makes us expect a 202 that may not come; raising it needs a contract override).
    ``auto_confirm_ceiling``: a 202 trade up to this amount is confirmed automatically, above it
    it is held for a human (or denied before sending when ``deny_above_ceiling``).
    Every buy draws the daily cap, ``closing`` or not: the REST API has no close-position
    field, so the server counts every buy (see kashbot.risk.gate).
    """

    tier: Tier
    per_trade_cap: Atomic
    daily_cap: Atomic
    confirm_threshold: Atomic | None
    market_exposure_cap: Atomic | None = None
    total_exposure_cap: Atomic | None = None
    auto_confirm_ceiling: Atomic = 0
    deny_above_ceiling: bool = False
    min_trade: Atomic = DEFAULT_MIN_TRADE
    contract_override: bool = False
    freeze_margin_s: float = DEFAULT_FREEZE_MARGIN_S  # no buys this long before freezeAt

    def __post_init__(self) -> None:
        tier = TIER_DEFAULTS[self.tier]
        if not self.freeze_margin_s >= 0:
            raise LimitsError("freeze_margin_s", "must be >= 0 seconds")
        for name in ("per_trade_cap", "daily_cap", "auto_confirm_ceiling", "min_trade"):
            if getattr(self, name) < 0:
                raise LimitsError(name, "must be >= 0")
        for name in ("market_exposure_cap", "total_exposure_cap", "confirm_threshold"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise LimitsError(name, "must be > 0 (or unset)")
        if not self.contract_override:
            override = "lower it, or set contract_override if your Kash contract allows more"
            if self.per_trade_cap > tier.per_trade_cap:
                raise LimitsError(
                    "per_trade_cap",
                    f"{_usdc(self.per_trade_cap)} is above the {self.tier} tier's "
                    f"{_usdc(tier.per_trade_cap)} ({override})",
                )
            if self.daily_cap > tier.daily_cap:
                raise LimitsError(
                    "daily_cap",
                    f"{_usdc(self.daily_cap)} is above the {self.tier} tier's "
                    f"{_usdc(tier.daily_cap)} ({override})",
                )
            if tier.confirm_threshold is not None and (
                self.confirm_threshold is None or self.confirm_threshold > tier.confirm_threshold
            ):
                given = "unset" if self.confirm_threshold is None else _usdc(self.confirm_threshold)
                raise LimitsError(
                    "confirm_threshold",
                    f"{given}, but the {self.tier} tier's is {_usdc(tier.confirm_threshold)} "
                    f"({override})",
                )

    @classmethod
    def for_tier(
        cls,
        tier: Tier | str,
        *,
        per_trade_cap: Atomic | None = None,
        daily_cap: Atomic | None = None,
        confirm_threshold: Atomic | None = None,
        **policy: Unpack[LimitPolicy],
    ) -> Limits:
        """Tier defaults, with any given axis replacing the default (lowering it, normally);
        ``policy`` fields are passed as given (unset: the dataclass's defaults)."""
        t = Tier(tier)
        d = TIER_DEFAULTS[t]
        return cls(
            tier=t,
            per_trade_cap=d.per_trade_cap if per_trade_cap is None else per_trade_cap,
            daily_cap=d.daily_cap if daily_cap is None else daily_cap,
            confirm_threshold=d.confirm_threshold
            if confirm_threshold is None
            else confirm_threshold,
            **policy,
        )

    @classmethod
    def from_config(cls, risk: RiskSettings, tier: Tier | str) -> Limits:
        """The limits a config's ``risk`` section asks for on a key of ``tier``.

        One place for daemon, backtests and ``config check``; a :class:`LimitsError` from here
        names the config key (``risk.per_trade_cap_usdc``) so the error can point at its line.
        """

        def atomic(field: str, value: Decimal | None) -> Atomic | None:
            try:
                return None if value is None else usdc_to_atomic(value)
            except MoneyError as exc:
                raise LimitsError(field, str(exc)) from None

        margin = getattr(risk, "freeze_margin_s", None)  # once kashbot/config.py has the key
        try:
            return cls.for_tier(
                tier,
                per_trade_cap=atomic("per_trade_cap", risk.per_trade_cap_usdc),
                daily_cap=atomic("daily_cap", risk.daily_cap_usdc),
                market_exposure_cap=atomic("market_exposure_cap", risk.max_market_exposure_usdc),
                total_exposure_cap=atomic("total_exposure_cap", risk.max_total_exposure_usdc),
                auto_confirm_ceiling=atomic("auto_confirm_ceiling", risk.confirm_ceiling_usdc) or 0,
                contract_override=risk.contract_override,
                freeze_margin_s=DEFAULT_FREEZE_MARGIN_S if margin is None else float(margin),
            )
        except LimitsError as exc:
            raise LimitsError(CONFIG_KEYS.get(exc.field, exc.field), exc.message) from None

    def needs_confirmation(self, amount: Atomic) -> bool:
        """Would the server answer 202 (high-value gate) for a trade of ``amount``?"""
        return self.confirm_threshold is not None and amount >= self.confirm_threshold
