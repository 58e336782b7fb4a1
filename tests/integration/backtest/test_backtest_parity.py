"""Issue 5, acceptance 2: a paper run and the backtest of its recording emit the same intents.

The paper side is the real daemon path (``kashbot.backtest.record.record``: ``Daemon`` with the
journal attached) against ``run_sim`` at time scale 10 on 127.0.0.1: poller quotes reveal the
pools, the stream reports every trade, the sim's truth is the fair value, our trades go through
the gate, executor, HTTP and signed webhooks. Other traders are this test's seeded flow, applied
to the simulator's venue once the daemon's stream has subscribed (the scenario's noise traders are
off: trades made before the subscription would be invisible to any journal, see
docs/backtesting.md). The backtest replays that journal "as observed" through the same engine,
strategy, gate and executor against the in-process venue built from the journal's scenario.

What is compared: every intent's market, outcome, side, amount, limit and closing flag, in order
(ids and creation times differ by construction), and every fill's tokens. The replay also checks
itself: each recorded trade of others must land on the recorded chance, each of our fills on the
recorded fill.
"""

from __future__ import annotations

import asyncio
import io
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from kashbot.backtest.observed import intent_key
from kashbot.backtest.record import record
from kashbot.backtest.recording import read_journal
from kashbot.backtest.runner import run_backtest_async
from kashbot.config import parse_config
from kashbot.events import OrderIntent, Side
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict

pytestmark = pytest.mark.timeout(60)

TIME_SCALE = 10.0
SEED = 11
RUN_S = 8.0  # wall seconds of paper trading (80 simulated seconds)


def _scenario(path: Path) -> Path:
    sc = scenario_dict()
    sc["markets"] = sc["markets"][:2]  # a binary and a three-outcome market
    for m in sc["markets"]:
        m["noise"] = {**m.get("noise", {}), "enabled": False}
    path.write_text(yaml.safe_dump(sc))
    return path


def _config(scenario: Path, store: Path) -> dict[str, Any]:
    text = f"""
venue:
  mode: paper
  sim: {{scenario: {scenario}, seed: {SEED}, time_scale: {TIME_SCALE}, key_tier: developer}}
risk:
  per_trade_cap_usdc: 50
  daily_cap_usdc: 2000
  max_market_exposure_usdc: 400
  max_total_exposure_usdc: 1500
  confirm_ceiling_usdc: 0
sources:
  poller: {{markets_interval_s: 2, predictions_interval_s: 0, quotes_interval_s: 1.5}}
  webhook: {{port: 0}}
  stream: {{heartbeat_timeout_s: 5, stale_after_s: 30}}
  sim_truth: {{enabled: true, interval_s: 0.5}}
markets: all
strategies:
  - name: fair_value
    id: fv
    params: {{edge_bps: 50, max_trade_usdc: 10, max_position_usdc: 200, cooldown_s: 0.5}}
store: {{path: {store}}}
logging: {{level: warning, format: json}}
status: {{enabled: false}}
control: {{enabled: false}}
engine: {{shutdown_grace_s: 3}}
"""
    raw = yaml.safe_load(text)
    parse_config(text, "parity.yaml", {})  # the daemon's own validation
    assert isinstance(raw, dict)
    return raw


async def _others_trade(sim: SimHandle, rng: random.Random) -> None:
    """Seeded flow of other traders, after the daemon's stream has subscribed to every market."""
    markets = sim.market_ids
    await sim.wait_until(
        lambda: any(len(c.markets) == len(markets) for c in sim.server.hub.conns), within=10
    )
    while True:
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        mid = rng.choice(markets)
        n = sim.venue.markets[mid].pool.outcome_count
        outcome = rng.randrange(n)
        draw = rng.random()
        if draw < 0.15:  # a large buyer: pushes a chance past our sell limit now and then
            sim.venue.apply_external_trade(mid, outcome, "buy", rng.randint(400, 1500) * 10**6)
        elif draw < 0.8:
            sim.venue.apply_external_trade(mid, outcome, "buy", rng.randint(2, 200) * 10**6)
        else:
            sim.venue.apply_external_trade(mid, outcome, "sell", rng.randint(1, 150) * 10**18)


def _venue_fills(sim: SimHandle) -> list[tuple[str, int, int]]:
    """Our completed trades as the paper venue executed them: (side, USDC, tokens), in order."""
    key_id = sim.key("developer").key_id
    done = sorted(
        (t for t in sim.venue.trades.values() if t.key_id == key_id and t.status == "completed"),
        key=lambda t: t.updated_at,
    )
    return [
        (t.side, t.amount, t.tokens_out or 0)
        if t.side == "buy"
        else (t.side, t.payout or 0, t.tokens_in or 0)
        for t in done
    ]


def _backtest_keys(intents: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            i["market_id"],
            i["outcome"],
            i["side"],
            int(i["amount"]),
            None if i["limit_probability"] is None else int(i["limit_probability"]),
            i["closing"],
        )
        for i in intents
    ]


async def test_paper_run_and_backtest_of_its_recording_emit_the_same_intents(
    tmp_path: Path,
) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    scenario = _scenario(tmp_path / "parity-scenario.yaml")
    raw = _config(scenario, tmp_path / "paper.sqlite")
    cfg = parse_config(yaml.safe_dump(raw), "parity.yaml", {})
    journal = tmp_path / "paper.jsonl.gz"
    async with run_sim(scenario, seed=SEED, time_scale=TIME_SCALE) as sim:
        flow = asyncio.create_task(_others_trade(sim, random.Random(SEED)))
        try:
            await record(cfg, journal, RUN_S, config_name="parity.yaml", sim=sim)
        finally:
            flow.cancel()
        paper_fills = _venue_fills(sim)  # the simulator's ground truth, not the journal
    header, events = read_journal(journal)
    assert header.meta["scenario"] == str(scenario.resolve())
    paper_intents = [intent_key(e) for e in events if isinstance(e, OrderIntent)]
    assert len(paper_intents) >= 8, "the scenario must make the strategy trade"
    sides = {k[2] for k in paper_intents}
    assert sides == {Side.BUY.value, Side.SELL.value}, "buys and (closing) sells both occur"

    bt = {**raw, "backtest": {"replay": "observed", "plots": False, "settle_s": 5}}
    report = await run_backtest_async(bt, data=journal, out_dir=tmp_path / "bt", progress=False)

    assert _backtest_keys(report.artifacts.intents) == paper_intents
    assert [(f.side.value, f.usdc, f.tokens) for f in report.artifacts.fills] == paper_fills
    observed = report.metrics["observed_replay"]
    assert observed["matched_intents"] == len(paper_intents)
    assert observed["first_divergence"] is None
    assert observed["flow_price_mismatches"] == 0  # the venue's pools are the paper run's
    assert observed["own_fill_mismatches"] == 0
    assert observed["anchored_trades"] == len(paper_fills)  # every fill placed as recorded
    assert report.inputs["venue_from"] == "journal scenario"

    # acceptance 1 for recordings: the same journal gives the same bytes
    again = await run_backtest_async(bt, data=journal, out_dir=tmp_path / "bt2", progress=False)
    assert again.metrics == report.metrics
    assert (tmp_path / "bt" / "report.json").read_bytes() == (
        tmp_path / "bt2" / "report.json"
    ).read_bytes()
