"""What a backtest run produced, gathered as it happens: our fills booked on the ``Book`` (and per
market and strategy, :mod:`kashbot.backtest.attribution`), the equity curve with the capital at
risk, inventory, prices and fair values for the plots, denials and intents.

Nothing here grows in memory with the run's length (issue 17): fills, inventory points and
intents are spooled to disk (:class:`~kashbot.backtest.spool.Spool`) for the report files, the
equity curve keeps its exact statistics and a thinned sample
(:class:`~kashbot.backtest.metrics.EquityCurve`), price and fair-value series are thinned
(:class:`ThinnedSeries`), denials are counted by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kashbot import amm
from kashbot.backtest.attribution import Attribution
from kashbot.backtest.config import BacktestSettings
from kashbot.backtest.metrics import Book, EquityCurve, EquityPoint, InventoryPoint, mark_value
from kashbot.backtest.spool import Spool
from kashbot.events import (
    FairValueUpdate,
    OrderIntent,
    PositionRedeemed,
    PriceChange,
    RiskDenied,
    Side,
    TradeUpdate,
)
from kashbot.money import Wad
from kashbot.sim.models import Prediction, TradeRecord
from kashbot.valuation import Fill

ProbPoint = tuple[float, tuple[Wad, ...]]
SERIES_POINTS = 2_048  # kept per plotted series (a panel is ~900 px wide): ~0.5 MiB a series
REASONS_KEPT = 1_024  # intents whose (strategy, reason) wait for a fill (seconds); oldest forgotten


class ThinnedSeries(list[ProbPoint]):
    """A time series for the plots whose memory does not grow with the run's length.

    Below ``cap`` points it is exactly the list of every point appended. At ``cap`` it keeps
    every other point (the 1st, 3rd, ...; the stride doubles), so it always holds an even
    sample of at most ``cap`` points, plus the newest point appended, which is always last:
    ``series[-1]`` is what a plain list would give (the report's final prices and the price
    sampling interval read it).
    """

    __slots__ = ("cap", "seen", "stride", "tail")

    def __init__(self, cap: int = SERIES_POINTS) -> None:
        super().__init__()
        self.cap = max(2, cap)
        self.stride = 1  # points kept: indexes 0, stride, 2 * stride, ... of those appended
        self.seen = 0
        self.tail = False  # the last element is the newest point, off the stride

    def append(self, point: ProbPoint) -> None:
        if self.tail:
            self.pop()
        i = self.seen
        self.seen += 1
        super().append(point)
        self.tail = i % self.stride != 0
        if not self.tail and len(self) >= self.cap:
            del self[1::2]  # kept: multiples of 2 * stride
            self.stride *= 2
            if i % self.stride:  # the newest point was thinned out: keep it as the tail
                super().append(point)
                self.tail = True


@dataclass(slots=True)
class Tape:
    """What the run produced, gathered as it happens."""

    settings: BacktestSettings
    book: Book
    fills: Spool[Fill] = field(default_factory=Spool)
    equity: EquityCurve = field(init=False)  # from the book's starting cash
    inventory: Spool[InventoryPoint] = field(default_factory=Spool)
    # bounded for any run length (:class:`ThinnedSeries`): what the plots draw
    prices: dict[str, list[ProbPoint]] = field(default_factory=dict)
    fair: dict[str, list[ProbPoint]] = field(default_factory=dict)
    denials: Counter[str] = field(default_factory=Counter)  # reason -> denials
    intents: Spool[dict[str, Any]] = field(default_factory=Spool)
    failed: int = 0
    skipped_external: int = 0
    redemptions: list[PositionRedeemed] = field(default_factory=list)
    redeemed_pnl: int = 0  # realised PnL from redemptions (atomic USDC)
    attribution: Attribution = field(default_factory=Attribution)
    reasons: dict[str, tuple[str, str]] = field(default_factory=dict)  # intent id -> (strategy,
    # reason), for the fills; the newest REASONS_KEPT (a trade fills seconds after its intent)

    def __post_init__(self) -> None:
        self.equity = EquityCurve(self.book.cash)

    def on_price(self, ev: PriceChange) -> None:
        series = self.prices.get(ev.market_id)
        if series is None:
            series = self.prices[ev.market_id] = ThinnedSeries()
        if not series or ev.ts - series[-1][0] >= self.settings.sample_interval_s:
            series.append((ev.ts, ev.probabilities))

    def on_fair(self, ev: FairValueUpdate) -> None:
        self.add_fair(ev.market_id, ev.ts, ev.probabilities)

    def add_fair(self, market_id: str, ts: float, probabilities: tuple[Wad, ...]) -> None:
        series = self.fair.get(market_id)
        if series is None:
            series = self.fair[market_id] = ThinnedSeries()
        series.append((ts, probabilities))

    def on_denied(self, ev: RiskDenied) -> None:
        self.denials[ev.reason] += 1

    def on_trade(self, ev: TradeUpdate) -> None:
        if ev.status in ("failed", "rejected", "cancelled", "expired"):
            self.failed += 1

    def on_redeemed(self, ev: PositionRedeemed) -> None:
        """A settled position left the book at its payout (0 for a loser)."""
        self.redemptions.append(ev)
        self.redeemed_pnl += self.book.portfolio.redeem(
            ev.market_id, ev.outcome, ev.payout, last=ev.last, cost=ev.cost
        )
        self.attribution.redeemed(ev.market_id, ev.outcome, ev.payout)

    def on_intent(self, intent: OrderIntent) -> None:
        reasons = self.reasons
        reasons[intent.intent_id] = (intent.strategy, intent.reason)
        if len(reasons) > REASONS_KEPT:
            del reasons[next(iter(reasons))]  # dicts keep insertion order: the oldest
        self.intents.append(
            {
                "ts": intent.created_ts,
                "intent_id": intent.intent_id,
                "strategy": intent.strategy,
                "market_id": intent.market_id,
                "outcome": intent.outcome,
                "side": intent.side.value,
                "amount": str(intent.amount),
                "limit_probability": None
                if intent.limit_probability is None
                else str(intent.limit_probability),
                "closing": intent.closing,
                "reason": intent.reason,
            }
        )

    def book_fill(
        self, pred: Prediction, before: amm.Pool, trade: TradeRecord, fees: amm.Fees
    ) -> None:
        """Book our trade as the venue executed it on ``before`` (fees from the AMM maths)."""
        if pred.side == "buy":
            usdc, tokens = pred.usdc_in or 0, pred.tokens_out or 0
            fee = amm.fee_of(usdc, fees.protocol_bps)
            side = Side.BUY
        else:
            usdc, tokens = pred.usdc_out or 0, pred.tokens_in or 0
            sold = amm.sell(before, pred.outcome, tokens, fees)
            fee = sold.amm_fee + sold.protocol_fee
            side = Side.SELL
        intent_id = trade.client_request_id or ""
        strategy, reason = self.reasons.get(intent_id, (trade.metadata.get("kb_strategy", ""), ""))
        fill = Fill(
            ts=pred.ts,
            trade_id=trade.id,
            intent_id=intent_id,
            market_id=pred.market_id,
            outcome=pred.outcome,
            side=side,
            usdc=usdc,
            tokens=tokens,
            fee=fee,
            prob_before=amm.probability(before, pred.outcome),
            prob_after=pred.probability,
            reason=reason,
            strategy=strategy,
        )
        self.book.apply(fill)
        self.attribution.fill(fill, strategy)
        self.fills.append(fill)
        pos = self.book.positions[(fill.market_id, fill.outcome)]
        self.inventory.append(InventoryPoint(fill.ts, fill.market_id, fill.outcome, pos.tokens))

    def mark(self, ts: float, pools: Mapping[str, amm.Pool], fees: amm.Fees) -> None:
        """A point of the equity curve: cash plus the positions' mark at ``ts``."""
        value = mark_value(self.book.positions, pools, fees)
        at_risk = self.book.realised + sum(h.cost for h in self.book.positions.values())
        point = EquityPoint(ts, self.book.cash, value, self.book.cash + value, max(0, at_risk))
        self.equity.append(point)
