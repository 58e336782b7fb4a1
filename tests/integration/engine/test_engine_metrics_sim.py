"""The daemon's /metrics, /healthz and /readyz against the simulator (run_sim on 127.0.0.1).

The counters are compared with what happened: the simulator's ground truth (our key's trades),
the engine's state and the webhook receiver's own counts. A config-declared timer on a second
strategy shows up as Timer events in that strategy and in the scrape.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
import yaml
from daemon_cfg import FAIR_VALUE, daemon_cfg
from prometheus_client.parser import text_string_to_metric_families

from kashbot.app.daemon import Daemon
from kashbot.config import KashbotConfig
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import Event, OrderIntent, Timer
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(60)


class Heartbeat(Strategy[StrategyParams]):
    """Trades nothing; counts the timers it is sent."""

    name = "heartbeat"
    handles = (Timer,)
    seen: ClassVar[list[str]] = []

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        assert isinstance(event, Timer) and event.strategy == "hb"
        Heartbeat.seen.append(event.name)
        return []


def make_cfg(store: Path, metrics: str) -> KashbotConfig:
    """``metrics``: the control and metrics sections, as YAML."""
    heartbeat = {"name": f"{__name__}:Heartbeat", "id": "hb", "timers": {"beat": 0.2}}
    return daemon_cfg(
        store,
        poller={"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 5},
        stream={"heartbeat_timeout_s": 3, "stale_after_s": 10},
        strategies=(FAIR_VALUE, heartbeat),
        **yaml.safe_load(metrics),
    )


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3) as handle:
        yield handle


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def by(
    scrape: dict[str, list[tuple[dict[str, str], float]]], name: str, *labels: str
) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for lab, value in scrape.get(name, []):
        out[tuple(lab[k] for k in labels)] += int(value)
    return +out


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as resp:
        return resp.status, await resp.text()


async def test_metrics_scrape_matches_what_happened(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    Heartbeat.seen.clear()
    cfg = make_cfg(tmp_path / "m.sqlite", "control: {port: 0}\nmetrics: {enabled: true}")
    async with Daemon(cfg, sim=sim, control_port=0) as d, aiohttp.ClientSession() as http:
        assert d.control is not None and d.metrics_server is None  # one port for both
        base = d.control.url
        status, _ = await get(http, f"{base}/readyz")
        assert status == 503  # recovered, but the engine has not started yet
        runner = asyncio.create_task(d.run())
        ready_seen = False
        for _ in range(300):
            await asyncio.sleep(0.05)
            if not ready_seen:
                ready_seen = (await get(http, f"{base}/readyz"))[0] == 200
            if ready_seen and len(d.engine.state.fills) >= 3:
                break
        assert ready_seen
        status, body = await get(http, f"{base}/healthz")
        assert status == 200 and '"ok"' in body
        d.stop()
        await runner  # strategies stopped, in-flight trades followed to the end
        status, text = await get(http, f"{base}/metrics")
    assert status == 200
    scrape = samples(text)

    key = sim.key("developer")
    ours = [t for t in sim.venue.trades.values() if t.key_id == key.key_id]
    assert len(ours) >= 3
    per_side = Counter((t.market_id, str(t.side)) for t in ours)
    completed = Counter((t.market_id, str(t.side)) for t in ours if t.status == "completed")
    sent = by(scrape, "kashbot_orders_sent_total", "market", "side")
    refused = by(scrape, "kashbot_orders_refused_total", "market", "side")
    assert by(scrape, "kashbot_orders_accepted_total", "market", "side") == per_side
    assert sent == per_side + refused  # every request: a trade or a definite refusal
    assert by(scrape, "kashbot_orders_completed_total", "market", "side") == completed
    assert sum(by(scrape, "kashbot_orders_failed_total", "market").values()) == sum(
        t.status != "completed" for t in ours
    )
    assert by(scrape, "kashbot_orders_completed_total") == Counter({(): len(d.engine.state.fills)})
    denials = Counter((r.reason,) for r in d.engine.state.denials)
    assert by(scrape, "kashbot_risk_denials_total", "reason") == denials
    assert d.receiver is not None
    hooks = by(scrape, "kashbot_webhook_deliveries_total", "result")
    assert hooks[("accepted",)] == d.receiver.stats.accepted >= len(ours)
    assert scrape["kashbot_engine_events_total"][0][1] == d.engine.events_processed > 0
    assert scrape["kashbot_rate_limited_responses_total"][0][1] == 0
    assert scrape["kashbot_request_limit_per_minute"][0][1] == 300
    assert ({"state": "ACTIVE"}, 1.0) in scrape["kashbot_trading_state"]
    assert scrape["kashbot_spend_cap_usdc"][0][1] == 2000
    assert scrape["kashbot_spend_used_usdc"][0][1] == pytest.approx(
        sum(t.amount for t in ours if str(t.side) == "buy" and t.status == "completed") / 1e6
    )
    assert scrape["kashbot_stream_connects_total"][0][1] >= 1
    assert {lab["market"] for lab, _ in scrape["kashbot_market_data_age_seconds"]} == set(d.markets)
    assert "kashbot_event_loop_lag_seconds_count" in scrape
    beats = by(scrape, "kashbot_timer_events_total", "name")[("beat",)]
    # fired, not delivered: timers keep ticking while shutdown follows the last trades
    assert 1 <= Heartbeat.seen.count("beat") <= beats
    # no secret in the scrape
    assert key.api_key not in text
    assert all(s not in text for s in d.access.webhook_secrets)
    assert "kash_test_" not in text and "whsec_" not in text


async def test_metrics_on_their_own_port_without_control(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    cfg = make_cfg(
        tmp_path / "n.sqlite", "control: {enabled: false}\nmetrics: {enabled: true, port: 0}"
    )
    async with Daemon(cfg, sim=sim) as d, aiohttp.ClientSession() as http:
        assert d.control is None and d.metrics_server is not None
        base = d.metrics_server.url
        assert (await get(http, f"{base}/status"))[0] == 404  # no control actions here
        assert (await get(http, f"{base}/metrics"))[0] == 200
        status, body = await get(http, f"{base}/readyz")
        assert status == 503 and "engine_running" in body


def test_metrics_need_a_port_when_control_is_off(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"metrics\.port is required"):
        make_cfg(tmp_path / "x.sqlite", "control: {enabled: false}\nmetrics: {enabled: true}")
