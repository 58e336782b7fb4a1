"""Backtests on an external fair-value file ("my model against Kash"): on a scenario (the model
replaces the simulator's truth) and on a recording (it replaces the recorded fair values);
deterministic, named in report.json by file name and SHA-256, and refused where it cannot apply."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kashbot import amm
from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.inputs import BacktestError
from kashbot.backtest.recording import Recordable
from kashbot.backtest.runner import run_backtest_async
from kashbot.cli import main
from kashbot.events import FairValueUpdate, MarketSnapshot
from kashbot.fairvalue import to_wad_chances
from kashbot.money import USDC_ONE, WAD

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "configs" / "backtest.example.yaml"
SCENARIO = ROOT / "configs" / "sim" / "default.yaml"
T0 = 1_767_225_600  # the default scenario's start_time, 2026-01-01T00:00:00Z
RAIN = "610464bf-ef0e-4a59-8144-c69601eef85e"  # binary
RACE = "7c06e2e5-dd34-4334-9c82-e4fba33bff68"  # three outcomes

MODEL_CSV = f"""market,ts,p0,p1,p2,confidence
{RAIN},{T0},0.70,0.30,,0.9
{RACE},{T0},0.2,0.5,0.3,
{RAIN},2026-01-01T00:05:00Z,0.35,0.65,,
not-in-the-scenario,{T0},0.5,0.5,,
"""


def _config(duration: float = 600.0, **backtest: Any) -> dict[str, Any]:
    cfg = load_backtest_file(EXAMPLE)
    cfg["backtest"].update(duration_s=duration, plots=False, **backtest)
    return cfg


async def test_scenario_with_a_model_file_is_deterministic_and_differs(tmp_path: Path) -> None:
    model = tmp_path / "model.csv"
    model.write_text(MODEL_CSV)
    runs = {}
    for name, fv in (("a", model), ("b", model), ("none", None)):
        runs[name] = await run_backtest_async(
            _config(), scenario=SCENARIO, fair_values=fv, out_dir=tmp_path / name, progress=False
        )
    a, b, none = ((tmp_path / n / "report.json").read_bytes() for n in ("a", "b", "none"))
    assert a == b  # byte-identical
    assert a != none
    assert runs["a"].metrics["pnl_at_mark_usdc"] != runs["none"].metrics["pnl_at_mark_usdc"]
    inputs = json.loads(a)["inputs"]
    assert inputs["fair_values"] == "model.csv"
    assert inputs["fair_values_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert inputs["fair_value_rows"] == 4 and inputs["fair_value_rows_unknown_market"] == 1
    assert "fair_values" not in json.loads(none)["inputs"]["settings"]  # unchanged without one
    # the model alone: every fair value the run saw is the file's (no simulator truth)
    fair = runs["a"].artifacts.fair if runs["a"].artifacts is not None else {}
    assert set(fair) == {RAIN, RACE}
    assert [p for _, p in fair[RAIN]] == [(7 * WAD // 10, 3 * WAD // 10), _wad("0.35", "0.65")]


def _wad(*chances: str) -> tuple[int, ...]:
    return to_wad_chances([Decimal(c) for c in chances])


def test_cli_flag_names_the_file_in_the_report(tmp_path: Path) -> None:
    model = tmp_path / "my-model.jsonl"
    model.write_text(json.dumps({"ts": T0 + 60, "market": RAIN, "p_yes": "0.8"}) + "\n")
    cfg = tmp_path / "bt.yaml"
    cfg.write_text(
        EXAMPLE.read_text()
        .replace("duration_s: 21600", "duration_s: 300")
        .replace("plots: true", "plots: false")
    )
    out = tmp_path / "out"
    argv = ["backtest", str(cfg), "--scenario", str(SCENARIO), "--out", str(out)]
    assert main([*argv, "--fair-values", str(model)]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["inputs"]["fair_values"] == "my-model.jsonl"
    assert doc["inputs"]["settings"]["fair_values"] == "my-model.jsonl"  # a name, not a path


def test_cli_reports_a_bad_row_with_its_line(tmp_path: Path, capsys: Any) -> None:
    model = tmp_path / "bad.csv"
    model.write_text(f"market,ts,p0,p1\n{RAIN},{T0},0.7,0.7\n")
    argv = ["backtest", str(EXAMPLE), "--scenario", str(SCENARIO), "--out", str(tmp_path / "o")]
    assert main([*argv, "--fair-values", str(model)]) == 1
    assert "bad.csv:2:" in capsys.readouterr().err


# ---- a recording: the file's fair values replace the recorded ones ------------------------------

M = "11111111-2222-4333-8444-555555555555"
POOL = amm.seed_pool(1_000 * USDC_ONE, (WAD // 2, WAD // 2))


def _recording() -> list[Recordable]:
    snap = MarketSnapshot(T0, M, "ACTIVE", amm.probabilities(POOL), POOL, None, ("Y", "N"))
    return [snap, FairValueUpdate(T0 + 1, M, (WAD // 2, WAD // 2), "sim_truth"), snap]


def _data_config(**backtest: Any) -> dict[str, Any]:
    return {
        "venue": {"mode": "paper", "sim": {"key_tier": "developer"}},
        "risk": {"per_trade_cap_usdc": 100, "max_market_exposure_usdc": 1000},
        "markets": [M],
        "strategies": [{"name": "fair_value", "id": "fv", "params": {"max_trade_usdc": 10}}],
        "backtest": {"latency_s": 0, "plots": False, "settle_s": 5, **backtest},
    }


async def test_recording_fair_values_are_replaced_by_the_file(tmp_path: Path) -> None:
    model = tmp_path / "model.csv"
    model.write_text(f"market,ts,p_yes\n{M},{T0 + 2},0.8\n")
    plain = await run_backtest_async(_data_config(), data=_recording(), progress=False)
    assert plain.metrics["trades"] == 0  # the recorded fair value is the pool's: nothing to do
    cfg = _data_config(fair_values=str(model))
    ours = await run_backtest_async(cfg, data=_recording(), progress=False)
    assert ours.metrics["trades"] >= 1  # the model says 0.8: buy
    fair = ours.artifacts.fair[M] if ours.artifacts is not None else []
    assert [p for _, p in fair] == [_wad("0.8", "0.2")]  # the recorded one is gone


async def test_refused_where_it_cannot_apply(tmp_path: Path) -> None:
    model = tmp_path / "model.csv"
    model.write_text(f"market,ts,p0,p1\n{RACE},{T0},0.5,0.5\n")  # RACE has three outcomes
    with pytest.raises(BacktestError, match="3 outcomes"):
        await run_backtest_async(_config(60.0), scenario=SCENARIO, fair_values=model)
    with pytest.raises(BacktestError, match="replay: venue"):
        await run_backtest_async(
            _data_config(replay="observed"), data=_recording(), fair_values=model
        )


async def test_a_file_with_no_usable_row_still_replaces_the_truth(tmp_path: Path) -> None:
    model = tmp_path / "elsewhere.csv"
    model.write_text(f"market,ts,p_yes\nanother-venue-market,{T0},0.5\n")
    report = await run_backtest_async(
        _config(120.0), scenario=SCENARIO, fair_values=model, progress=False
    )
    assert report.inputs["fair_value_rows_unknown_market"] == 1
    assert report.artifacts is not None and report.artifacts.fair == {}  # no simulator truth
