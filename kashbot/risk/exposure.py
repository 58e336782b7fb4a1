"""The gate's exposure: cost basis at risk per market, settled plus in flight.

Settled exposure lives in a :class:`~kashbot.portfolio.Portfolio`: a completed buy adds the USDC
spent when it settles; a completed sell takes off the cost basis it released — the position's
average cost times the tokens it burned (from its ``TradeUpdate``), or the venue's new cost basis
from a ``PositionSync`` — not the USDC it paid (that would count the profit or loss as exposure).
For an outcome whose position has not been seen (a position from before a restart, when only
market totals are known, or nothing subscribed) a sell falls back to taking off its proceeds.
In flight: what each approved, unsettled intent adds (buys: their amount).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kashbot.events import Event, PositionSync, Side, TradeUpdate
from kashbot.money import Atomic
from kashbot.portfolio import Portfolio, PositionKey
from kashbot.risk.approval import reservation_for

_MAX_AWAITING = 10_000  # settled trades whose fill event is still to come (bounded if unsubscribed)


@dataclass(slots=True)
class _InFlight:
    market_id: str
    exposure: Atomic  # buys add this to the market while in flight
    outcome: int | None = None  # None: re-adopted at recovery, outcome not recorded


class Exposure:
    """Settled exposure (a portfolio) plus the exposure of trades in flight, per market."""

    def __init__(self) -> None:
        self.book = Portfolio()  # settled exposure per market, and positions seen (observe)
        self._inflight: dict[str, _InFlight] = {}  # reservation id -> exposure in flight
        # completed trades whose TradeUpdate is still to come: reservation id -> market, outcome
        self._awaiting: dict[str, PositionKey] = {}

    def reset(self, totals: Mapping[str, Atomic]) -> None:
        """Settled totals per market (e.g. from the venue); positions seen before are forgotten."""
        self.book.set_exposure(totals)

    def hold(
        self, reservation_id: str, market_id: str, exposure: Atomic, outcome: int | None = None
    ) -> None:
        """An approved (or re-adopted) trade's exposure counts until it settles."""
        self._inflight[reservation_id] = _InFlight(market_id, exposure, outcome)

    def drop(self, reservation_id: str) -> None:
        """The trade never counted: its in-flight exposure goes."""
        self._inflight.pop(reservation_id, None)

    def market(self, market_id: str) -> Atomic:
        inflight = sum(f.exposure for f in self._inflight.values() if f.market_id == market_id)
        return self.book.exposure(market_id) + inflight

    def total(self) -> Atomic:
        return self.book.total_exposure() + sum(f.exposure for f in self._inflight.values())

    def by_market(self) -> dict[str, Atomic]:
        markets = set(self.book.exposures()) | {f.market_id for f in self._inflight.values()}
        return {m: self.market(m) for m in markets}

    def settle(self, reservation_id: str, *, side: Side, amount: Atomic, completed: bool) -> None:
        """A trade reached a terminal state: completed ones move into settled exposure.

        A buy adds the USDC spent. A sell's release (cost basis, not proceeds) is taken when its
        ``TradeUpdate`` or ``PositionSync`` reaches :meth:`observe`; only for an outcome whose
        position the gate has not seen is the sell's ``amount`` (its proceeds) taken off here.
        The daily draw stays committed either way: the server counted the buy when it accepted it.
        """
        flight = self._inflight.pop(reservation_id, None)
        if flight is None or not completed:
            return
        market = flight.market_id
        key = None if flight.outcome is None else (market, flight.outcome)
        if side is Side.BUY:
            self.book.expose(market, amount)
        elif key is None or not self.book.holds(*key):
            self.book.unexpose(market, amount)
            return
        if key is not None:
            self._awaiting[reservation_id] = key
            if len(self._awaiting) > _MAX_AWAITING:
                del self._awaiting[next(iter(self._awaiting))]

    def observe(self, event: Event) -> None:
        """Follow our positions (subscribe to ``TradeUpdate`` and ``PositionSync``).

        A completed buy adds its tokens and cost to the outcome; a completed sell with a token
        count releases ``cost * tokens // shares`` (average cost) from the position and from its
        market's exposure; a sync takes the venue's cost basis as the truth, the difference
        coming off (or onto) the market's exposure.
        """
        if isinstance(event, TradeUpdate):
            if event.status != "completed":
                return
            key = self._awaiting.pop(reservation_for(event.intent_id), None)
            if key is None:
                return  # not a trade this gate settled, or seen already
            if event.side is Side.BUY:
                self.book.add(*key, event.tokens or 0, event.amount)
                return
            sale = self.book.burn(*key, event.tokens or 0)
            if sale.sold > 0:  # no token count: the PositionSync before it did the work
                self.book.unexpose(key[0], sale.released)
        elif isinstance(event, PositionSync):
            seen = self.book.sync(event.market_id, event.outcome, event.shares, event.cost)
            if seen is not None:  # unseen: its cost is already inside the market's total
                self.book.unexpose(event.market_id, seen.cost - max(0, event.cost))
