"""What the daemon reads at scrape time (:class:`Readings`) and the metric families it becomes.

Split from :mod:`kashbot.obs.metrics` (which counts what happens on the bus): everything here is
state that already exists (gate, budget, sources, engine counters, fair values), read only when
Prometheus scrapes. Labels carry market ids, source ids and kinds only; never keys or secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from kashbot.events import TradingState
from kashbot.money import USDC_ONE, WAD, Atomic, Wad
from kashbot.obs.book import BookReadings


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
    fair_value_age_s: Mapping[str, float] | None = None  # None: no fair-value sources
    fair_value_stale: Mapping[str, bool] = field(default_factory=dict)
    fair_value_restarts: Mapping[str, int] = field(default_factory=dict)  # source id -> restarts
    book: BookReadings | None = None  # positions, exposure, PnL, fees (None: not read)
    # (strategy id, event type) -> exceptions its handler raised (the engine's own counts)
    strategy_error_counts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    strategy_paused: Mapping[str, bool] = field(default_factory=dict)  # strategy id -> paused


# Money stays exact ints (atomic USDC, WAD tokens) everywhere else; Prometheus samples are
# floats, so the conversion happens here, at scrape time, and nowhere upstream of it.
def _usdc(atomic: Atomic) -> float:
    return float(Decimal(atomic) / USDC_ONE)


def _tokens(wad: Wad) -> float:
    return float(Decimal(wad) / WAD)


def counter_family(
    name: str,
    doc: str,
    labels: Sequence[str],
    values: Iterable[tuple[tuple[str, ...], int]],
) -> CounterMetricFamily:
    fam = CounterMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values):
        fam.add_metric(list(key), value)
    return fam


def flag_family(name: str, doc: str, label: str, flags: Mapping[str, bool]) -> GaugeMetricFamily:
    """A 0/1 gauge per label value (Prometheus has no boolean type), in label order."""
    fam = GaugeMetricFamily(name, doc, labels=[label])
    for key, flag in sorted(flags.items()):
        fam.add_metric([key], 1.0 if flag else 0.0)
    return fam


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def reading_metrics(r: Readings) -> Iterable[Metric]:
    """Scrape-time state, in exposition order: engine, spend and requests, feeds, markets."""
    yield from _engine_readings(r)
    yield from _budget_readings(r)
    yield from _feed_readings(r)
    yield from _market_readings(r)
    yield from _fair_value_readings(r)
    if r.book is not None:
        yield from _book_readings(r.book)


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
    yield counter_family(
        "kashbot_strategy_errors",
        "Exceptions raised by a strategy's handler, by strategy id and event type",
        ("strategy", "event_type"),
        r.strategy_error_counts.items(),
    )
    yield flag_family(
        "kashbot_strategy_paused",
        "1 while a strategy is paused after repeated exceptions (kashbot strategy resume ID)",
        "strategy",
        r.strategy_paused,
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
    yield flag_family(
        "kashbot_market_stale",
        "1 while a source reports the market stale",
        "market",
        r.market_stale,
    )
    chain = GaugeMetricFamily(
        "kashbot_market_chain", "1 per market, labelled with its chain", labels=["market", "chain"]
    )
    for market, ref in sorted(r.market_chain.items()):
        chain.add_metric([market, ref], 1.0)
    yield chain
    yield from _lifecycle_readings(r)
    yield counter_family(
        "kashbot_timer_events",
        "Timer events fired, by timer name",
        ("name",),
        (((name,), n) for name, n in r.timers_fired.items()),
    )
    yield CounterMetricFamily(
        "kashbot_timer_ticks_skipped",
        "Timer ticks skipped because the loop was late",
        value=r.timers_skipped,
    )


def _lifecycle_readings(r: Readings) -> Iterable[Metric]:
    """Redemptions and the venue's deprecation notices (issue 11)."""
    yield counter_family(
        "kashbot_redemptions",
        "Settled positions closed, by kind",
        ("kind",),
        (((kind,), n) for kind, n in r.redemptions.items()),
    )
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


