"""DaemonMetrics counting rules, MeteredVenue, per-instance registries and the HTTP routes."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kashbot.app.control import ControlServer
from kashbot.client.errors import KashError, OutcomeUnknownError
from kashbot.engine.bus import Bus
from kashbot.events import RiskDenied, Side, TradeUpdate
from kashbot.obs.http import Health, obs_routes
from kashbot.obs.metrics import DaemonMetrics, MeteredVenue, Readings


def scrape(m: DaemonMetrics) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(m.exposition().decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def tu(trade: str, status: str, side: Side = Side.BUY, market: str = "m1") -> TradeUpdate:
    return TradeUpdate(1.0, trade, "i-" + trade, market, 0, side, 5_000_000, status)


def test_trade_updates_count_accepted_once_and_terminal_once() -> None:
    m = DaemonMetrics()
    bus = Bus()
    m.attach(bus)
    for ev in (
        tu("t1", "pending"),
        tu("t1", "executing"),
        tu("t1", "completed"),
        tu("t1", "completed"),  # a late duplicate
        tu("t2", "failed", Side.SELL),  # accepted and terminal in one update
        tu("t3", "pending_confirmation"),
    ):
        bus.publish(ev)
    bus.publish(RiskDenied(1.0, "i9", "fv", "m1", "DAILY_CAP"))
    bus.publish(RiskDenied(1.0, "i8", "fv", "m1", "DAILY_CAP"))
    got = scrape(m)
    assert got["kashbot_orders_accepted_total"] == {
        (("market", "m1"), ("side", "buy")): 2,
        (("market", "m1"), ("side", "sell")): 1,
    }
    assert got["kashbot_orders_completed_total"] == {(("market", "m1"), ("side", "buy")): 1}
    assert got["kashbot_orders_failed_total"] == {
        (("market", "m1"), ("side", "sell"), ("status", "failed")): 1
    }
    assert got["kashbot_risk_denials_total"] == {(("reason", "DAILY_CAP"),): 2}


def test_each_daemon_has_its_own_registry() -> None:
    a, b = DaemonMetrics(), DaemonMetrics()  # would raise "Duplicated timeseries" if shared
    a.on_denied(RiskDenied(1.0, "i", "s", "m", "HALTED"))
    assert "kashbot_risk_denials_total" in scrape(a)
    assert "kashbot_risk_denials_total" not in scrape(b)


def test_readings_become_gauges_and_counters() -> None:
    r = Readings(
        trading_state="REDUCING",
        ready=True,
        events_processed=42,
        intents_emitted=3,
        strategy_errors=0,
        inbox_depth=1,
        inflight_intents=0,
        pending_intents=2,
        spend_used=12_500_000,
        spend_cap=2_000_000_000,
        requests_used=7,
        requests_budget=240.0,
        requests_limit=300,
        quota_rejections=1,
        webhook={"accepted": 5, "duplicate": 2, "bad_signature": 1, "malformed": 0},
        stream_connects=3,
        stream_disconnects=2,
        market_age_s={"m1": 1.5},
        market_stale={"m1": True},
        timers_fired={"beat": 4},
    )
    m = DaemonMetrics(lambda: r)
    m.observe_loop_lag(0.02)
    got = scrape(m)
    assert got["kashbot_trading_state"][(("state", "REDUCING"),)] == 1
    assert got["kashbot_trading_state"][(("state", "ACTIVE"),)] == 0
    assert got["kashbot_engine_events_total"][()] == 42
    assert got["kashbot_spend_used_usdc"][()] == 12.5
    assert got["kashbot_spend_cap_usdc"][()] == 2000
    assert got["kashbot_rate_limited_responses_total"][()] == 1
    assert got["kashbot_webhook_deliveries_total"][(("reason", ""), ("result", "duplicate"))] == 2
    rejected = (("reason", "bad_signature"), ("result", "rejected"))
    assert got["kashbot_webhook_deliveries_total"][rejected] == 1
    assert got["kashbot_stream_reconnects_total"][()] == 2
    assert got["kashbot_market_stale"][(("market", "m1"),)] == 1
    assert got["kashbot_timer_events_total"][(("name", "beat"),)] == 4
    assert got["kashbot_event_loop_lag_seconds_count"][()] == 1
    assert got["kashbot_event_loop_lag_last_seconds"][()] == 0.02
    assert "kashbot_poller_requests_total" not in got  # no poller: no series


class _Venue:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    async def create_trade(self, market_id: str, *args: Any, **kw: Any) -> Any:
        self.calls.append({"market_id": market_id, **kw})
        if self.error is not None:
            raise self.error
        return "created"

    async def confirm_trade(self, trade_id: str, token: str) -> Any:
        return ("confirmed", trade_id)

    async def get_trade(self, trade_id: str) -> Any:
        return trade_id

    async def list_trades(self, **kw: Any) -> Any:
        return kw

    async def list_positions(self, market_id: str | None = None) -> Any:
        return [market_id]


@pytest.mark.parametrize(
    ("error", "series"),
    [
        (None, None),
        (KashError(code="SPENDING_LIMIT_EXCEEDED", status=409), "kashbot_orders_refused_total"),
        (
            OutcomeUnknownError("timed out", idempotency_key="k1", body=b"{}"),
            "kashbot_orders_outcome_unknown_total",
        ),
    ],
)
async def test_metered_venue_counts_requests_and_delegates(
    error: Exception | None, series: str | None
) -> None:
    m = DaemonMetrics()
    inner = _Venue(error)
    venue: Any = MeteredVenue(inner, m)
    kw: Mapping[str, Any] = {"client_request_id": "i1", "idempotency_key": "k1"}
    if error is None:
        assert await venue.create_trade("m1", 0, "buy", Decimal("5"), **kw) == "created"
    else:
        with pytest.raises(type(error)):
            await venue.create_trade("m1", 0, "buy", Decimal("5"), **kw)
    assert inner.calls[0]["idempotency_key"] == "k1"  # passed through untouched
    got = scrape(m)
    assert got["kashbot_orders_sent_total"] == {(("market", "m1"), ("side", "buy")): 1}
    if series is not None:
        assert sum(got[series].values()) == 1
    assert await venue.list_positions("m2") == ["m2"]
    assert await venue.list_trades(market_id="m3") == {
        "status": None,
        "market_id": "m3",
        "limit": None,
        "cursor": None,
    }


async def test_routes_serve_metrics_health_and_readiness() -> None:
    m = DaemonMetrics()
    health = Health(live=True, ready=False, checks={"recovered": True, "stream_connected": False})
    server = ControlServer(routes=obs_routes(m, lambda: health), port=0, label="metrics")
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/metrics") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=")
                assert "kashbot_event_loop_lag_seconds" in await resp.text()
            async with http.get(f"{server.url}/readyz") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["failing"] == ["stream_connected"]
            health.ready = True
            async with http.get(f"{server.url}/readyz") as resp:
                assert resp.status == 200
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 200
            health.live = False
            async with http.get(f"{server.url}/healthz") as resp:
                assert resp.status == 503
            async with http.post(f"{server.url}/halt") as resp:
                assert resp.status in (404, 405)  # no control actions on a metrics-only listener
    finally:
        await server.stop()
