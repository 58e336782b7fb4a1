"""The book in /metrics (issue 15): positions, exposure vs caps, realised and marked PnL, fees
and per-strategy errors, scraped after a paper run and compared with ``kashbot status``'s JSON
and the engine's state (the exact ints behind both)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from daemon_cfg import FAIR_VALUE, daemon_cfg
from prometheus_client.parser import text_string_to_metric_families

from kashbot.app.daemon import Daemon
from kashbot.events import Side
from kashbot.obs.book import fill_fee
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(90)

Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]


def parse(text: str) -> Scrape:
    out: Scrape = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def usdc(value: str) -> float:
    return float(Decimal(value))


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=5) as handle:
        yield handle


async def test_book_metrics_match_status(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    cfg = daemon_cfg(
        tmp_path / "b.sqlite",
        poller={"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 5},
        strategies=(FAIR_VALUE,),
        risk={
            "per_trade_cap_usdc": 50,
            "daily_cap_usdc": 2000,
            "max_market_exposure_usdc": 400,
            "max_total_exposure_usdc": 1500,
        },
        metrics={"enabled": True},
    )
    async with Daemon(cfg, sim=sim, control_port=0) as d, aiohttp.ClientSession() as http:
        assert d.control is not None
        runner = asyncio.create_task(d.run())
        for _ in range(600):
            await asyncio.sleep(0.05)
            if len(d.engine.state.fills) >= 4:
                break
        d.stop()
        await runner
        before = d.engine.strategy_error_counts().get(("fv", "Timer"), 0)
        # what the engine's strategy runner records when a handler raises on a Timer
        d.engine.errors.record("fv", "Timer", RuntimeError("boom"))
        async with http.get(f"{d.control.url}/metrics") as resp:
            assert resp.status == 200
            scrape = parse(await resp.text())
        status = d.status_json()
        snap = d.snapshot()  # the exact ints behind the JSON's 2-decimal strings
        state = d.engine.state
        exposure = d.gate.exposure.by_market()
    assert len(state.fills) >= 4
    assert status["positions"], "the run should leave open positions"

    cent = 0.01  # the JSON cuts to cents
    for p, exact in zip(status["positions"], snap.positions, strict=True):
        key = (("market", p["market_id"]), ("outcome", str(p["outcome"])))
        assert scrape["kashbot_position_tokens"][key] == pytest.approx(float(p["shares"]))
        assert scrape["kashbot_position_cost_usdc"][key] == pytest.approx(
            usdc(p["cost_usdc"]), abs=cent
        )
        assert scrape["kashbot_position_cost_usdc"][key] == exact.cost / 1e6
        assert scrape["kashbot_position_value_usdc"][key] == pytest.approx(
            usdc(p["value_usdc"]), abs=cent
        )
        assert scrape["kashbot_position_value_usdc"][key] == exact.value / 1e6
        assert scrape["kashbot_position_marked"][key] == (1.0 if p["marked"] else 0.0)
    assert len(scrape["kashbot_position_tokens"]) == len(status["positions"])

    pnl = status["pnl_usdc"]
    total = scrape["kashbot_pnl_marked_total_usdc"][()]
    assert total == pytest.approx(usdc(pnl["total"]), abs=cent) and total == snap.pnl / 1e6
    realized_total = scrape["kashbot_pnl_realized_total_usdc"][()]
    assert realized_total == pytest.approx(usdc(pnl["realized"]), abs=cent)
    assert realized_total == snap.realized / 1e6
    assert sum(scrape["kashbot_pnl_marked_usdc"].values()) == pytest.approx(total, abs=1e-5)
    realized = scrape.get("kashbot_pnl_realized_usdc", {})
    assert sum(realized.values()) == pytest.approx(realized_total, abs=1e-5)

    assert scrape["kashbot_exposure_total_usdc"][()] == pytest.approx(d.gate.total_exposure() / 1e6)
    assert {k[0][1]: v for k, v in scrape["kashbot_exposure_usdc"].items()} == pytest.approx(
        {m: v / 1e6 for m, v in exposure.items()}
    )
    caps = {k[0][1]: v for k, v in scrape["kashbot_exposure_cap_usdc"].items()}
    assert caps == {"market": 400.0, "total": 1500.0}

    fees = {k[0][1]: v for k, v in scrape["kashbot_fees_paid_usdc_total"].items()}
    expected: dict[str, int] = {}
    for f in state.fills:
        expected[f.market_id] = expected.get(f.market_id, 0) + fill_fee(f, state.fees)
        if f.side is Side.BUY:  # exact: Kash's 1 % protocol fee on the gross USDC, rounded up
            assert fill_fee(f, state.fees) == -(-f.usdc // 100)
    assert fees == pytest.approx({m: v / 1e6 for m, v in expected.items()})
    assert all(v > 0 for v in fees.values())

    errors = scrape["kashbot_strategy_errors_total"]
    assert errors[(("event_type", "Timer"), ("strategy", "fv"))] == before + 1
