"""Sweep mechanics: axis parsing, config overrides, a process-pool grid, sorting."""

from __future__ import annotations

import os
import pickle
from decimal import Decimal
from typing import Any

import pytest

from kashbot.backtest import sweep as sw
from kashbot.backtest.report import RunArtifacts, dumps_report


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
    assert axes == {"a.b": [1, Decimal("2.5"), "x"], "flag": [True, False], "q": ["0.5"]}
    assert [type(v) for v in axes["a.b"]] == [int, Decimal, str]


def test_sweep_float_looking_values_are_exact_decimals() -> None:
    name, values = sw.parse_axis("risk.per_trade_cap_usdc=12.5,0.1,1_000.25,-0.000001")
    assert name == "risk.per_trade_cap_usdc"
    assert values == [Decimal("12.5"), Decimal("0.1"), Decimal("1000.25"), Decimal("-0.000001")]
    assert all(type(v) is Decimal for v in values)  # 0.1 is not 0.1000000000000000055...
    assert sw.parse_value(".inf") == float("inf")  # not a number a USDC field accepts anyway


def test_sweep_rows_sort_on_exact_decimals_non_numeric_last() -> None:
    big = "90071992547409.93"  # 2**53 / 100: a float cannot tell these two apart
    rows = [
        sw.SweepRow({"p": 0}, {"pnl": big}),
        sw.SweepRow({"p": 1}, {"pnl": "n/a"}),
        sw.SweepRow({"p": 2}, {"pnl": "90071992547409.94"}),
        sw.SweepRow({"p": 3}, {}, error="RuntimeError: boom"),
        sw.SweepRow({"p": 4}, {"pnl": None}),
        sw.SweepRow({"p": 5}, {"pnl": "-1"}),
    ]
    assert float(big) == float("90071992547409.94")
    assert [r.params["p"] for r in sw.sort_rows(rows, "pnl")] == [2, 0, 5, 1, 3, 4]
    assert [r.params["p"] for r in sw.sort_rows(rows, "+pnl")] == [5, 0, 2, 1, 3, 4]


def test_sweep_decimal_params_reach_the_config_and_report() -> None:
    cfg = sw.apply_params({"risk": {}}, {"risk.per_trade_cap_usdc": Decimal("12.5")})
    assert cfg == {"risk": {"per_trade_cap_usdc": Decimal("12.5")}}
    art = RunArtifacts(inputs={"params": {"risk.per_trade_cap_usdc": Decimal("12.5")}}, metrics={})
    assert '"risk.per_trade_cap_usdc": "12.5"' in dumps_report(art)


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