def _fair_value_readings(r: Readings) -> Iterable[Metric]:
    """Fair-value sources (kashbot.fairvalue): age per market, stale flags, source restarts."""
    if r.fair_value_age_s is None:
        return
    age = GaugeMetricFamily(
        "kashbot_fair_value_age_seconds",
        "Seconds since a source last vouched for the market's fair value",
        labels=["market"],
    )
    for market, seconds in sorted(r.fair_value_age_s.items()):
        age.add_metric([market], seconds)
    yield age
    yield flag_family(
        "kashbot_fair_value_stale",
        "1 while the market's fair value is stale (buys refused there)",
        "market",
        r.fair_value_stale,
    )
    yield counter_family(
        "kashbot_fair_value_source_restarts",
        "Fair-value sources restarted after dying, by source id",
        ("source",),
        (((k,), v) for k, v in r.fair_value_restarts.items()),
    )


def _usdc_family(
    name: str, doc: str, labels: Sequence[str], values: Iterable[tuple[tuple[str, ...], Atomic]]
) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, atomic in values:
        fam.add_metric(list(key), _usdc(atomic))
    return fam


def _book_readings(b: BookReadings) -> Iterable[Metric]:
    """Positions, exposure against the caps, realised and marked PnL, fees (in USDC)."""
    pos = [((p.market_id, str(p.outcome)), p) for p in b.positions]
    tokens = GaugeMetricFamily(
        "kashbot_position_tokens", "Outcome tokens held", labels=["market", "outcome"]
    )
    for key, p in pos:
        tokens.add_metric(list(key), _tokens(p.tokens))
    yield tokens
    yield _usdc_family(
        "kashbot_position_cost_usdc",
        "Cost basis of the tokens held",
        ("market", "outcome"),
        ((k, p.cost) for k, p in pos),
    )
    yield _usdc_family(
        "kashbot_position_value_usdc",
        "What selling the position into the current pool would pay (cost if the pool is unknown)",
        ("market", "outcome"),
        ((k, p.value) for k, p in pos),
    )
    marked = GaugeMetricFamily(
        "kashbot_position_marked",
        "1 if the position is marked at the pool, 0 if at cost (pool unknown)",
        labels=["market", "outcome"],
    )
    for key, p in pos:
        marked.add_metric(list(key), 1.0 if p.marked else 0.0)
    yield marked
    yield _usdc_family(
        "kashbot_exposure_usdc",
        "Exposure per market (cost basis held plus buys in flight)",
        ("market",),
        (((m,), v) for m, v in sorted(b.exposure.items())),
    )
    yield _gauge(
        "kashbot_exposure_total_usdc", "Exposure over all markets", _usdc(b.exposure_total)
    )
    caps = [("market", b.market_exposure_cap), ("total", b.total_exposure_cap)]
    yield _usdc_family(
        "kashbot_exposure_cap_usdc",
        "Configured exposure caps (scope market: each market's; total: all markets')",
        ("scope",),
        (((scope,), cap) for scope, cap in caps if cap is not None),
    )
    yield _usdc_family(
        "kashbot_pnl_realized_usdc",
        "Realised PnL per market (sales and redemptions minus the cost they released)",
        ("market",),
        (((m,), v) for m, v in sorted(b.realized.items())),
    )
    yield _gauge(
        "kashbot_pnl_realized_total_usdc", "Realised PnL, all markets", _usdc(b.realized_total)
    )
    yield _usdc_family(
        "kashbot_pnl_marked_usdc",
        "PnL at mark per market: realised plus open positions at the pool's exit value",
        ("market",),
        (((m,), v) for m, v in b.marked().items()),
    )
    yield _gauge(
        "kashbot_pnl_marked_total_usdc",
        "PnL at mark, all markets (the status view's PnL@mark)",
        _usdc(b.realized_total + b.unrealized_total),
    )
    fees = CounterMetricFamily(
        "kashbot_fees_paid_usdc",
        "Fees paid on our fills (from the fee schedule; the venue reports none per trade)",
        labels=["market"],
    )
    for m, atomic in sorted(b.fees.items()):
        fees.add_metric([m], _usdc(atomic))
    yield fees
