"""Backtests follow the market lifecycle: no buy past a market's freeze margin, the settled
positions redeemed through the daemon's redeemer on the in-process venue, and report.json shows
realised PnL from redemptions apart (``metrics.redemptions``) and each market's chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.runner import run_backtest_async

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "configs" / "backtest.example.yaml"
SCENARIO = ROOT / "configs" / "sim" / "default.yaml"
SOLANA = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b11"  # freezes at 3:00, resolves Yes at 4:45
BASE = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b12"  # freezes at 4:00, resolves No at 5:50


def _config() -> dict[str, Any]:
    cfg = load_backtest_file(EXAMPLE)
    cfg["backtest"].update(duration_s=420, plots=False)
    return cfg


async def test_scenario_backtest_redeems_settled_positions(tmp_path: Path) -> None:
    report = await run_backtest_async(
        _config(), scenario=SCENARIO, seed=0, out_dir=tmp_path, progress=False
    )
    m = report.metrics
    red = m["redemptions"]
    assert red["positions"] >= 1
    assert red["payout_usdc"] != "0.000000" and red["realised_pnl_usdc"]
    assert m["requests_by_route"]["POST /v1/redemptions"] >= 1
    assert m["market_chains"][SOLANA] == "solana:mainnet-beta"
    assert m["market_chains"][BASE] == "evm:84532"
    # nothing is held in a settled market at the end: the payouts took the positions
    held = {k.split("/")[0] for k, v in m["final_inventory_tokens"].items() if v != "0"}
    assert SOLANA not in held and BASE not in held
    start = 1767225600.0  # the scenario's start_time, 2026-01-01T00:00:00Z
    margin = 60.0  # risk.freeze_margin_s default
    for fill in report.artifacts.fills:
        if fill.market_id == SOLANA and fill.side.value == "buy":
            assert fill.ts - start < 180 - margin + 1
        if fill.market_id == BASE and fill.side.value == "buy":
            assert fill.ts - start < 240 - margin + 1
