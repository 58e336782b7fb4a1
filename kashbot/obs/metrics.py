"""Prometheus metrics for one daemon: a private registry, counters fed by the bus, gauges on scrape.

Why a custom collector instead of ``prometheus_client.Counter`` objects everywhere: the hot path
pays only a dict increment (bus subscribers for trade updates and denials, a wrapper around
``create_trade``), and everything that already exists as state (gate, budget, sources, engine
counters) is read when Prometheus scrapes (:mod:`kashbot.obs.readings`), not pushed on every
change. A backtest never builds
any of this. Each daemon owns its ``CollectorRegistry`` (never the process-global default), so
tests can run several daemons in one process.

Labels carry market ids, sides, reason codes and error codes only; never keys or secrets.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Literal

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from kashbot.client.errors import KashError, OutcomeUnknownError
from kashbot.client.models import TERMINAL_TRADE_STATUSES, Page, Position, Trade, TradeCreated
from kashbot.engine.bus import Bus
from kashbot.events import RiskDenied, TradeUpdate
from kashbot.execution.venue import TradingVenue
from kashbot.obs.readings import Readings, counter_family, reading_metrics

_FINISHED_MEMORY = 4096  # terminal trade ids remembered, so a late duplicate is not re-counted
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

__all__ = ["DaemonMetrics", "MeteredVenue", "Readings", "watch_loop_lag"]


class DaemonMetrics:
    """The daemon's metrics: call :meth:`attach` on the engine's bus, scrape :meth:`exposition`."""

    def __init__(self, read: Callable[[], Readings] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._read = read
        self.orders_sent: Counter[tuple[str, str]] = Counter()
        self.orders_accepted: Counter[tuple[str, str]] = Counter()
        self.orders_completed: Counter[tuple[str, str]] = Counter()
        self.orders_failed: Counter[tuple[str, str, str]] = Counter()
        self.orders_refused: Counter[tuple[str, str, str]] = Counter()
        self.orders_outcome_unknown: Counter[tuple[str, str]] = Counter()
        self.denials: Counter[str] = Counter()
        self._open: set[str] = set()
        self._finished: set[str] = set()
        self._finished_order: deque[str] = deque()
        self.loop_lag_last = 0.0
        self.loop_lag = Histogram(
            "kashbot_event_loop_lag_seconds",
            "How late the event loop ran a sleep that should have woken on time",
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)

    def set_reader(self, read: Callable[[], Readings]) -> None:
        self._read = read

    # ---- feeding (cheap: dict increments) ----------------------------------------------------

    def attach(self, bus: Bus) -> None:
        bus.subscribe(TradeUpdate, self.on_trade_update)
        bus.subscribe(RiskDenied, self.on_denied)

    def on_denied(self, ev: RiskDenied) -> None:
        self.denials[ev.reason] += 1

    def on_trade_update(self, ev: TradeUpdate) -> None:
        """First update of a trade id = accepted; its terminal update = completed or failed."""
        tid = ev.trade_id
        terminal = ev.status in TERMINAL_TRADE_STATUSES
        key = (ev.market_id, str(ev.side))
        if tid in self._open:
            if not terminal:
                return
            self._open.discard(tid)
        else:
            if tid in self._finished:
                return
            self.orders_accepted[key] += 1
            if not terminal:
                self._open.add(tid)
                return
        self._finished.add(tid)
        self._finished_order.append(tid)
        if len(self._finished_order) > _FINISHED_MEMORY:
            self._finished.discard(self._finished_order.popleft())
        if ev.status == "completed":
            self.orders_completed[key] += 1
        else:
            self.orders_failed[(*key, ev.status)] += 1

    def observe_loop_lag(self, lag_s: float) -> None:
        self.loop_lag_last = lag_s
        self.loop_lag.observe(lag_s)

    # ---- scraping ----------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)

    def collect(self) -> Iterable[Metric]:
        yield counter_family(
            "kashbot_orders_sent",
            "Trade requests handed to the venue (a reconcile replay counts again)",
            ("market", "side"),
            self.orders_sent.items(),
        )
        yield counter_family(
            "kashbot_orders_accepted",
            "Trades the venue created (first lifecycle update seen by this process)",
            ("market", "side"),
            self.orders_accepted.items(),
        )
        yield counter_family(
            "kashbot_orders_completed",
            "Trades that reached status completed",
            ("market", "side"),
            self.orders_completed.items(),
        )
        yield counter_family(
            "kashbot_orders_failed",
            "Trades that ended failed/rejected/cancelled/expired",
            ("market", "side", "status"),
            self.orders_failed.items(),
        )
        yield counter_family(
            "kashbot_orders_refused",
            "Trade requests the venue definitely refused (no trade created), by error code",
            ("market", "side", "code"),
            self.orders_refused.items(),
        )
        yield counter_family(
            "kashbot_orders_outcome_unknown",
            "Trade requests whose response was lost (reconciled before any retry)",
            ("market", "side"),
            self.orders_outcome_unknown.items(),
        )
        yield counter_family(
            "kashbot_risk_denials",
            "Intents denied, by reason code (gate, venue refusal or engine)",
            ("reason",),
            (((k,), v) for k, v in self.denials.items()),
        )
        yield GaugeMetricFamily(
            "kashbot_event_loop_lag_last_seconds",
            "The most recent event-loop lag sample",
            value=self.loop_lag_last,
        )
        if self._read is not None:
            yield from reading_metrics(self._read())


class MeteredVenue:
    """A :class:`TradingVenue` that counts trade requests and refusals, then delegates."""

    def __init__(self, inner: TradingVenue, metrics: DaemonMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __repr__(self) -> str:  # the wrapped client's key stays out of reprs
        return "MeteredVenue()"

    async def create_trade(
        self,
        market_id: str,
        outcome_index: int,
        side: Literal["buy", "sell"],
        amount: Decimal | str,
        *,
        client_request_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        not_after: float | None = None,
    ) -> TradeCreated:
        m = self._metrics
        key = (market_id, side)
        m.orders_sent[key] += 1
        try:
            return await self._inner.create_trade(
                market_id,
                outcome_index,
                side,
                amount,
                client_request_id=client_request_id,
                metadata=metadata,
                idempotency_key=idempotency_key,
                not_after=not_after,
            )
        except OutcomeUnknownError:
            m.orders_outcome_unknown[key] += 1
            raise
        except KashError as exc:
            m.orders_refused[(market_id, side, exc.code or type(exc).__name__)] += 1
            raise

    async def confirm_trade(self, trade_id: str, token: str) -> Trade:
        return await self._inner.confirm_trade(trade_id, token)

    async def get_trade(self, trade_id: str) -> Trade:
        return await self._inner.get_trade(trade_id)

    async def list_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Trade]:
        return await self._inner.list_trades(
            status=status, market_id=market_id, limit=limit, cursor=cursor
        )

    async def list_positions(self, market_id: str | None = None) -> list[Position]:
        return await self._inner.list_positions(market_id)


async def watch_loop_lag(metrics: DaemonMetrics, interval_s: float) -> None:
    """Sample how late a plain ``asyncio.sleep`` wakes: the loop's own scheduling lag."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval_s)
        metrics.observe_loop_lag(max(0.0, loop.time() - start - interval_s))
