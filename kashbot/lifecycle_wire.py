"""A REST ``Market``'s lifecycle, chain and fee fields in the form ``MarketSnapshot`` takes.

Kept beside :mod:`kashbot.lifecycle` (which stays free of client imports) so that
``sources.convert.market_snapshot`` needs one line to carry them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kashbot.client.models import Market
from kashbot.lifecycle import winners_from


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def lifecycle_fields(m: Market) -> dict[str, Any]:
    """``MarketSnapshot`` keyword arguments: expiresAt, resolutionState, winners, chain, fees."""
    res = m.resolution
    winners = winners_from(
        m.resolution_state,
        None if res is None else res.proposed_outcome_index,
        None if res is None else res.settlement_status,
    )
    return {
        "expires_at": _ts(m.expires_at),
        "resolution_state": m.resolution_state,
        "winning_outcomes": winners,
        "chain_ref": m.chain,
        "protocol_fee_bps": m.protocol_fee_bps,
        "sell_fee_bps": m.sell_fee_bps,
    }
