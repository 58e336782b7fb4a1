"""Issue 17: a backtest commits one store transaction per order (not four)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kashbot.backtest import assembly
from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.runner import run_backtest_async
from kashbot.store.store import Store

ROOT = Path(__file__).resolve().parents[3]


async def test_scenario_backtest_commits_one_transaction_per_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[Store] = []
    real_open = Store.open

    async def spy(path: Any, **kw: Any) -> Store:
        store = await real_open(path, **kw)
        opened.append(store)
        return store

    monkeypatch.setattr(assembly.Store, "open", spy)
    cfg = load_backtest_file(ROOT / "configs" / "backtest.example.yaml")
    cfg["backtest"].update(duration_s=900.0, plots=False)
    report = await run_backtest_async(
        cfg, scenario=ROOT / "configs" / "sim" / "default.yaml", seed=5, progress=False
    )
    (store,) = opened
    assert store.per_order is not None
    orders = report.metrics["intents"]
    assert report.metrics["trades"] > 0
    # every order ends in one commit; the store's close commits nothing left open
    assert 0 < store.per_order.transactions <= orders
