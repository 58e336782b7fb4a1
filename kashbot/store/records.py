"""The store's rows in Python form, the intent statuses, and the row <-> record mapping.

WAD token amounts exceed SQLite's int64 and are stored as decimal text; USDC atomic ints fit and
are stored as integers. The schema itself is :mod:`kashbot.store.schema`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kashbot.events import OrderIntent, Side, TradeTerms
from kashbot.money import Atomic, Wad
from kashbot.store.connection import Row

# Intent statuses. "approved" = persisted, maybe sent, outcome not known yet.
APPROVED = "approved"
ACCEPTED = "accepted"  # the venue created the trade (201/202); followed until terminal
DONE = "done"  # its trade reached a terminal state
REFUSED = "refused"  # the venue definitely did not create it; reservation released
ABANDONED = "abandoned"  # recovery found no trade and did not resend
OPEN_INTENT_STATUSES = (APPROVED, ACCEPTED)


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class IntentRecord:
    intent: OrderIntent
    idempotency_key: str
    reservation_id: str
    daily_draw: Atomic
    exposure: Atomic
    status: str
    trade_id: str | None = None
    detail: str = ""
    updated_ts: float = 0.0


@dataclass(frozen=True, slots=True)
class TradeRecord(TradeTerms):
    status: str
    terminal: bool
    tokens: Wad | None = None
    error_code: str | None = None
    updated_ts: float = 0.0


@dataclass(frozen=True, slots=True)
class PositionRecord:
    market_id: str
    outcome: int
    shares: Wad
    cost_basis: Atomic
    updated_ts: float = 0.0


# Redemption statuses. "requested" = persisted before the POST, answer not known yet.
REDEEM_REQUESTED = "requested"
REDEEM_ACCEPTED = "accepted"  # 201 new or 200 replay: the venue pays asynchronously
REDEEM_ZERO = "zero"  # pays nothing: closed without a request
REDEEM_NOT_CLAIMABLE = "not_claimable"  # 409 POSITION_NOT_CLAIMABLE: never retried
REDEEM_DISABLED = "disabled"  # REDEMPTIONS_NOT_ENABLED: claim by hand
REDEEM_REFUSED = "refused"  # another definite 4xx (e.g. SMART_ACCOUNT_NOT_PROVISIONED)
REDEEM_OPEN_STATUSES = (REDEEM_REQUESTED,)


@dataclass(frozen=True, slots=True)
class RedemptionRecord:
    """One position's claim, keyed by (market, outcome): the venue's idempotency is per position."""

    market_id: str
    outcome: int
    shares: Wad
    cost_basis: Atomic
    kind: str  # resolved | cancelled | lost
    expected_payout: Atomic
    idempotency_key: str
    status: str
    redemption_id: str | None = None
    detail: str = ""
    updated_ts: float = 0.0


REDEMPTION_COLS = (
    "market_id, outcome, shares, cost_basis, kind, expected_payout, idempotency_key, status,"
    " redemption_id, detail, updated_ts"
)


def redemption_from_row(r: Row) -> RedemptionRecord:
    return RedemptionRecord(
        market_id=str(r[0]),
        outcome=int(str(r[1])),
        shares=int(str(r[2])),
        cost_basis=int(str(r[3])),
        kind=str(r[4]),
        expected_payout=int(str(r[5])),
        idempotency_key=str(r[6]),
        status=str(r[7]),
        redemption_id=None if r[8] is None else str(r[8]),
        detail=str(r[9]),
        updated_ts=float(str(r[10])),
    )


INTENT_COLS = (
    "intent_id, strategy, market_id, outcome, side, amount, limit_probability, reason, closing,"
    " created_ts, tags, idempotency_key, reservation_id, daily_draw, exposure, status, trade_id,"
    " detail, updated_ts"
)
TRADE_COLS = (
    "trade_id, intent_id, market_id, outcome, side, amount, status, terminal, tokens, error_code,"
    " updated_ts"
)


def intent_from_row(r: Row) -> IntentRecord:
    intent = OrderIntent(
        intent_id=str(r[0]),
        strategy=str(r[1]),
        market_id=str(r[2]),
        outcome=int(str(r[3])),
        side=Side(str(r[4])),
        amount=int(str(r[5])),
        limit_probability=None if r[6] is None else int(str(r[6])),
        reason=str(r[7]),
        closing=bool(r[8]),
        created_ts=float(str(r[9])),
        tags=dict(json.loads(str(r[10]))),
    )
    return IntentRecord(
        intent=intent,
        idempotency_key=str(r[11]),
        reservation_id=str(r[12]),
        daily_draw=int(str(r[13])),
        exposure=int(str(r[14])),
        status=str(r[15]),
        trade_id=None if r[16] is None else str(r[16]),
        detail=str(r[17]),
        updated_ts=float(str(r[18])),
    )


def trade_from_row(r: Row) -> TradeRecord:
    return TradeRecord(
        trade_id=str(r[0]),
        intent_id=str(r[1]),
        market_id=str(r[2]),
        outcome=int(str(r[3])),
        side=Side(str(r[4])),
        amount=int(str(r[5])),
        status=str(r[6]),
        terminal=bool(r[7]),
        tokens=None if r[8] is None else int(str(r[8])),
        error_code=None if r[9] is None else str(r[9]),
        updated_ts=float(str(r[10])),
    )
