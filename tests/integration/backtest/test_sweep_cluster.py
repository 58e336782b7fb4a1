"""A 16-backtest sweep (4 grid points × 4 seeds) on a Dask LocalCluster: the same sweep.json,
byte for byte, as the default process pool's, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kashbot.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "configs" / "backtest.example.yaml"
SCENARIO = ROOT / "configs" / "sim" / "default.yaml"


def _sweep(tmp_path: Path, name: str, *executor: str) -> bytes:
    cfg = tmp_path / "bt.yaml"
    cfg.write_text(EXAMPLE.read_text().replace("duration_s: 21600", "duration_s: 120"))
    out = tmp_path / name
    argv = ["backtest", str(cfg), "--scenario", str(SCENARIO), "--out", str(out)]
    argv += ["--sweep", "strategies.0.params.edge_bps=50,100,200,400", "--seeds", "1-4"]
    assert main([*argv, *executor]) == 0
    return (out / "sweep.json").read_bytes()


@pytest.mark.timeout(300)
def test_sweep_on_a_local_dask_cluster_matches_the_process_pool(tmp_path: Path) -> None:
    pool = _sweep(tmp_path, "pool", "--workers", "2")
    dask = _sweep(tmp_path, "dask", "--cluster", "local:2")
    assert dask == pool
    rows: list[dict[str, Any]] = json.loads(pool)
    assert len(rows) == 16
    assert [(r["params"]["strategies.0.params.edge_bps"], r["seed"]) for r in rows] == [
        (e, s) for e in (50, 100, 200, 400) for s in (1, 2, 3, 4)
    ]
    assert all(r["error"] is None for r in rows)
    assert len({r["metrics"]["report_sha256"] for r in rows}) == 16  # every run is its own
    assert sum(r["metrics"]["trades"] for r in rows) > 0


def test_cli_cluster_errors_name_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["backtest", str(EXAMPLE), "--scenario", str(SCENARIO), "--out", str(tmp_path)]
    assert main([*base, "--seeds", "1-2", "--cluster", "local:0"]) == 1
    assert "--cluster 'local:0'" in capsys.readouterr().err
    assert main([*base, "--cluster", "local:2"]) == 1  # a single backtest: nothing to spread
    assert "give --sweep or --seeds" in capsys.readouterr().err
    assert main([*base, "--seeds", "1,1"]) == 1
    assert "--seeds '1,1'" in capsys.readouterr().err
