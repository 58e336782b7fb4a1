"""Our positions at average cost: the one book the engine state, the risk gate and the backtest
metrics keep (each its own instance, fed from its own side of the trade), and valuation reads.

A ``Portfolio`` holds, per (market, outcome), the shares (WAD) and their cost basis (USDC atomic);
the cash that our fills moved and the PnL they realised; and each market's *exposure*: cost basis
still at risk. Every rule of the book is here, once:

* a buy adds its tokens and the USDC it paid to the holding;
* a sell burns at most the shares held and releases ``cost * sold // shares`` (average cost); its
  realised PnL is the proceeds minus that cost;
* a venue ``PositionSync`` overrides a holding with the venue's numbers (the venue is the truth
  for inventory: Kash reports no token count for a sell);
* a redemption (``redeem``, ``settle_market``) closes a settled market's holding at its payout:
  the whole cost basis is released, the payout is cash, the difference is realised PnL (also
  tallied apart in ``redeemed``), and the market's exposure goes with its last holding.

Exposure is kept beside the holdings, not summed from them, because the gate moves it on its own
clock: a buy counts from the moment the venue completes it (before its fill event reaches the
book), and after a restart only market totals are known. The engine and the backtest never read
it. Pure: no I/O, no clock, no events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kashbot.money import Atomic, Wad

PositionKey = tuple[str, int]  # (market_id, outcome)


@dataclass(slots=True)
class Holding:
    """One outcome's position: shares held and the USDC cost basis of those shares."""

    shares: Wad = 0
    cost: Atomic = 0

    @property
    def tokens(self) -> Wad:
        """The backtest's name for ``shares``."""
        return self.shares


@dataclass(frozen=True, slots=True)
class Sale:
    """What one sell did to its holding."""

    sold: Wad  # shares burned (at most those held)
    released: Atomic  # cost basis that left the holding (average cost)


