"""The engine's view of the world that strategies read: markets, our positions, pending intents.

One mutable object updated by the engine *before* strategies see an event, so a strategy's
``decide`` gets a consistent picture (the pool after the price change it is reacting to, the
position after the fill it is reacting to). Strategies treat it as read-only.

Positions are applied once per trade id: a fill reported by both a webhook and the poll fallback
moves inventory once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kashbot import amm
from kashbot.amm import Pool
from kashbot.engine.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    RiskDenied,
    Side,
    StaleData,
    TradeUpdate,
    TradingState,
    TradingStateChanged,
)
from kashbot.money import Atomic, Wad

POOL_TOLERANCE = 10**9  # 1e-9 in probability: the replayed pool must land on the venue's q

TERMINAL_TRADE_STATUSES = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})


@dataclass(slots=True)
class MarketView:
    market_id: str
    status: str = "UNKNOWN"
    probabilities: tuple[Wad, ...] = ()
    pool: Pool | None = None
    fair: tuple[Wad, ...] | None = None
    labels: tuple[str, ...] = ()
    freeze_at: float | None = None
    updated_ts: float = 0.0
    stale_sources: set[str] = field(default_factory=set)  # sources stale about this market
    dead_sources: set[str] = field(default_factory=set)  # shared: sources stale as a whole

    @property
    def stale(self) -> bool:
        return bool(self.stale_sources or self.dead_sources)

    def tradeable(self, now: float) -> bool:
        """ACTIVE, fresh, with known chances, and not past its freeze time."""
        return (
            self.status == "ACTIVE"
            and not self.stale_sources
            and not self.dead_sources
            and bool(self.probabilities)
            and (self.freeze_at is None or now < self.freeze_at)
        )


@dataclass(slots=True)
class PositionView:
    shares: Wad = 0
    cost: Atomic = 0  # USDC cost basis of the shares still held


@dataclass(slots=True)
class Fill:
    """One of our completed trades, for PnL and the status view."""

    ts: float
    trade_id: str
    intent_id: str
    market_id: str
    outcome: int
    side: Side
    usdc: Atomic
    tokens: Wad


def _drop_pool_if_off(view: MarketView) -> None:
    """A chance update without a pool: keep our pool only if it still explains the chances."""
    assert view.pool is not None
    probs = amm.probabilities(view.pool)
    if len(probs) != len(view.probabilities) or any(
        abs(a - b) > POOL_TOLERANCE for a, b in zip(probs, view.probabilities, strict=True)
    ):
        view.pool = None


class EngineState:
    """Markets, positions, pending intents and the trading state, fed by events."""

    def __init__(self, fees: amm.Fees = amm.DEFAULT_FEES) -> None:
        self.fees = fees
        self.markets: dict[str, MarketView] = {}
        self.positions: dict[tuple[str, int], PositionView] = {}
        self.pending: dict[str, OrderIntent] = {}  # intent_id -> intent, until terminal/denied
        self.trade_of_intent: dict[str, str] = {}
        self.fills: list[Fill] = []
        self.denials: list[RiskDenied] = []
        self.trading_state = TradingState.ACTIVE
        self.cash_flow: Atomic = 0  # USDC received minus USDC spent on our fills
        self.realized: Atomic = 0  # sale proceeds minus the cost basis they released
        self._applied_trades: set[str] = set()
        self._replayed: set[str] = set()
        self._replayed_order: deque[str] = deque()
        self._dead_sources: set[str] = set()  # whole-source staleness (market_id None)
        self.max_denials = 50

    # ---- reads -------------------------------------------------------------------------------

    def market(self, market_id: str) -> MarketView:
        view = self.markets.get(market_id)
        if view is None:
            view = self.markets[market_id] = MarketView(market_id)
            view.dead_sources = self._dead_sources
        return view

    def position(self, market_id: str, outcome: int) -> PositionView:
        return self.positions.get((market_id, outcome)) or PositionView()

    def has_pending(self, strategy: str, market_id: str) -> bool:
        return any(
            i.strategy == strategy and i.market_id == market_id for i in self.pending.values()
        )

    # ---- writes ------------------------------------------------------------------------------

    def set_position(self, market_id: str, outcome: int, shares: Wad, cost: Atomic) -> None:
        """Recovery: positions as reconciled with the venue before strategies start."""
        self.positions[(market_id, outcome)] = PositionView(shares, cost)

    def add_pending(self, intent: OrderIntent) -> None:
        self.pending[intent.intent_id] = intent

    def drop_pending(self, intent_id: str) -> None:
        self.pending.pop(intent_id, None)

    def apply(self, event: Event) -> None:
        """Update the view from one event (called by the engine before strategies run)."""
        kind = type(event)
        if kind is PriceChange:
            assert isinstance(event, PriceChange)
            view = self.market(event.market_id)
            view.probabilities = event.probabilities
            if event.pool is not None:
                view.pool = event.pool
            elif view.pool is not None:
                _drop_pool_if_off(view)
            view.updated_ts = event.ts
        elif kind is MarketSnapshot:
            assert isinstance(event, MarketSnapshot)
            view = self.market(event.market_id)
            view.status = event.status
            view.probabilities = event.probabilities
            if event.pool is not None:
                view.pool = event.pool
            elif view.pool is not None:
                _drop_pool_if_off(view)
            view.freeze_at = event.freeze_at
            if event.labels:
                view.labels = event.labels
            view.updated_ts = event.ts
        elif kind is PredictionSeen:
            assert isinstance(event, PredictionSeen)
            self._follow_pool(event)
        elif kind is FairValueUpdate:
            assert isinstance(event, FairValueUpdate)
            self.market(event.market_id).fair = event.probabilities
        elif kind is TradeUpdate:
            assert isinstance(event, TradeUpdate)
            self._apply_trade(event)
        elif kind is RiskDenied:
            assert isinstance(event, RiskDenied)
            self.pending.pop(event.intent_id, None)
            self.denials.append(event)
            if len(self.denials) > self.max_denials:
                del self.denials[0]
        elif kind is StaleData:
            assert isinstance(event, StaleData)
            self._set_stale(event.source, event.market_id, True)
        elif kind is DataFresh:
            assert isinstance(event, DataFresh)
            self._set_stale(event.source, event.market_id, False)
        elif kind is TradingStateChanged:
            assert isinstance(event, TradingStateChanged)
            self.trading_state = event.new

    def _follow_pool(self, ev: PredictionSeen) -> None:
        """Replay a trade on the known pool so sizing stays exact between pool observations.

        The result is kept only if it lands on the chance the venue reported after the trade;
        otherwise the pool is forgotten until the next observation (a quote or a snapshot).
        """
        if ev.prediction_id in self._replayed:
            return  # the same trade from the stream and the poller moves the pool once
        self._replayed.add(ev.prediction_id)
        self._replayed_order.append(ev.prediction_id)
        if len(self._replayed_order) > 10_000:
            self._replayed.discard(self._replayed_order.popleft())
        view = self.markets.get(ev.market_id)
        if view is None or view.pool is None:
            return
        try:
            if ev.side is Side.BUY:
                after = amm.buy(view.pool, ev.outcome, ev.usdc, self.fees).pool
            else:
                after = amm.sell(view.pool, ev.outcome, ev.tokens, self.fees).pool
        except amm.AmmError:
            view.pool = None
            return
        probs = amm.probabilities(after)
        if abs(probs[ev.outcome] - ev.probability_after) > POOL_TOLERANCE:
            view.pool = None
            return
        view.pool = after
        view.probabilities = probs
        view.updated_ts = ev.ts

    def _set_stale(self, source: str, market_id: str | None, stale: bool) -> None:
        # A source-wide alarm and a per-market one are kept apart: the source coming back
        # (a heartbeat) does not make a market fresh until data about that market arrives.
        target = self._dead_sources if market_id is None else self.market(market_id).stale_sources
        if stale:
            target.add(source)
        else:
            target.discard(source)

    def _apply_trade(self, ev: TradeUpdate) -> None:
        if ev.intent_id:
            self.trade_of_intent[ev.intent_id] = ev.trade_id
        if ev.status not in TERMINAL_TRADE_STATUSES:
            return
        self.pending.pop(ev.intent_id, None)
        if ev.status != "completed" or ev.trade_id in self._applied_trades:
            return
        self._applied_trades.add(ev.trade_id)
        key = (ev.market_id, ev.outcome)
        pos = self.positions.setdefault(key, PositionView())
        tokens = ev.tokens or 0
        if ev.side is Side.BUY:
            pos.shares += tokens
            pos.cost += ev.amount
            self.cash_flow -= ev.amount
        else:
            sold = min(tokens, pos.shares) if tokens else 0
            released = pos.cost * sold // pos.shares if pos.shares > 0 and sold else 0
            pos.cost -= released
            pos.shares -= sold
            self.cash_flow += ev.amount
            self.realized += ev.amount - released
        fill = Fill(
            ev.ts, ev.trade_id, ev.intent_id, ev.market_id, ev.outcome, ev.side, ev.amount, tokens
        )
        self.fills.append(fill)
