"""Pure accounting for a backtest: positions, PnL, drawdown on the capital at risk, a Sharpe-like
ratio (PnL per market and per strategy: :mod:`kashbot.backtest.attribution`).

Money stays in integers (USDC atomic units, WAD tokens). Floats appear only for ratios (Sharpe,
drawdown as a fraction), rounded to a fixed number of places so a report is byte-stable.

Marking is :mod:`kashbot.valuation`'s, the same rule the daemon's status view uses: a position is
worth what selling it into the pool right now would pay after fees, and one whose pool is unknown
is marked at cost.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, overload

from kashbot import amm
from kashbot.events import Side
from kashbot.money import Atomic, Wad
from kashbot.portfolio import Holding, Portfolio, PositionKey
from kashbot.valuation import Fill, mark_holdings

RATIO_PLACES = 6
SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365  # Kash trades 24/7
EQUITY_POINTS = 2_048  # equity points kept for the plot (the statistics see every point)

Position = Holding  # ``tokens`` held and their average-cost basis


class Book:
    """Cash and positions, updated fill by fill: a :class:`~kashbot.portfolio.Portfolio` (which
    does the average-cost accounting) plus the counters the report needs."""

    __slots__ = ("buys", "fees", "portfolio", "sells", "volume")

    def __init__(self, cash: Atomic) -> None:
        self.portfolio = Portfolio(cash)
        self.fees: Atomic = 0
        self.volume: Atomic = 0
        self.buys = 0
        self.sells = 0

    @property
    def cash(self) -> Atomic:
        return self.portfolio.cash

    @property
    def realised(self) -> Atomic:
        return self.portfolio.realized

    @property
    def positions(self) -> dict[PositionKey, Holding]:
        return self.portfolio.holdings

    def apply(self, fill: Fill) -> Atomic:
        """Book a fill; returns the realised PnL it produced (0 for buys).

        The venue executed the fill, so a sale of more tokens than the book holds is a bug.
        """
        book = self.portfolio
        self.fees += fill.fee or 0
        self.volume += fill.usdc
        if fill.side is Side.BUY:
            book.buy(fill.market_id, fill.outcome, fill.tokens, fill.usdc)
            self.buys += 1
            return 0
        held = book.position(fill.market_id, fill.outcome).shares
        if fill.tokens > held:
            raise ValueError(
                f"fill {fill.trade_id} sells {fill.tokens} tokens of "
                f"{fill.market_id}/{fill.outcome} but the book holds {held}"
            )
        sale = book.burn(fill.market_id, fill.outcome, fill.tokens)
        self.sells += 1
        return book.book_sale(fill.usdc, sale.released)


def mark_value(
    positions: Mapping[PositionKey, Position],
    pools: Mapping[str, amm.Pool],
    fees: amm.Fees = amm.DEFAULT_FEES,
) -> Atomic:
    """The positions' total mark (:func:`kashbot.valuation.mark_holdings`)."""
    return mark_holdings(positions.items(), pools, fees)


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts: float
    cash: Atomic
    mark: Atomic  # exit value of the positions
    equity: Atomic  # cash + mark
    at_risk: Atomic = 0  # capital at risk: cost basis held + PnL realised so far (>= 0)


@dataclass(frozen=True, slots=True)
class InventoryPoint:
    ts: float
    market_id: str
    outcome: int
    tokens: Wad


def max_drawdown(points: Sequence[tuple[Atomic, Atomic]]) -> tuple[Atomic, float]:
    """Largest peak-to-trough fall of equity (USDC atomic), and that fall as a fraction of the
    capital at risk: the most that was at risk between that peak and that trough.

    ``points`` are (equity, capital at risk); capital at risk is the cost basis of the positions
    held plus the PnL realised so far (see :attr:`EquityPoint.at_risk`). A run's idle cash is
    not at risk, so dividing by the whole balance would understate a strategy's losses.
    """
    peak: Atomic | None = None
    risk_since_peak = 0
    worst = 0
    worst_frac = 0.0
    for equity, at_risk in points:
        if peak is None or equity > peak:
            peak, risk_since_peak = equity, at_risk
        risk_since_peak = max(risk_since_peak, at_risk)
        dd = peak - equity
        if dd > worst:
            worst = dd
            worst_frac = dd / risk_since_peak if risk_since_peak > 0 else 0.0
    return worst, round(worst_frac, RATIO_PLACES)


