"""A backtest's PnL broken down per market and per strategy.

Each slice (a market, or a strategy) keeps its own average-cost :class:`Portfolio` of the fills
that belong to it, with cash starting at 0, so its PnL at mark is ``cash + mark``: what it
received (sales, redemption payouts) less what it paid (buys, fees included), plus what its
remaining holdings would sell for now. Per market this is exact: the markets' slices add up to
the run's totals. Per strategy, a holding shared by two strategies is split:

* a strategy selling more shares than it bought takes the rest over from the other strategies
  holding that outcome, at their average cost (no PnL for them), then sells;
* a redemption's payout is split by the shares each strategy holds, the remainder to the last.

Strategy marks are taken on each strategy's part alone, so when strategies share a position the
strategies' marks can differ slightly from the whole position's (price impact is not linear).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kashbot import amm
from kashbot.events import Side
from kashbot.money import Atomic
from kashbot.portfolio import Holding, Portfolio
from kashbot.valuation import Fill, mark_holdings


@dataclass(slots=True)
class Slice:
    """One market's or one strategy's fills and book."""

    book: Portfolio = field(default_factory=Portfolio)
    trades: int = 0
    buys: int = 0
    sells: int = 0
    volume: Atomic = 0
    fees: Atomic = 0

    def count(self, fill: Fill) -> None:
        self.trades += 1
        self.volume += fill.usdc
        self.fees += fill.fee or 0
        if fill.side is Side.BUY:
            self.buys += 1
        else:
            self.sells += 1

    def summary(self, mark: Atomic) -> dict[str, Any]:
        from kashbot.backtest.metrics import usdc_signed  # metrics imports this module

        return {
            "trades": self.trades,
            "buys": self.buys,
            "sells": self.sells,
            "volume_usdc": usdc_signed(self.volume),
            "fees_paid_usdc": usdc_signed(self.fees),
            "pnl_realised_usdc": usdc_signed(self.book.realized),
            "final_mark_usdc": usdc_signed(mark),
            "pnl_at_mark_usdc": usdc_signed(self.book.cash + mark),
        }


@dataclass(slots=True)
class Attribution:
    """Fills and redemptions, booked per market and per strategy as they happen."""

    markets: dict[str, Slice] = field(default_factory=dict)
    strategies: dict[str, Slice] = field(default_factory=dict)

    def fill(self, fill: Fill, strategy: str) -> None:
        market = self.markets.setdefault(fill.market_id, Slice())
        market.count(fill)
        _apply(market.book, fill)
        mine = self.strategies.setdefault(strategy, Slice())
        mine.count(fill)
        if fill.side is Side.SELL:
            self._take_over(strategy, fill)
        _apply(mine.book, fill)

    def _take_over(self, strategy: str, fill: Fill) -> None:
        """Shares this strategy sells beyond its own, moved to it from the others at cost."""
        key = (fill.market_id, fill.outcome)
        book = self.strategies[strategy].book
        short = fill.tokens - book.position(*key).shares
        for other, piece in self.strategies.items():
            if short <= 0:
                return
            if other == strategy or not piece.book.holds(*key):
                continue
            moved = piece.book.burn(fill.market_id, fill.outcome, short)
            piece.book.cash += moved.released  # handed over at cost: no PnL either side
            book.cash -= moved.released
            book.add(fill.market_id, fill.outcome, moved.sold, moved.released)
            short -= moved.sold

    def redeemed(self, market_id: str, outcome: int, payout: Atomic) -> None:
        """A settled holding paid ``payout``: to the market, and split by shares held."""
        self.markets.setdefault(market_id, Slice()).book.redeem(market_id, outcome, payout)
        holders = [
            (sid, s.book.position(market_id, outcome).shares)
            for sid, s in sorted(self.strategies.items())
            if s.book.holds(market_id, outcome)
        ]
        total = sum(shares for _, shares in holders)
        left = payout
        for n, (sid, shares) in enumerate(holders):
            part = left if n == len(holders) - 1 else payout * shares // total
            left -= part
            self.strategies[sid].book.redeem(market_id, outcome, part)

    def breakdown(
        self, pools: Mapping[str, amm.Pool], fees: amm.Fees
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """``{"by_market": {id: {...}}, "by_strategy": {id: {...}}}`` for report.json."""

        def mark(book: Portfolio) -> Atomic:
            held: list[tuple[tuple[str, int], Holding]] = [
                (k, h) for k, h in book.holdings.items() if h.shares > 0
            ]
            return mark_holdings(held, pools, fees)

        return {
            "by_market": {m: s.summary(mark(s.book)) for m, s in sorted(self.markets.items())},
            "by_strategy": {
                sid: s.summary(mark(s.book)) for sid, s in sorted(self.strategies.items())
            },
        }


def _apply(book: Portfolio, fill: Fill) -> None:
    if fill.side is Side.BUY:
        book.buy(fill.market_id, fill.outcome, fill.tokens, fill.usdc)
    else:
        book.sell(fill.market_id, fill.outcome, fill.tokens, fill.usdc)
