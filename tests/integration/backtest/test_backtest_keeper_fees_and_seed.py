"""A keeper's backtest reports its creator-fee estimate; the CLI's seed is the scenario's."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console

from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.report import summary_table
from kashbot.backtest.runner import run_backtest_async
from kashbot.cli import main

ROOT = Path(__file__).resolve().parents[3]
TRENDING = ROOT / "configs" / "sim" / "heldout" / "trending.yaml"


def config(name: str, duration: float) -> dict[str, Any]:
    cfg = load_backtest_file(ROOT / "configs" / "backtest" / f"{name}.yaml")
    cfg["backtest"].update(duration_s=duration, plots=False)
    return cfg


async def test_keeper_report_has_creator_fees_per_own_market(tmp_path: Path) -> None:
    cfg = config("liquidity_keeper", 600.0)
    params = cfg["strategies"][0]["params"]
    report = await run_backtest_async(cfg, scenario=TRENDING, out_dir=tmp_path, progress=False)
    row = report.metrics["creator_fees_estimate"]["keeper"]
    assert set(row["by_market"]) == set(params["own_markets"])
    assert row["revenue_share_bps"] == params["revenue_share_bps"]
    assert all(n > 0 for n in row["others_trades"].values())
    assert Decimal(row["total_usdc"]) == sum(Decimal(v) for v in row["by_market"].values()) > 0
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["metrics"]["creator_fees_estimate"] == report.metrics["creator_fees_estimate"]
    console = Console(width=100, record=True)
    console.print(summary_table(report.metrics, art=report.artifacts))
    assert "creator fees est. keeper" in console.export_text()


async def test_no_keeper_no_creator_fees() -> None:
    report = await run_backtest_async(config("naive", 300.0), scenario=TRENDING, progress=False)
    assert "creator_fees_estimate" not in report.metrics


def test_cli_uses_the_scenario_seed_without_seed_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "bt.yaml"
    text = (ROOT / "configs" / "backtest" / "naive.yaml").read_text()
    cfg.write_text(text.replace("duration_s: 14400", "duration_s: 120"))
    out = tmp_path / "out"
    assert main(["backtest", str(cfg), "--scenario", str(TRENDING), "--out", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["inputs"]["seed"] == 7101