class Portfolio:
    """Holdings per (market, outcome), cash, realised PnL and exposure per market."""

    __slots__ = ("_exposure", "cash", "holdings", "realized", "redeemed")

    def __init__(self, cash: Atomic = 0) -> None:
        self.holdings: dict[PositionKey, Holding] = {}
        self.cash: Atomic = cash  # starting cash, minus buys, plus sale proceeds
        self.realized: Atomic = 0  # sale and redemption proceeds minus the cost basis released
        self.redeemed: Atomic = 0  # the part of ``realized`` that redemptions realised
        self._exposure: dict[str, Atomic] = {}

    # ---- holdings ----------------------------------------------------------------------------

    def position(self, market_id: str, outcome: int) -> Holding:
        """The holding, or an empty one (not stored) if we hold nothing there."""
        return self.holdings.get((market_id, outcome)) or Holding()

    def holds(self, market_id: str, outcome: int) -> bool:
        """Has this book seen a position in the outcome (even one sold down to zero)?"""
        return (market_id, outcome) in self.holdings

    def __iter__(self) -> Iterator[tuple[PositionKey, Holding]]:
        return iter(self.holdings.items())

    def set_position(self, market_id: str, outcome: int, shares: Wad, cost: Atomic) -> None:
        """Take a position as known from elsewhere (recovery), replacing ours."""
        self.holdings[(market_id, outcome)] = Holding(shares, cost)

    def add(self, market_id: str, outcome: int, tokens: Wad, cost: Atomic) -> Holding:
        """Shares and cost onto a holding (a buy's fill); no cash moves."""
        h = self.holdings.get((market_id, outcome))
        if h is None:
            h = self.holdings[(market_id, outcome)] = Holding()
        h.shares += tokens
        h.cost += cost
        return h

    def burn(self, market_id: str, outcome: int, tokens: Wad) -> Sale:
        """Take up to ``tokens`` shares off a holding at average cost; no cash moves."""
        h = self.holdings.get((market_id, outcome))
        if h is None:
            h = self.holdings[(market_id, outcome)] = Holding()
        sold = min(tokens, h.shares)
        if sold <= 0:
            return Sale(0, 0)
        released = h.cost * sold // h.shares
        h.shares -= sold
        h.cost -= released
        return Sale(sold, released)

    def buy(self, market_id: str, outcome: int, tokens: Wad, usdc: Atomic) -> Holding:
        """A completed buy: ``tokens`` bought for ``usdc`` (fees included)."""
        self.cash -= usdc
        return self.add(market_id, outcome, tokens, usdc)

    def sell(self, market_id: str, outcome: int, tokens: Wad, proceeds: Atomic) -> Sale:
        """A completed sell: at most the shares held are burned; returns what it released."""
        sale = self.burn(market_id, outcome, tokens)
        self.book_sale(proceeds, sale.released)
        return sale

    def book_sale(self, proceeds: Atomic, released: Atomic) -> Atomic:
        """Cash and realised PnL of a sale whose shares already left the book; its PnL."""
        self.cash += proceeds
        pnl = proceeds - released
        self.realized += pnl
        return pnl

    def sync(self, market_id: str, outcome: int, shares: Wad, cost: Atomic) -> Holding | None:
        """Override a holding with the venue's numbers (negatives read as 0); the one before."""
        key = (market_id, outcome)
        before = self.holdings.get(key)
        self.holdings[key] = Holding(max(0, shares), max(0, cost))
        return before

    def redeem(
        self,
        market_id: str,
        outcome: int,
        payout: Atomic,
        *,
        last: bool = False,
        cost: Atomic | None = None,
    ) -> Atomic:
        """A settled holding paid ``payout`` (0 for a loser) and leaves the book; its PnL.

        Its cost basis comes off the market's exposure; with ``last`` (no other holding of ours
        left in the market, which a book holding only market totals cannot tell) the market's
        exposure is dropped whole. ``cost``: the claim's recorded cost basis, used when the book
        no longer holds the position (a claim re-sent after a restart, when the venue had already
        zeroed it), so the PnL is the payout less what was paid, not the whole payout.
        """
        held = self.holdings.pop((market_id, outcome), None) or Holding(cost=cost or 0)
        self.cash += payout
        pnl = payout - held.cost
        self.realized += pnl
        self.redeemed += pnl
        self.unexpose(market_id, held.cost)
        if last or not any(m == market_id for m, _ in self.holdings):
            self._exposure.pop(market_id, None)
        return pnl

    def settle_market(self, market_id: str, payouts: Mapping[int, Atomic]) -> Atomic:
        """Every holding of a settled market redeemed at ``payouts[outcome]`` (missing: 0); the
        market's exposure is zero afterwards. Returns the PnL realised."""
        outcomes = sorted(o for m, o in self.holdings if m == market_id)
        pnl = sum(self.redeem(market_id, o, payouts.get(o, 0)) for o in outcomes)
        self._exposure.pop(market_id, None)
        return pnl

    # ---- exposure (cost basis at risk, per market) ---------------------------------------------

    def set_exposure(self, totals: Mapping[str, Atomic]) -> None:
        """Market totals known from elsewhere (the venue at recovery): they replace everything,
        holdings included (an outcome's share of a total is not known)."""
        self._exposure = {m: max(0, v) for m, v in totals.items()}
        self.holdings.clear()

    def expose(self, market_id: str, cost: Atomic) -> None:
        """More cost at risk in the market (never below zero overall)."""
        self._exposure[market_id] = max(0, self._exposure.get(market_id, 0) + cost)

    def unexpose(self, market_id: str, cost: Atomic) -> None:
        """Cost no longer at risk in the market (never below zero)."""
        self.expose(market_id, -cost)

    def exposure(self, market_id: str) -> Atomic:
        return self._exposure.get(market_id, 0)

    def exposures(self) -> Mapping[str, Atomic]:
        """Exposure per market (a read-only view)."""
        return self._exposure

    def total_exposure(self) -> Atomic:
        return sum(self._exposure.values())
