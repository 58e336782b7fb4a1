"""The strategy library end to end: each built-in strategy, loaded by dotted path from its
configs/backtest/<name>.yaml, runs on a short held-out scenario, trades, and stays in its caps.

PnL rankings over the full runs are in docs/strategy-library.md; here only one ordering is
checked, on a cheap deterministic run where it is wide: the inventory-aware market maker beats
the naive baseline on the opening of the trending scenario (pools seeded far from the truth).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.report import Report
from kashbot.backtest.runner import run_backtest_async
from kashbot.events import Side
from kashbot.money import usdc_to_atomic

ROOT = Path(__file__).resolve().parents[3]
TRENDING = ROOT / "configs" / "sim" / "heldout" / "trending.yaml"
STRATEGIES = ["inventory_mm", "consistency", "expiry_manager", "liquidity_keeper", "naive"]


async def run(name: str, duration: float = 900.0) -> tuple[Report, dict[str, Any]]:
    cfg = load_backtest_file(ROOT / "configs" / "backtest" / f"{name}.yaml")
    cfg["backtest"].update(duration_s=duration, plots=False)
    report = await run_backtest_async(cfg, scenario=TRENDING, out_dir=None, progress=False)
    return report, cfg["strategies"][0]["params"]


def usdc(params: dict[str, Any], key: str) -> int:
    return usdc_to_atomic(Decimal(str(params[key])))


@pytest.mark.parametrize("name", STRATEGIES)
async def test_strategy_trades_within_its_caps(name: str) -> None:
    report, params = await run(name)
    fills = report.artifacts.fills
    assert report.metrics["trades"] > 0 and fills
    cost: dict[tuple[str, int], int] = defaultdict(int)
    spent: dict[str, int] = defaultdict(int)
    for f in fills:
        if f.side is Side.BUY:
            cost[(f.market_id, f.outcome)] += f.usdc
            spent[f.market_id] += f.usdc
    most = usdc(params, "size_usdc" if name == "naive" else "max_trade_usdc")
    assert all(f.usdc <= most for f in fills)
    # buys never take an outcome's paid-in USDC past the position cap (sells only reduce it)
    assert max(cost.values()) <= usdc(params, "max_position_usdc")
    if name == "liquidity_keeper":
        assert set(spent) <= set(params["own_markets"])
        assert max(spent.values()) <= usdc(params, "daily_budget_usdc")
    if name == "consistency":
        legs = {leg.rpartition(":")[0] for group in params["groups"] for leg in group}
        assert {f.market_id for f in fills} <= legs


async def test_inventory_mm_beats_the_naive_baseline_on_the_trend() -> None:
    mm, _ = await run("inventory_mm", duration=1800.0)
    naive, _ = await run("naive", duration=1800.0)
    assert Decimal(mm.metrics["pnl_at_mark_usdc"]) > Decimal(naive.metrics["pnl_at_mark_usdc"])
    assert Decimal(mm.metrics["pnl_at_mark_usdc"]) > 0
