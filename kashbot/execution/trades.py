"""Small pure pieces of the order path: lifecycle order, what we send, the limit guard, and the
records the follower keeps per trade."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kashbot import amm
from kashbot.client.models import TERMINAL_TRADE_STATUSES, Trade
from kashbot.events import OrderIntent, Side
from kashbot.money import Wad
from kashbot.store.store import TradeRecord

_RANK = {"pending_confirmation": 0, "pending": 1, "validating": 2, "executing": 3}
_TERMINAL_RANK = 10


def status_rank(status: str) -> int:
    """Lifecycle order; updates that would move a trade backwards are stale and ignored."""
    return _TERMINAL_RANK if status in TERMINAL_TRADE_STATUSES else _RANK.get(status, 1)


def is_terminal(status: str) -> bool:
    return status in TERMINAL_TRADE_STATUSES


def sold_tokens(trade: Trade) -> Wad | None:
    """Tokens a completed sell burned, if the trade resource says (the simulator's ``tokensIn``).

    Kash documents no such field; the client's ``Trade`` model keeps only documented fields, so
    this is None until the model carries ``tokens_in`` — then the position sync is skipped.
    """
    value = getattr(trade, "tokens_in", None)
    return value if isinstance(value, int) else None


def trade_metadata(intent: OrderIntent) -> dict[str, str]:
    """Echoed on the trade and every webhook, so events route without a lookup.

    Deterministic in the intent: a replay must send byte-identical bodies.
    """
    return {"kb_intent": intent.intent_id, "kb_strategy": intent.strategy[:500]}


def limit_breach(intent: OrderIntent, pool: amm.Pool, fees: amm.Fees) -> str | None:
    """Why sending ``intent`` at ``pool`` would cross its ``limit_probability`` (None: it won't).

    Kash has no slippage field, so this is the only price guard: a buy must leave the outcome's
    chance at or below the limit, a sell at or above it (a REST sell's amount is the USDC it
    pays; the venue burns the fewest tokens that pay it).
    """
    lim = intent.limit_probability
    if lim is None:
        return None
    o = intent.outcome
    try:
        if intent.side is Side.BUY:
            q = amm.probability(amm.buy(pool, o, intent.amount, fees).pool, o)
            return None if q <= lim else f"chance after the buy {q} > limit {lim}"
        tokens = amm.tokens_for_payout(pool, o, intent.amount, fees)
        q = amm.probability(amm.sell(pool, o, tokens, fees).pool, o)
        return None if q >= lim else f"chance after the sell {q} < limit {lim}"
    except amm.AmmError as exc:
        return f"the pool cannot take the trade: {exc}"


class ConfirmHeldError(Exception):
    """``confirm_held`` cannot release the trade (the message says why)."""


class TradeNotHeld(ConfirmHeldError, LookupError):
    """``confirm_held`` on a trade that is not waiting for an operator's confirmation."""


@dataclass(slots=True)
class Tracked:
    """A trade we follow until it ends."""

    trade_id: str
    intent: OrderIntent
    reservation_id: str
    status: str
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    token: str | None = None  # a held 202's single-use confirmation token (memory only)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """One observation of a trade's state (webhook, poll, confirm answer)."""

    status: str
    tokens_out: Wad | None
    error_code: str | None
    tokens_in: Wad | None = None  # tokens a sell burned, when the source reports them

    @classmethod
    def of(cls, trade: Trade) -> Update:
        return cls(trade.status, trade.tokens_out, trade.error_code, sold_tokens(trade))


def trade_record(
    trade_id: str,
    i: OrderIntent,
    status: str,
    tokens: Wad | None,
    error_code: str | None,
    now: float,
) -> TradeRecord:
    """The store's row for one of our trades."""
    return TradeRecord(
        trade_id=trade_id,
        intent_id=i.intent_id,
        market_id=i.market_id,
        outcome=i.outcome,
        side=i.side,
        amount=i.amount,
        status=status,
        terminal=is_terminal(status),
        tokens=tokens,
        error_code=error_code,
        updated_ts=now,
    )
