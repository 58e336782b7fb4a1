"""Frozen, typed events: everything the engine and strategies react to, and what they emit.

Plain slotted dataclasses rather than pydantic models: a backtest pushes hundreds of thousands of
these a second, and they are built only from already-validated data. Money fields are ints
(USDC atomic, WAD tokens, WAD probabilities); ``ts`` is clock seconds (see ``kashbot.clock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kashbot.amm import AmmError, Fees, Pool
from kashbot.money import Atomic, Wad, usdc_str


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"  # everything allowed
    REDUCING = "REDUCING"  # only intents that shrink exposure
    HALTED = "HALTED"  # nothing leaves


@dataclass(frozen=True, slots=True)
class Event:
    ts: float


@dataclass(frozen=True, slots=True)
class MarketSnapshot(Event):
    """A market's full state (from polling, a stream snapshot, or a replay).

    The lifecycle fields (``kashbot.lifecycle``) default to "not said"; the positional order of
    the first seven fields is kept for callers that build snapshots positionally.
    """

    market_id: str
    status: str  # UNSEEDED | ACTIVE | RESOLVED | ABANDONED (open set)
    probabilities: tuple[Wad, ...]  # q_i per outcome, sum 1e18
    pool: Pool | None = None  # known to the simulator/backtester; None from the real REST API
    freeze_at: float | None = None
    labels: tuple[str, ...] = ()
    expires_at: float | None = None  # the on-chain resolve time
    resolution_state: str | None = None  # resolving|proposed|settling|resolved|cancelled
    winning_outcomes: tuple[int, ...] = ()  # once resolved and known (kashbot.lifecycle)
    chain_ref: str | None = None  # solana:mainnet-beta, evm:8453, ... (open set)
    # the market's own fees where the venue publishes them (None: not published)
    protocol_fee_bps: int | None = None
    sell_fee_bps: int | None = None

    def fees(self, default: Fees) -> Fees | None:
        """The published fees over ``default`` (None: nothing published, or out of range)."""
        if self.protocol_fee_bps is None and self.sell_fee_bps is None:
            return None
        try:
            return Fees(
                default.protocol_bps if self.protocol_fee_bps is None else self.protocol_fee_bps,
                default.amm_sell_bps if self.sell_fee_bps is None else self.sell_fee_bps,
            )
        except AmmError:
            return None  # nonsense on the wire: keep trading on the default, not on it


@dataclass(frozen=True, slots=True)
class PriceChange(Event):
    """The pool moved (someone traded); carries the post-trade chances."""

    market_id: str
    probabilities: tuple[Wad, ...]
    pool: Pool | None = None


@dataclass(frozen=True, slots=True)
class PredictionSeen(Event):
    """A trade on the market by anyone (GET /markets/{id}/predictions or the stream)."""

    market_id: str
    prediction_id: str
    outcome: int
    side: Side
    usdc: Atomic  # usdcIn for buys, usdcOut for sells
    tokens: Wad  # tokensOut for buys, tokensIn for sells
    probability_after: Wad


@dataclass(frozen=True, slots=True)
class QuoteSeen(Event):
    market_id: str
    outcome: int
    side: Side
    amount_in: int  # atomic USDC for buys, WAD tokens for sells
    amount_out: int  # WAD tokens for buys, atomic USDC for sells
    probabilities_after: tuple[Wad, ...]


@dataclass(frozen=True, slots=True)
class FairValueUpdate(Event):
    """An outside view of the true chances (config, a feed, a model).

    ``source_ts`` is when the source says the value held (a model's row time; None: ``ts``);
    ``confidence`` is the source's own 0-1 weight in WAD (a venue's spread, None: not given).
    """

    market_id: str
    probabilities: tuple[Wad, ...]
    source: str = "config"
    source_ts: float | None = None
    confidence: Wad | None = None


@dataclass(frozen=True)
class TradeTerms:
    """Which of our trades, for which intent, and what it trades: the fields a ``TradeUpdate``
    and the store's ``TradeRecord`` share, declared once.

    It has no slots (``__slots__ = ()``): each slotted subclass stores the fields itself, so a
    subclass may also have a slotted base of its own (``TradeUpdate``'s ``Event``).
    """

    __slots__ = ()

    trade_id: str
    intent_id: str
    market_id: str
    outcome: int
    side: Side
    amount: Atomic


@dataclass(frozen=True, slots=True)
class TradeUpdate(TradeTerms, Event):  # Event's fields come first: ts stays the first field
    """Our own trade moved through its lifecycle (webhook, poll or reconciliation)."""

    # pending_confirmation|pending|validating|executing|completed|failed|rejected|cancelled
    status: str
    tokens: Wad | None = None  # tokensOut on a completed buy, tokens burned on a completed sell
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class PositionSync(Event):
    """The venue's position in one outcome (GET /v1/portfolio/positions); it overwrites ours.

    The venue is the source of truth: Kash's trade resource reports no token count for a sell,
    so after a completed sell (or a sell refused for INSUFFICIENT_BALANCE) the executor asks.
    ``trade_id`` names the completed sell that prompted the sync, if any: the difference to our
    previous shares is then that sale's token count.
    """

    market_id: str
    outcome: int
    shares: Wad
    cost: Atomic  # the venue's cost basis (costBasisAtomic)
    trade_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRedeemed(Event):
    """A settled position left the book: claimed (``POST /v1/redemptions`` accepted), refunded,
    or closed without a request because it pays 0. ``payout`` is the engine's expected payout
    (the AMM's redemption formula; the venue pays asynchronously and reports no amount)."""

    market_id: str
    outcome: int
    shares: Wad
    payout: Atomic
    kind: str  # resolved | cancelled | lost (paid 0, no request) | written_off
    redemption_id: str | None = None
    last: bool = False  # no other position of ours is left in the market
    cost: Atomic | None = None  # the claim's recorded cost basis (the book may no longer hold it)


@dataclass(frozen=True, slots=True)
class Timer(Event):
    name: str
    strategy: str | None = None  # the strategy that declared it; None = every Timer handler


@dataclass(frozen=True, slots=True)
class StaleData(Event):
    """No fresh data for a market (or a whole source when ``market_id`` is None) for too long."""

    source: str
    market_id: str | None
    age: float


@dataclass(frozen=True, slots=True)
class DataFresh(Event):
    source: str
    market_id: str | None


@dataclass(frozen=True, slots=True)
class RiskDenied(Event):
    intent_id: str
    strategy: str
    market_id: str
    reason: str  # a stable reason code, e.g. PER_TRADE_CAP, DAILY_CAP, HALTED, STALE_DATA
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TradingStateChanged(Event):
    old: TradingState
    new: TradingState
    reason: str


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy wants; the risk gate decides whether it leaves the process.

    ``limit_probability`` is the guard: a buy is only worth it while the outcome's chance after the
    trade stays at or below it, a sell while it stays at or above it. ``closing`` marks intents that
    only reduce a position; the risk gate does not trust it (only sells pass in REDUCING, and every
    buy draws the daily cap and counts against the exposure caps).
    """

    intent_id: str
    strategy: str
    market_id: str
    outcome: int
    side: Side
    amount: Atomic  # USDC: to spend on a buy, to receive on a sell (as the REST API means it)
    limit_probability: Wad | None = None
    reason: str = ""
    closing: bool = False
    created_ts: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)

    def log_fields(self) -> dict[str, object]:
        """The fields every log line about this intent carries (sending, denial)."""
        return {
            "intent_id": self.intent_id,
            "strategy": self.strategy,
            "market_id": self.market_id,
            "outcome": self.outcome,
            "side": str(self.side),
            "amount": self.amount,
            "amount_usdc": usdc_str(self.amount),
        }


AnyEvent = (
    MarketSnapshot
    | PriceChange
    | PredictionSeen
    | QuoteSeen
    | FairValueUpdate
    | TradeUpdate
    | PositionSync
    | PositionRedeemed
    | Timer
    | StaleData
    | DataFresh
    | RiskDenied
    | TradingStateChanged
)