def daily_equity(points: Sequence[EquityPoint]) -> list[tuple[int, Atomic]]:
    """(UTC day number, equity at the day's last point) for every day with a point."""
    out: list[tuple[int, Atomic]] = []
    for p in points:
        day = int(p.ts // SECONDS_PER_DAY)
        if out and out[-1][0] == day:
            out[-1] = (day, p.equity)
        else:
            out.append((day, p.equity))
    return out


def sharpe_daily(initial: Atomic, points: Sequence[EquityPoint]) -> float | None:
    """Annualised mean/stdev of daily returns on the starting capital; None under two days.

    "Sharpe-like": no risk-free rate, returns on initial capital (not compounding), 365 days.
    """
    return sharpe_of_days(initial, daily_equity(points))


def sharpe_of_days(initial: Atomic, days: Sequence[tuple[int, Atomic]]) -> float | None:
    """:func:`sharpe_daily` from (day, equity at the day's last point) pairs."""
    if len(days) < 2 or initial <= 0:
        return None
    prev = initial
    rets: list[float] = []
    for _, eq in days:
        rets.append((eq - prev) / initial)
        prev = eq
    mean = math.fsum(rets) / len(rets)
    var = math.fsum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 0:
        return None
    return round(mean / math.sqrt(var) * math.sqrt(DAYS_PER_YEAR), RATIO_PLACES)


class EquityCurve(Sequence[EquityPoint]):
    """The equity curve of a run whose memory does not grow with its length.

    Each point appended updates the exact statistics the report needs (the drawdown of
    :func:`max_drawdown` from the initial cash on, each day's last equity for
    :func:`sharpe_daily`); as a sequence it is an even sample of at most ``cap`` points for the
    plots (the first and the newest point always in), thinned like the price series.
    """

    __slots__ = (
        "_cap",
        "_days",
        "_n",
        "_peak",
        "_risk",
        "_sample",
        "_stride",
        "_tail",
        "_worst",
        "_worst_frac",
    )

    def __init__(self, initial_cash: Atomic, cap: int = EQUITY_POINTS) -> None:
        self._peak: Atomic = initial_cash  # max_drawdown's first point: (initial cash, 0)
        self._risk: Atomic = 0
        self._worst: Atomic = 0
        self._worst_frac = 0.0
        self._days: list[tuple[int, Atomic]] = []  # one entry a simulated day
        self._sample: list[EquityPoint] = []
        self._cap = max(2, cap)
        self._stride = 1  # sampled: points 0, stride, 2 * stride, ... of those appended
        self._tail = False  # the sample's last point is the newest, off the stride
        self._n = 0  # points appended

    def append(self, p: EquityPoint) -> None:
        if p.equity > self._peak:
            self._peak, self._risk = p.equity, p.at_risk
        self._risk = max(self._risk, p.at_risk)
        dd = self._peak - p.equity
        if dd > self._worst:
            self._worst = dd
            self._worst_frac = dd / self._risk if self._risk > 0 else 0.0
        day = int(p.ts // SECONDS_PER_DAY)
        if self._days and self._days[-1][0] == day:
            self._days[-1] = (day, p.equity)
        else:
            self._days.append((day, p.equity))
        self._keep(p)

    def _keep(self, p: EquityPoint) -> None:
        """The :class:`~kashbot.backtest.tape.ThinnedSeries` rule: halve at the cap."""
        sample = self._sample
        if self._tail:
            sample.pop()
        i = self._n
        self._n += 1
        sample.append(p)
        self._tail = i % self._stride != 0
        if not self._tail and len(sample) >= self._cap:
            del sample[1::2]
            self._stride *= 2
            if i % self._stride:
                sample.append(p)
                self._tail = True

    @property
    def appended(self) -> int:
        """Points appended (the sample holds at most ``cap`` of them)."""
        return self._n

    def drawdown(self) -> tuple[Atomic, float]:
        """:func:`max_drawdown` over the initial cash and every point appended."""
        return self._worst, round(self._worst_frac, RATIO_PLACES)

    def daily(self) -> list[tuple[int, Atomic]]:
        """:func:`daily_equity` over every point appended."""
        return list(self._days)

    def __len__(self) -> int:
        return len(self._sample)

    def __iter__(self) -> Iterator[EquityPoint]:
        return iter(self._sample)

    @overload
    def __getitem__(self, i: int) -> EquityPoint: ...
    @overload
    def __getitem__(self, i: slice) -> list[EquityPoint]: ...
    def __getitem__(self, i: int | slice) -> EquityPoint | list[EquityPoint]:
        return self._sample[i]


@dataclass(frozen=True, slots=True)
class RunTotals:
    """Everything the report needs, gathered by the runner."""

    initial_cash: Atomic
    book: Book
    fills: Sequence[Fill]
    equity: Sequence[EquityPoint]
    inventory: Sequence[InventoryPoint]
    denials: Iterable[str]  # reason codes, one per denial
    requests_used: int
    request_budget: int  # requests the key's budget allowed over the run's simulated span
    failed_trades: int
    events: int
    start_ts: float
    end_ts: float
    final_mark: Atomic


def usdc_signed(atomic: Atomic) -> str:
    """USDC atomic units as an exact decimal string, sign kept (``-1.5``, ``0``)."""
    sign = "-" if atomic < 0 else ""
    whole, frac = divmod(abs(atomic), 1_000_000)
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:06d}".rstrip("0")


def wad_str(wad: Wad) -> str:
    """A WAD integer as an exact decimal string."""
    sign = "-" if wad < 0 else ""
    whole, frac = divmod(abs(wad), 10**18)
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:018d}".rstrip("0")


