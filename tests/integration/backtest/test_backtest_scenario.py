"""Scenario backtests end to end: byte-identical reports, the CLI, a sweep over processes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.runner import run_backtest_async, run_unit
from kashbot.backtest.sweep import parse_axes, run_sweep
from kashbot.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "configs" / "backtest.example.yaml"
SCENARIO = ROOT / "configs" / "sim" / "default.yaml"


def _config(duration: float = 900.0) -> dict[str, Any]:
    cfg = load_backtest_file(EXAMPLE)
    cfg["backtest"].update(duration_s=duration, plots=False)
    return cfg


async def test_backtest_same_inputs_and_seed_give_identical_report(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ra = await run_backtest_async(_config(), scenario=SCENARIO, seed=5, out_dir=a, progress=False)
    await run_backtest_async(_config(), scenario=SCENARIO, seed=5, out_dir=b, progress=False)
    await run_backtest_async(_config(), scenario=SCENARIO, seed=6, out_dir=c, progress=False)
    assert (a / "report.json").read_bytes() == (b / "report.json").read_bytes()
    assert (a / "trades.csv").read_bytes() == (b / "trades.csv").read_bytes()
    assert (a / "report.json").read_bytes() != (c / "report.json").read_bytes()
    assert ra.metrics["trades"] > 0  # the strategy did trade against the noise
    assert ra.metrics["requests_used"] >= ra.metrics["trades"]


def test_backtest_cli_writes_outputs(tmp_path: Path) -> None:
    cfg = tmp_path / "bt.yaml"
    text = EXAMPLE.read_text().replace("duration_s: 21600", "duration_s: 300")
    cfg.write_text(text)
    out = tmp_path / "out"
    rc = main(["backtest", str(cfg), "--scenario", str(SCENARIO), "--out", str(out), "--seed", "2"])
    assert rc == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["inputs"]["seed"] == 2
    for name in ("trades.csv", "equity.png", "prices.png", "inventory.png"):
        assert (out / name).stat().st_size > 0


def test_backtest_cli_rejects_bad_config_with_line(tmp_path: Path, capsys: Any) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(EXAMPLE.read_text().replace("  per_trade_cap_usdc: 50", "  per_trade_cap: 50"))
    rc = main(["backtest", str(cfg), "--scenario", str(SCENARIO), "--out", str(tmp_path / "o")])
    assert rc == 2  # config errors exit 2 in every command
    assert "bad.yaml:" in capsys.readouterr().err


def test_backtest_sweep_runs_the_real_unit_on_processes() -> None:
    cfg = _config(duration=300.0)
    cfg["backtest"]["scenario"] = str(SCENARIO)
    axes = parse_axes(["strategies.0.params.edge_bps=50,400"])
    rows = run_sweep(run_unit, cfg, axes, seed=1, workers=2, progress=False)
    assert [r.error for r in rows] == [None, None]
    assert rows[0].metrics["trades"] >= rows[1].metrics["trades"]  # a wider edge trades less


async def test_backtest_report_does_not_depend_on_where_the_inputs_are(tmp_path: Path) -> None:
    """Two checkouts, same scenario bytes: same report.json (the CLI passes absolute paths)."""
    outs = []
    for where in ("checkout-a", "deeper/checkout-b"):
        copy = tmp_path / where / "default.yaml"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(SCENARIO.read_bytes())
        cfg = _config(duration=300.0)
        cfg["backtest"]["scenario"] = str(copy.resolve())
        out = tmp_path / where / "out"
        await run_backtest_async(cfg, seed=3, out_dir=out, progress=False)
        outs.append(out)
    a, b = ((o / "report.json").read_bytes() for o in outs)
    assert a == b
    doc = json.loads(a)
    assert str(tmp_path) not in a.decode()
    assert doc["inputs"]["settings"]["scenario"] == "default.yaml"
    assert doc["inputs"]["scenario"] == "default.yaml"
    assert doc["inputs"]["scenario_sha256"] == hashlib.sha256(SCENARIO.read_bytes()).hexdigest()
