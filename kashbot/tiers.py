"""Kash's API-key tiers and their published defaults (kash-api.md §4).

The venue's table, not a policy of ours: the risk limits start from it and the request budget
sizes its bucket from it, so it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kashbot.money import USDC_ONE, Atomic


class Tier(StrEnum):
    FREE = "free"
    DEVELOPER = "developer"
    ENTERPRISE = "enterprise"
    MM = "mm"


@dataclass(frozen=True, slots=True)
class TierDefaults:
    per_trade_cap: Atomic
    daily_cap: Atomic
    confirm_threshold: Atomic | None  # trade >= this gets a 202; None = no gate
    requests_per_min: int | None  # None = custom, admin-set (must be configured)


TIER_DEFAULTS: dict[Tier, TierDefaults] = {
    Tier.FREE: TierDefaults(500 * USDC_ONE, 1_000 * USDC_ONE, None, 60),
    Tier.DEVELOPER: TierDefaults(2_500 * USDC_ONE, 10_000 * USDC_ONE, None, 300),
    Tier.ENTERPRISE: TierDefaults(25_000 * USDC_ONE, 100_000 * USDC_ONE, 25_000 * USDC_ONE, None),
    Tier.MM: TierDefaults(50_000 * USDC_ONE, 1_000_000 * USDC_ONE, 50_000 * USDC_ONE, None),
}