def compute_metrics(t: RunTotals) -> dict[str, Any]:
    """The report's metrics block: money as exact decimal strings, ratios as rounded floats."""
    eq = t.equity
    if isinstance(eq, EquityCurve):  # exact statistics kept as the run went
        (dd, dd_frac), sharpe = eq.drawdown(), sharpe_of_days(t.initial_cash, eq.daily())
    else:
        dd, dd_frac = max_drawdown([(t.initial_cash, 0), *((p.equity, p.at_risk) for p in eq)])
        sharpe = sharpe_daily(t.initial_cash, eq)
    final_equity = t.book.cash + t.final_mark
    denials = Counter(t.denials)
    span = max(t.end_ts - t.start_ts, 0.0)
    inventory = {
        f"{m}/{o}": wad_str(p.tokens)
        for (m, o), p in sorted(t.book.positions.items())
        if p.tokens != 0
    }
    return {
        "pnl_realised_usdc": usdc_signed(t.book.realised),
        "pnl_at_mark_usdc": usdc_signed(final_equity - t.initial_cash),
        "fees_paid_usdc": usdc_signed(t.book.fees),
        "volume_usdc": usdc_signed(t.book.volume),
        "trades": len(t.fills),
        "buys": t.book.buys,
        "sells": t.book.sells,
        "failed_trades": t.failed_trades,
        "initial_cash_usdc": usdc_signed(t.initial_cash),
        "final_cash_usdc": usdc_signed(t.book.cash),
        "final_mark_usdc": usdc_signed(t.final_mark),
        "final_equity_usdc": usdc_signed(final_equity),
        "max_drawdown_usdc": usdc_signed(dd),
        "max_drawdown_fraction": dd_frac,
        "sharpe_daily": sharpe,
        "final_inventory_tokens": inventory,
        "inventory_over_time": [
            {"ts": p.ts, "position": f"{p.market_id}/{p.outcome}", "tokens": wad_str(p.tokens)}
            for p in t.inventory
        ],
        "denials_by_reason": dict(sorted(denials.items())),
        "denials": sum(denials.values()),
        "requests_used": t.requests_used,
        "request_budget": t.request_budget,
        "request_budget_used_fraction": (
            round(t.requests_used / t.request_budget, RATIO_PLACES) if t.request_budget else None
        ),
        "events": t.events,
        "sim_start_ts": t.start_ts,
        "sim_end_ts": t.end_ts,
        "sim_span_s": round(span, 3),
    }


def metric_decimal(metrics: Mapping[str, Any], name: str) -> Decimal | None:
    """A metric as an exact ``Decimal`` for sorting sweep rows; None if absent or not a number.

    Money metrics are decimal strings: a float would round them, so two rows a cent apart near
    1e16 could tie or swap. Float ratios convert exactly (order kept); NaN is not a number.
    """
    v = metrics.get(name)
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return None
    try:
        d = Decimal(v)
    except InvalidOperation:
        return None
    return None if d.is_nan() else d
