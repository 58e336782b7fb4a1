"""The checks a trade request passes on its own, before any account state is read (§6):
Idempotency-Key and clientRequestId format, side, metadata, market and outcome, platform
minimum and maximum. Also the fingerprint that ties a replay to its body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kashbot.money import Atomic, usdc_str, usdc_to_atomic
from kashbot.sim.errors import SimError
from kashbot.sim.models import MarketState
from kashbot.sim.scenario import ApiChoices

IDEM_RE = re.compile(r"^[A-Za-z0-9_\-:.]+$")
CRID_RE = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
META_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-.]{1,64}$")


def fingerprint(
    market_id: str, outcome: int, side: str, amount: Atomic, metadata: dict[str, str]
) -> str:
    ident = {
        "marketId": market_id,
        "outcomeIndex": outcome,
        "side": side,
        "amount": usdc_str(amount),
        "metadata": metadata,
    }
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


def validate_metadata(metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise SimError("VALIDATION_FAILED", "metadata must be an object", issues=["metadata"])
    if len(metadata) > 10:
        raise SimError("VALIDATION_FAILED", "metadata has more than 10 keys")
    out: dict[str, str] = {}
    for k, v in metadata.items():
        if not isinstance(k, str) or not META_KEY_RE.match(k):
            raise SimError("VALIDATION_FAILED", f"metadata key {k!r} is invalid")
        if not isinstance(v, str) or len(v) > 500:
            raise SimError("VALIDATION_FAILED", f"metadata.{k} must be a string of <=500 chars")
        out[k] = v
    return out


@dataclass(frozen=True, slots=True)
class TradeRequest:
    """A trade request that passed its own checks (``fp``: the idempotency fingerprint)."""

    market_id: str
    outcome: int
    side: str
    amount: Atomic
    client_request_id: str | None
    meta: dict[str, str]
    fp: str


@dataclass(frozen=True, slots=True)
class TradeRequestFields:
    """``POST /v1/trades`` as received (the metadata is checked separately)."""

    market_id: str
    outcome: int
    side: str
    amount: Atomic
    idempotency_key: str | None
    client_request_id: str | None


def check_request(
    api: ApiChoices,
    markets: Mapping[str, MarketState],
    f: TradeRequestFields,
    metadata: dict[str, str] | None,
) -> TradeRequest:
    """The request's own validity (400s, unknown market 404), before any state is read."""
    if f.idempotency_key is not None:
        if len(f.idempotency_key) > 255:
            raise SimError("IDEMPOTENCY_KEY_TOO_LONG", "Idempotency-Key exceeds 255 chars")
        if not IDEM_RE.match(f.idempotency_key):
            raise SimError(
                "IDEMPOTENCY_KEY_FORMAT_INVALID",
                "Idempotency-Key has chars outside [A-Za-z0-9_-:.]",
            )
    if f.side not in ("buy", "sell"):
        raise SimError("VALIDATION_FAILED", "side must be buy or sell", issues=["side"])
    if f.client_request_id is not None and not CRID_RE.match(f.client_request_id):
        raise SimError("VALIDATION_FAILED", "clientRequestId must be 1-128 [A-Za-z0-9_-:.]")
    meta = validate_metadata(metadata)
    m = markets.get(f.market_id)
    if m is None:
        raise SimError("MARKET_NOT_FOUND", f"market {f.market_id} not found")
    if not 0 <= f.outcome < m.pool.outcome_count:
        raise SimError("OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}")
    if f.amount < usdc_to_atomic(api.min_trade_usdc):
        raise SimError("VALIDATION_FAILED", f"amount is below the minimum {api.min_trade_usdc}")
    if f.amount > usdc_to_atomic(api.max_usdc_per_trade):
        raise SimError("AMOUNT_TOO_LARGE", "amount exceeds the platform per-trade maximum")
    fp = fingerprint(f.market_id, f.outcome, f.side, f.amount, meta)
    return TradeRequest(f.market_id, f.outcome, f.side, f.amount, f.client_request_id, meta, fp)
