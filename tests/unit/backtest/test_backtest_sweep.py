"""Sweep mechanics: axis parsing, config overrides, a process-pool grid, sorting."""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

from kashbot.backtest import sweep as sw


def dummy_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Top-level, so it pickles into worker processes like the real unit of work."""
    cfg = sw.apply_params(config, params)
    edge = cfg["strategies"][0]["params"]["edge_bps"]
    if edge == 13:
        raise RuntimeError("unlucky")
    return {"score": str(edge * cfg["size"] + seed), "pid": os.getpid()}


BASE = {"size": 1, "strategies": [{"name": "fair_value", "params": {"edge_bps": 10}}]}


def test_sweep_parse_axes_yaml_scalars() -> None:
    axes = sw.parse_axes(["a.b=1,2.5,x", "flag=true,false", 'q="0.5"'])
    assert axes == {"a.b": [1, 2.5, "x"], "flag": [True, False], "q": ["0.5"]}


@pytest.mark.parametrize("spec", ["noequals", "=1,2", "a=", "a=[1"])
def test_sweep_parse_axis_rejects(spec: str) -> None:
    with pytest.raises(sw.SweepError):
        sw.parse_axis(spec)


def test_sweep_duplicate_axis_rejected() -> None:
    with pytest.raises(sw.SweepError, match="twice"):
        sw.parse_axes(["a=1", "a=2"])


def test_sweep_grid_order_first_axis_slowest() -> None:
    assert sw.grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_sweep_set_path_deep_copies_and_indexes_lists() -> None:
    out = sw.set_path(BASE, "strategies.0.params.edge_bps", 50)
    assert out["strategies"][0]["params"]["edge_bps"] == 50
    assert BASE["strategies"][0]["params"]["edge_bps"] == 10  # type: ignore[index]
    with pytest.raises(sw.SweepError, match=r"strategies\.5"):
        sw.set_path(BASE, "strategies.5.params.x", 1)
    with pytest.raises(sw.SweepError, match="not a mapping"):
        sw.set_path(BASE, "size.x", 1)


def test_sweep_runs_grid_on_processes_and_sorts() -> None:
    axes = sw.parse_axes(["strategies.0.params.edge_bps=5,13,20", "size=1,3"])
    rows = sw.run_sweep(dummy_unit, BASE, axes, seed=7, workers=2, progress=False)
    assert [r.params for r in rows] == sw.grid(axes)  # grid order preserved
    assert [r.metrics.get("score") for r in rows] == ["12", "22", None, None, "27", "67"]
    assert [r.error for r in rows][2] == "RuntimeError: unlucky"
    assert all(r.metrics["pid"] != os.getpid() for r in rows if r.error is None)
    best = sw.sort_rows(rows, "score")
    assert [r.metrics.get("score") for r in best] == ["67", "27", "22", "12", None, None]
    worst_first = sw.sort_rows(rows, "+score")
    assert [r.metrics.get("score") for r in worst_first][:2] == ["12", "22"]
    table = sw.sweep_table(rows, "score", columns=("score",))
    assert table.row_count == 6


def test_sweep_unit_and_rows_pickle() -> None:
    assert pickle.loads(pickle.dumps(dummy_unit)) is dummy_unit
    row = sw.SweepRow({"a": 1}, {"m": "1"})
    assert pickle.loads(pickle.dumps(row)) == row
