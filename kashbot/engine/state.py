"""The engine's view of the world that strategies read: markets, our positions, pending intents.

One mutable object updated by the engine *before* strategies see an event, so a strategy's
``decide`` gets a consistent picture (the pool after the price change it is reacting to, the
position after the fill it is reacting to). Strategies treat it as read-only.

Positions live in a :class:`~kashbot.portfolio.Portfolio` (``state.portfolio``; ``positions``,
``realized`` and ``cash_flow`` read it). They are applied once per trade id: a fill reported by
both a webhook and the poll fallback moves inventory once. A ``PositionSync`` (the venue's own
numbers) overwrites a position: Kash reports no token count for a sell, so the executor asks the
venue after each one.

Trades seen on a market are replayed on its known pool lazily: the backtester and the simulator
follow every trade with a ``PriceChange`` carrying the post-trade pool, which makes the replay
wasted work; other sources get the same result, computed when the pool or chances are next read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kashbot import amm
from kashbot.amm import Pool
from kashbot.client.models import TERMINAL_TRADE_STATUSES
from kashbot.engine.fill_log import FillLog
from kashbot.engine.recent_ids import RecentIds
from kashbot.events import (
    DataFresh,
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PositionRedeemed,
    PositionSync,
    PredictionSeen,
    PriceChange,
    RiskDenied,
    Side,
    StaleData,
    TradeUpdate,
    TradingState,
    TradingStateChanged,
)
from kashbot.lifecycle import DEFAULT_FREEZE_MARGIN_S, Lifecycle, Phase, phase_at
from kashbot.money import Atomic, Wad
from kashbot.portfolio import Holding, Portfolio, PositionKey
from kashbot.valuation import Fill  # the backtest's fills are the same type

POOL_TOLERANCE = 10**9  # 1e-9 in probability: the replayed pool must land on the venue's q


MAX_LAG = 1_000  # unreplayed trades kept per market before they are replayed eagerly
REPLAYED_IDS = 2_048  # prediction ids remembered for the stream/poller dedupe (a duplicate comes
# within a poll interval; an id replayed twice only costs a pool until the next quote)
APPLIED_TRADES = 10_000  # completed trade ids remembered so a second report is not applied


@dataclass(slots=True)
class MarketView:
    """One market as we know it. ``pool``, ``probabilities`` and ``updated_ts`` include every
    observed trade: trades not yet replayed on the pool are replayed when one of them is read,
    unless a newer pool observation made the replay unnecessary first."""

    market_id: str
    status: str = "UNKNOWN"
    fair: tuple[Wad, ...] | None = None
    fair_confidence: Wad | None = None  # the last FairValueUpdate's confidence (None: not given)
    labels: tuple[str, ...] = ()
    freeze_at: float | None = None
    expires_at: float | None = None
    resolution_state: str | None = None
    winning_outcomes: tuple[int, ...] = ()
    chain_ref: str | None = None
    venue_fees: amm.Fees | None = None  # the market's own fees, as the venue published them
    last_pool: Pool | None = None  # the last pool seen (kept for a cancellation's refund prices)
    stale_sources: set[str] = field(default_factory=set)  # sources stale about this market
    dead_sources: set[str] = field(default_factory=set)  # shared: sources stale as a whole
    fees: amm.Fees = amm.DEFAULT_FEES
    _probabilities: tuple[Wad, ...] = ()
    _pool: Pool | None = None
    _updated_ts: float = 0.0
    _lag: list[PredictionSeen] = field(default_factory=list)  # trades not yet on _pool

    @property
    def probabilities(self) -> tuple[Wad, ...]:
        if self._lag:
            self.catch_up()
        return self._probabilities

    @probabilities.setter
    def probabilities(self, value: tuple[Wad, ...]) -> None:
        self._probabilities = value

    @property
    def pool(self) -> Pool | None:
        if self._lag:
            self.catch_up()
        return self._pool

    @pool.setter
    def pool(self, value: Pool | None) -> None:
        """An observed pool supersedes every trade still waiting to be replayed."""
        self._lag.clear()
        self._pool = value
        if value is not None:
            self.last_pool = value

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(self.status, self.freeze_at, self.resolution_state, self.winning_outcomes)

    def phase(self, now: float, freeze_margin_s: float = DEFAULT_FREEZE_MARGIN_S) -> Phase:
        """Where the market is in its life at ``now`` (:func:`kashbot.lifecycle.phase_at`)."""
        return phase_at(self.lifecycle, now, freeze_margin_s)

    @property
    def updated_ts(self) -> float:
        if self._lag:
            self.catch_up()
        return self._updated_ts

    @updated_ts.setter
    def updated_ts(self, value: float) -> None:
        self._updated_ts = value

    @property
    def stale(self) -> bool:
        return bool(self.stale_sources or self.dead_sources)

    def tradeable(self, now: float) -> bool:
        """ACTIVE, not resolving, fresh, with known chances, and not past its freeze time."""
        return (
            self.status == "ACTIVE"
            and self.resolution_state is None
            and not self.stale_sources
            and not self.dead_sources
            and bool(self.probabilities)
            and (self.freeze_at is None or now < self.freeze_at)
        )

    def observe_trade(self, ev: PredictionSeen) -> None:
        """Queue a trade for replay on the known pool (nothing to do without one)."""
        if self._pool is None:
            return
        self._lag.append(ev)
        if len(self._lag) > MAX_LAG:
            self.catch_up()

    def catch_up(self) -> None:
        """Replay queued trades so sizing stays exact between pool observations.

        A replay is kept only if it lands on the chance the venue reported after the trade;
        otherwise the pool is forgotten until the next observation (a quote or a snapshot).
        """
        lag, self._lag = self._lag, []
        for ev in lag:
            pool = self._pool
            if pool is None:
                return
            try:
                if ev.side is Side.BUY:
                    after = amm.buy(pool, ev.outcome, ev.usdc, self.fees).pool
                else:
                    after = amm.sell(pool, ev.outcome, ev.tokens, self.fees).pool
            except amm.AmmError:
                self._pool = None
                return
            probs = amm.probabilities(after)
            if abs(probs[ev.outcome] - ev.probability_after) > POOL_TOLERANCE:
                self._pool = None
                return
            self._pool = after
            self._probabilities = probs
            self._updated_ts = ev.ts


PositionView = Holding  # shares and the USDC cost basis of the shares still held


def _drop_pool_if_off(view: MarketView) -> None:
    """A chance update without a pool: keep our pool only if it still explains the chances."""
    assert view.pool is not None
    probs = amm.probabilities(view.pool)
    if len(probs) != len(view.probabilities) or any(
        abs(a - b) > POOL_TOLERANCE for a, b in zip(probs, view.probabilities, strict=True)
    ):
        view.pool = None


def _apply_prices(view: MarketView, probabilities: tuple[Wad, ...], pool: Pool | None) -> None:
    """New chances, with the pool when the event carries one: without a pool the view first
    catches up (its pool may be stale) and keeps its pool only if it still explains them."""
    if pool is None:
        view.catch_up()
    view.probabilities = probabilities
    if pool is not None:
        view.pool = pool
    elif view.pool is not None:
        _drop_pool_if_off(view)


class EngineState:
    """Markets, positions, pending intents and the trading state, fed by events."""

    def __init__(
        self,
        fees: amm.Fees = amm.DEFAULT_FEES,
        fee_overrides: Mapping[str, amm.Fees] | None = None,
    ) -> None:
        self.fees = fees
        # per-market fees from config: they beat the venue's published fees and the default
        self.fee_overrides: dict[str, amm.Fees] = dict(fee_overrides or {})
        self.markets: dict[str, MarketView] = {}
        self.portfolio = Portfolio()
        self.pending: dict[str, OrderIntent] = {}  # intent_id -> intent, until terminal/denied
        self.trade_of_intent: dict[str, str] = {}  # intent_id -> trade_id until it ends
        self.fills = FillLog()  # totals exact, the newest fills kept (a daemon's uptime)
        self.denials: list[RiskDenied] = []
        self.trading_state = TradingState.ACTIVE
        self._applied_trades = RecentIds(APPLIED_TRADES)
        # completed sells whose token count came from a PositionSync: trade id -> (sold, cost)
        self._synced_sales: dict[str, tuple[Wad, Atomic]] = {}
        self._replayed = RecentIds(REPLAYED_IDS)
        self._dead_sources: set[str] = set()  # whole-source staleness (market_id None)
        self.max_denials = 50
        self.redemptions: list[PositionRedeemed] = []  # positions closed at settlement

    def _apply_lifecycle(self, view: MarketView, ev: MarketSnapshot) -> None:
        """The snapshot's lifecycle, chain and fees (fees: config override > venue > default)."""
        view.expires_at = ev.expires_at
        view.resolution_state = ev.resolution_state
        if ev.winning_outcomes:
            view.winning_outcomes = ev.winning_outcomes
        if ev.chain_ref is not None:
            view.chain_ref = ev.chain_ref
        published = ev.fees(self.fees)
        if published is not None:
            view.venue_fees = published
            if view.market_id not in self.fee_overrides:
                view.fees = published  # the lag was replayed (or superseded) above

    # ---- reads -------------------------------------------------------------------------------

    def market(self, market_id: str) -> MarketView:
        view = self.markets.get(market_id)
        if view is None:
            fees = self.fee_overrides.get(market_id, self.fees)
            view = self.markets[market_id] = MarketView(market_id, fees=fees)
            view.dead_sources = self._dead_sources
        return view

    @property
    def positions(self) -> dict[PositionKey, Holding]:
        """Our positions per (market, outcome) (the portfolio's holdings; read-only)."""
        return self.portfolio.holdings

    @property
    def cash_flow(self) -> Atomic:
        """USDC received minus USDC spent on our fills."""
        return self.portfolio.cash

    @property
    def realized(self) -> Atomic:
        """Sale proceeds minus the cost basis they released."""
        return self.portfolio.realized

    def position(self, market_id: str, outcome: int) -> Holding:
        return self.portfolio.position(market_id, outcome)

    def has_pending(self, strategy: str, market_id: str) -> bool:
        return any(
            i.strategy == strategy and i.market_id == market_id for i in self.pending.values()
        )

    # ---- writes ------------------------------------------------------------------------------

    def set_position(self, market_id: str, outcome: int, shares: Wad, cost: Atomic) -> None:
        """Recovery: positions as reconciled with the venue before strategies start."""
        self.portfolio.set_position(market_id, outcome, shares, cost)

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
            _apply_prices(view, event.probabilities, event.pool)
            view.updated_ts = event.ts
        elif kind is MarketSnapshot:
            assert isinstance(event, MarketSnapshot)
            view = self.market(event.market_id)
            view.status = event.status
            _apply_prices(view, event.probabilities, event.pool)
            view.freeze_at = event.freeze_at
            if event.labels:
                view.labels = event.labels
            self._apply_lifecycle(view, event)
            view.updated_ts = event.ts
        elif kind is PredictionSeen:
            assert isinstance(event, PredictionSeen)
            self._follow_pool(event)
        elif kind is FairValueUpdate:
            assert isinstance(event, FairValueUpdate)
            view = self.market(event.market_id)
            view.fair, view.fair_confidence = event.probabilities, event.confidence
        elif kind is TradeUpdate:
            assert isinstance(event, TradeUpdate)
            self._apply_trade(event)
        elif kind is PositionSync:
            assert isinstance(event, PositionSync)
            self._sync_position(event)
        elif kind is PositionRedeemed:
            assert isinstance(event, PositionRedeemed)
            self.portfolio.redeem(
                event.market_id, event.outcome, event.payout, last=event.last, cost=event.cost
            )
            self.redemptions.append(event)
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
        """Queue an observed trade for replay on the market's pool, once per prediction id."""
        if ev.prediction_id in self._replayed:
            return  # the same trade from the stream and the poller moves the pool once
        self._replayed.add(ev.prediction_id)
        view = self.markets.get(ev.market_id)
        if view is not None:
            view.observe_trade(ev)

    def _set_stale(self, source: str, market_id: str | None, stale: bool) -> None:
        # A source-wide alarm and a per-market one are kept apart: the source coming back
        # (a heartbeat) does not make a market fresh until data about that market arrives.
        target = self._dead_sources if market_id is None else self.market(market_id).stale_sources
        if stale:
            target.add(source)
        else:
            target.discard(source)

    def _sync_position(self, ev: PositionSync) -> None:
        """Take the venue's shares and cost basis; remember what a synced sale sold."""
        before = self.portfolio.sync(ev.market_id, ev.outcome, ev.shares, ev.cost) or Holding()
        if ev.trade_id is not None and ev.trade_id not in self._applied_trades:
            sold = max(0, before.shares - max(0, ev.shares))
            released = before.cost * sold // before.shares if sold else 0
            self._synced_sales[ev.trade_id] = (sold, released)

    def _apply_trade(self, ev: TradeUpdate) -> None:
        terminal = ev.status in TERMINAL_TRADE_STATUSES
        if ev.intent_id:
            if terminal:  # a daemon's uptime of trades would otherwise stay here
                self.trade_of_intent.pop(ev.intent_id, None)
            else:
                self.trade_of_intent[ev.intent_id] = ev.trade_id
        if not terminal:
            return
        self.pending.pop(ev.intent_id, None)
        if ev.status != "completed" or ev.trade_id in self._applied_trades:
            return
        self._applied_trades.add(ev.trade_id)
        book = self.portfolio
        if ev.side is Side.BUY:
            tokens = ev.tokens or 0
            book.buy(ev.market_id, ev.outcome, tokens, ev.amount)
        else:
            synced = self._synced_sales.pop(ev.trade_id, None)
            if ev.tokens is None and synced is not None:
                tokens, released = synced  # the position already holds the venue's numbers
                book.book_sale(ev.amount, released)
            else:
                tokens = book.sell(ev.market_id, ev.outcome, ev.tokens or 0, ev.amount).sold
        fill = Fill(
            ev.ts, ev.trade_id, ev.intent_id, ev.market_id, ev.outcome, ev.side, ev.amount, tokens
        )
        self.fills.append(fill)
