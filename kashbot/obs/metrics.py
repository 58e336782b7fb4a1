"""Prometheus metrics for one daemon: a private registry, counters fed by the bus, gauges on scrape.

Why a custom collector instead of ``prometheus_client.Counter`` objects everywhere: the hot path
pays only a dict increment (bus subscribers for trade updates and denials, a wrapper around
``create_trade``), and everything that already exists as state (gate, budget, sources, engine
counters) is read when Prometheus scrapes, not pushed on every change. A backtest never builds
any of this. Each daemon owns its ``CollectorRegistry`` (never the process-global default), so
tests can run several daemons in one process.

Labels carry market ids, sides, reason codes and error codes only; never keys or secrets.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kashbot.client.errors import KashError, OutcomeUnknownError
from kashbot.client.models import TERMINAL_TRADE_STATUSES, Page, Position, Trade, TradeCreated
from kashbot.engine.bus import Bus
from kashbot.events import RiskDenied, TradeUpdate, TradingState
from kashbot.execution.venue import TradingVenue
from kashbot.money import USDC_ONE

_FINISHED_MEMORY = 4096  # terminal trade ids remembered, so a late duplicate is not re-counted
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class Readings:
    """Everything read at scrape time (the daemon fills it; ``None`` = not applicable)."""

    trading_state: str
    ready: bool
    events_processed: int
    intents_emitted: int
    strategy_errors: int
    inbox_depth: int
    inflight_intents: int
    pending_intents: int
    spend_used: int | None = None  # atomic USDC, rolling 24 h
    spend_cap: int | None = None
    requests_used: int | None = None  # last minute
    requests_budget: float | None = None  # our share, per minute
    requests_limit: int | None = None  # the server's quota, per minute
    quota_rejections: int | None = None  # real 429s
    requests_paused_s: float | None = None
    webhook: Mapping[str, int] | None = None  # accepted/duplicate/bad_signature/...
    webhook_unknown_types: Mapping[str, int] | None = None  # acked, not processed, by type
    stream_connects: int | None = None
    stream_disconnects: int | None = None
    poller_requests: int | None = None
    poller_errors: int | None = None
    market_age_s: Mapping[str, float] = field(default_factory=dict)
    market_stale: Mapping[str, bool] = field(default_factory=dict)
    timers_fired: Mapping[str, int] = field(default_factory=dict)
    timers_skipped: int = 0
    market_chain: Mapping[str, str] = field(default_factory=dict)  # market -> chainRef
    redemptions: Mapping[str, int] = field(default_factory=dict)  # kind -> positions closed
    redemption_payout: int = 0  # atomic USDC booked from redemptions
    redemptions_claimable: int = 0  # settled positions still to close
    deprecation_notices: int = 0  # responses that carried Deprecation/Sunset


def _usdc(atomic: int) -> float:
    return float(Decimal(atomic) / USDC_ONE)  # display only


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
        yield _counter(
            "kashbot_orders_sent",
            "Trade requests handed to the venue (a reconcile replay counts again)",
            ("market", "side"),
            self.orders_sent.items(),
        )
        yield _counter(
            "kashbot_orders_accepted",
            "Trades the venue created (first lifecycle update seen by this process)",
            ("market", "side"),
            self.orders_accepted.items(),
        )
        yield _counter(
            "kashbot_orders_completed",
            "Trades that reached status completed",
            ("market", "side"),
            self.orders_completed.items(),
        )
        yield _counter(
            "kashbot_orders_failed",
            "Trades that ended failed/rejected/cancelled/expired",
            ("market", "side", "status"),
            self.orders_failed.items(),
        )
        yield _counter(
            "kashbot_orders_refused",
            "Trade requests the venue definitely refused (no trade created), by error code",
            ("market", "side", "code"),
            self.orders_refused.items(),
        )
        yield _counter(
            "kashbot_orders_outcome_unknown",
            "Trade requests whose response was lost (reconciled before any retry)",
            ("market", "side"),
            self.orders_outcome_unknown.items(),
        )
        yield _counter(
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
            yield from _readings(self._read())


def _counter(
    name: str,
    doc: str,
    labels: Sequence[str],
    values: Iterable[tuple[tuple[str, ...], int]],
) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values):
        fam.add_metric(list(key), value)
    return fam


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _readings(r: Readings) -> Iterable[Metric]:
    """Scrape-time state, in exposition order: engine, spend and requests, feeds, markets."""
    yield from _engine_readings(r)
    yield from _budget_readings(r)
    yield from _feed_readings(r)
    yield from _market_readings(r)


def _engine_readings(r: Readings) -> Iterable[Metric]:
    state = GaugeMetricFamily(
        "kashbot_trading_state", "1 for the gate's current trading state", labels=["state"]
    )
    for s in TradingState:
        state.add_metric([s.value], 1.0 if r.trading_state == s.value else 0.0)
    yield state
    yield _gauge("kashbot_ready", "1 once recovery finished and the sources are live", r.ready)
    yield CounterMetricFamily(
        "kashbot_engine_events", "Events processed by the engine", value=r.events_processed
    )
    yield CounterMetricFamily(
        "kashbot_engine_intents", "Intents emitted by strategies", value=r.intents_emitted
    )
    yield CounterMetricFamily(
        "kashbot_engine_strategy_errors", "Strategy handler exceptions", value=r.strategy_errors
    )
    yield _gauge("kashbot_engine_inbox_depth", "Events waiting in the engine inbox", r.inbox_depth)
    yield _gauge(
        "kashbot_engine_inflight_intents", "Intents being sent right now", r.inflight_intents
    )
    yield _gauge(
        "kashbot_engine_pending_intents", "Intents not yet terminal or denied", r.pending_intents
    )


def _budget_readings(r: Readings) -> Iterable[Metric]:
    if r.spend_used is not None:
        yield _gauge("kashbot_spend_used_usdc", "Rolling-24h buy volume drawn", _usdc(r.spend_used))
    if r.spend_cap is not None:
        yield _gauge("kashbot_spend_cap_usdc", "Rolling-24h buy-volume cap", _usdc(r.spend_cap))
    if r.requests_used is not None:
        yield _gauge(
            "kashbot_requests_used", "Requests sent in the last minute (this user)", r.requests_used
        )
    if r.requests_budget is not None:
        yield _gauge(
            "kashbot_request_budget_per_minute",
            "Our share of the user's request quota",
            r.requests_budget,
        )
    if r.requests_limit is not None:
        yield _gauge(
            "kashbot_request_limit_per_minute", "The server's request quota", r.requests_limit
        )
    if r.quota_rejections is not None:
        yield CounterMetricFamily(
            "kashbot_rate_limited_responses",
            "HTTP 429 quota rejections received (should stay 0)",
            value=r.quota_rejections,
        )
    if r.requests_paused_s is not None:
        yield _gauge(
            "kashbot_requests_paused_seconds",
            "Time left in a Retry-After pause",
            r.requests_paused_s,
        )


def _feed_readings(r: Readings) -> Iterable[Metric]:
    if r.webhook is not None:
        hooks = CounterMetricFamily(
            "kashbot_webhook_deliveries",
            "Webhook deliveries by result (rejected: by reason)",
            labels=["result", "reason"],
        )
        for name, value in sorted(r.webhook.items()):
            if name in ("accepted", "duplicate"):
                result, reason = name, ""
            else:
                result, reason = "rejected", name
            hooks.add_metric([result, reason], value)
        yield hooks
    if r.webhook_unknown_types is not None:
        unknown = CounterMetricFamily(
            "kashbot_webhook_unknown_events",
            "Authentic webhook events of a type we do not know: acked, not processed",
            labels=["type"],
        )
        for kind, value in sorted(r.webhook_unknown_types.items()):
            unknown.add_metric([kind], value)
        yield unknown
    if r.stream_connects is not None:
        yield CounterMetricFamily(
            "kashbot_stream_connects", "Stream connections opened", value=r.stream_connects
        )
        yield CounterMetricFamily(
            "kashbot_stream_reconnects",
            "Stream connections opened after the first",
            value=max(0, r.stream_connects - 1),
        )
    if r.stream_disconnects is not None:
        yield CounterMetricFamily(
            "kashbot_stream_disconnects", "Stream connections lost", value=r.stream_disconnects
        )
    if r.poller_requests is not None:
        yield CounterMetricFamily(
            "kashbot_poller_requests", "Poller requests", value=r.poller_requests
        )
    if r.poller_errors is not None:
        yield CounterMetricFamily(
            "kashbot_poller_errors", "Poller requests that failed", value=r.poller_errors
        )


def _market_readings(r: Readings) -> Iterable[Metric]:
    age = GaugeMetricFamily(
        "kashbot_market_data_age_seconds", "Seconds since the market's last data", labels=["market"]
    )
    for market, seconds in sorted(r.market_age_s.items()):
        age.add_metric([market], seconds)
    yield age
    stale = GaugeMetricFamily(
        "kashbot_market_stale", "1 while a source reports the market stale", labels=["market"]
    )
    for market, flag in sorted(r.market_stale.items()):
        stale.add_metric([market], 1.0 if flag else 0.0)
    yield stale
    chain = GaugeMetricFamily(
        "kashbot_market_chain", "1 per market, labelled with its chain", labels=["market", "chain"]
    )
    for market, ref in sorted(r.market_chain.items()):
        chain.add_metric([market, ref], 1.0)
    yield chain
    yield from _lifecycle_readings(r)
    timers = CounterMetricFamily(
        "kashbot_timer_events", "Timer events fired, by timer name", labels=["name"]
    )
    for name, n in sorted(r.timers_fired.items()):
        timers.add_metric([name], n)
    yield timers
    yield CounterMetricFamily(
        "kashbot_timer_ticks_skipped",
        "Timer ticks skipped because the loop was late",
        value=r.timers_skipped,
    )


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


def _lifecycle_readings(r: Readings) -> Iterable[Metric]:
    """Redemptions and the venue's deprecation notices (issue 11)."""
    done = CounterMetricFamily(
        "kashbot_redemptions", "Settled positions closed, by kind", labels=["kind"]
    )
    for kind, n in sorted(r.redemptions.items()):
        done.add_metric([kind], n)
    yield done
    yield CounterMetricFamily(
        "kashbot_redemption_payout_usdc",
        "USDC booked from redemptions (the engine's expected payouts)",
        value=_usdc(r.redemption_payout),
    )
    yield _gauge(
        "kashbot_redemptions_claimable",
        "Positions in settled markets not closed yet",
        r.redemptions_claimable,
    )
    yield CounterMetricFamily(
        "kashbot_client_deprecation_notices",
        "Responses that carried Deprecation/Sunset for our pinned API version",
        value=r.deprecation_notices,
    )
