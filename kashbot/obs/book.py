"""Positions, exposure, PnL and fees for the metrics: exact atomic ints, read at scrape time.

The totals come from where the status JSON takes them (``EngineState.portfolio``, the marks of
:func:`kashbot.obs.status.mark_positions`, i.e. :func:`kashbot.valuation.mark_position`: what
selling into the current pool would pay), so a scrape and ``kashbot status`` agree. Two figures
the portfolio keeps only as totals are split per market here by :class:`BookTracker`, a bus
subscriber that runs after the state applied each event (``Engine.handle``: state, then bus):

* realised PnL: the change of ``portfolio.realized`` an event caused belongs to that event's
  market (only a completed trade or a redemption moves it, each about one market);
* fees: Kash reports no fee per trade, so each fill's fee follows from the market's fee schedule:
  exact for a buy (the protocol fee on the gross USDC), and for a sell the least fee consistent
  with the USDC that reached us (AMM sell fee plus protocol fee, inverted from the net; at most
  a unit or two of rounding low). A fill that carries its fee (a backtest's) uses it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from kashbot import amm
from kashbot.engine.bus import Bus
from kashbot.engine.state import EngineState
from kashbot.events import PositionRedeemed, Side, TradeUpdate
from kashbot.money import Atomic, Wad
from kashbot.obs.status import mark_positions
from kashbot.risk.gate import RiskGate
from kashbot.valuation import Fill


@dataclass(frozen=True, slots=True)
class PositionReading:
    market_id: str
    outcome: int
    tokens: Wad
    cost: Atomic
    value: Atomic  # the liquidation mark (cost when the pool is unknown)
    marked: bool


@dataclass(slots=True)
class BookReadings:
    """What the book says at one scrape (atomic USDC, WAD tokens)."""

    positions: list[PositionReading] = field(default_factory=list)
    exposure: dict[str, Atomic] = field(default_factory=dict)  # settled + in flight, per market
    exposure_total: Atomic = 0
    market_exposure_cap: Atomic | None = None
    total_exposure_cap: Atomic | None = None
    realized: dict[str, Atomic] = field(default_factory=dict)
    realized_total: Atomic = 0
    fees: dict[str, Atomic] = field(default_factory=dict)

    @property
    def unrealized_total(self) -> Atomic:
        return sum(p.value - p.cost for p in self.positions)

    def marked(self) -> dict[str, Atomic]:
        """PnL at mark per market: realised plus the open positions' mark minus their cost."""
        out: Counter[str] = Counter(self.realized)
        for p in self.positions:
            out[p.market_id] += p.value - p.cost
        return {
            m: out[m] for m in sorted(set(self.realized) | {p.market_id for p in self.positions})
        }


def _least_input(out: int, bps: int) -> int:
    """Smallest ``x`` with ``x - fee_of(x, bps) >= out`` (the amount before a fee was taken)."""
    x = out * amm.BPS // (amm.BPS - bps)
    while x > 0 and x - amm.fee_of(x, bps) >= out:
        x -= 1
    while x - amm.fee_of(x, bps) < out:
        x += 1
    return x


def fill_fee(fill: Fill, fees: amm.Fees) -> Atomic:
    """The fee a fill paid (see the module docstring); exact ints."""
    if fill.fee is not None:
        return fill.fee
    if fill.side is Side.BUY:
        return amm.fee_of(fill.usdc, fees.protocol_bps)
    usdc_out = _least_input(fill.usdc, fees.protocol_bps)
    gross = _least_input(usdc_out, fees.amm_sell_bps)
    return gross - fill.usdc


class BookTracker:
    """Per-market realised PnL and fees, kept as events are applied (see the module docstring)."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.realized: Counter[str] = Counter()
        self.fees: Counter[str] = Counter()
        self._realized_seen = state.realized
        self._fills_seen = state.fills.total

    def attach(self, bus: Bus) -> None:
        bus.subscribe(TradeUpdate, self.on_event)
        bus.subscribe(PositionRedeemed, self.on_event)

    def on_event(self, ev: TradeUpdate | PositionRedeemed) -> None:
        state = self.state
        now = state.realized
        if now != self._realized_seen:
            self.realized[ev.market_id] += now - self._realized_seen
            self._realized_seen = now
        fills = state.fills
        for fill in fills.newest(fills.total - self._fills_seen):
            view = state.markets.get(fill.market_id)
            schedule = view.fees if view is not None else state.fees
            self.fees[fill.market_id] += fill_fee(fill, schedule)
        self._fills_seen = fills.total

    def read(self, gate: RiskGate) -> BookReadings:
        state = self.state
        positions = [
            PositionReading(p.market_id, p.outcome, p.shares, p.cost, p.value, p.marked)
            for p in mark_positions(state)
        ]
        return BookReadings(
            positions=positions,
            exposure=dict(sorted(gate.exposure.by_market().items())),
            exposure_total=gate.total_exposure(),
            market_exposure_cap=gate.limits.market_exposure_cap,
            total_exposure_cap=gate.limits.total_exposure_cap,
            realized=dict(self.realized),
            realized_total=state.realized,
            fees=dict(self.fees),
        )
