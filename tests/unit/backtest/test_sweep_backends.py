"""Sweep backends: --cluster/--seeds parsing, clear errors, grid order whatever finishes first."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kashbot.backtest import sweep as sw
from kashbot.backtest import sweep_backends as sb

ROOT = Path(__file__).resolve().parents[3]


def slow_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The first tasks sleep longest, so runs finish in roughly reverse order."""
    if params["x"] == 3:
        raise ValueError("x=3 is bad")
    time.sleep(0.05 * (4 - params["x"]))
    return {"score": str(config["k"] * params["x"] + seed)}


def test_parse_cluster_forms() -> None:
    assert sb.parse_cluster("local") == sb.ClusterSpec()
    assert sb.parse_cluster("local:3") == sb.ClusterSpec(workers=3)
    assert sb.parse_cluster("tcp://127.0.0.1:8786") == sb.ClusterSpec(
        address="tcp://127.0.0.1:8786"
    )


@pytest.mark.parametrize("spec", ["local:0", "local:x", "remote", "tcp://nohost", "tcp://h:port"])
def test_parse_cluster_rejects_and_names_the_value(spec: str) -> None:
    with pytest.raises(sb.ClusterError, match="--cluster") as err:
        sb.parse_cluster(spec)
    assert repr(spec) in str(err.value)
    assert isinstance(err.value, sw.SweepError)  # the CLI's catch covers it


def test_parse_seeds_lists_and_ranges() -> None:
    assert sw.parse_seeds("3") == [3]
    assert sw.parse_seeds("1, 2,5-8") == [1, 2, 5, 6, 7, 8]


@pytest.mark.parametrize("spec", ["", "a", "1,,2", "-1", "5-3", "1-x", "1,1", "1-3,2"])
def test_parse_seeds_rejects(spec: str) -> None:
    with pytest.raises(sw.SweepError, match="--seeds"):
        sw.parse_seeds(spec)


def test_workers_and_a_sized_cluster_conflict() -> None:
    for cluster in ("local:2", "tcp://127.0.0.1:1"):
        with pytest.raises(sb.ClusterError, match="--workers 3"), sb.open_backend(cluster, 3):
            pass


def test_missing_distributed_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    with pytest.raises(sb.ClusterError, match=r"kashbot\[cluster\]"), sb.open_backend("local:1"):
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_scheduler_names_its_address() -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with (
        pytest.raises(sb.ClusterError, match="cannot reach the Dask scheduler") as err,
        sb.open_backend(address, connect_timeout_s=1.0),
    ):
        pass
    assert address in str(err.value)


def test_process_pool_grid_times_seeds_in_order_with_errors() -> None:
    axes = {"x": [0, 1, 2, 3]}
    rows = sw.run_sweep(slow_unit, {"k": 10}, axes, 0, seeds=[5, 6], workers=2, progress=False)
    assert [(r.params["x"], r.seed) for r in rows] == [(x, s) for x in range(4) for s in (5, 6)]
    assert [r.metrics.get("score") for r in rows][:6] == ["5", "6", "15", "16", "25", "26"]
    assert [r.error for r in rows][6:] == ["ValueError: x=3 is bad"] * 2
    table = sw.sweep_table(rows, "score", columns=("score",))
    assert [c.header for c in table.columns] == ["x", "seed", "score"]


@pytest.fixture(scope="module")
def thread_client() -> Iterator[Any]:
    """An in-process cluster (threads): enough to test DaskBackend's bookkeeping quickly."""

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=4,
            processes=False,
            protocol="tcp://",  # loopback TCP, so the by-address path can connect to it
            **sb.LOOPBACK_CLUSTER,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


GATE = threading.Event()


def gated_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """x=0 waits until the test has received some other outcome: the first task finishes late."""
    if params["x"] == 0:
        assert GATE.wait(60), "the gate never opened"
    return slow_unit(config, params, seed)


def test_dask_backend_reports_by_index_as_runs_complete(thread_client: Any) -> None:
    GATE.clear()
    backend = sb.DaskBackend(thread_client, "test cluster")
    tasks = [({"x": x}, s) for x in range(4) for s in (1, 2)]
    outcomes = []
    for outcome in backend.run(gated_unit, {"k": 10}, tasks):  # 4 threads: 2 gated, 2 free
        outcomes.append(outcome)
        GATE.set()
    order = [i for i, _, _ in outcomes]
    assert sorted(order) == list(range(8))
    assert order[0] not in (0, 1)  # tasks 0 and 1 finished after another: out of grid order
    by_index = sorted(outcomes, key=lambda o: o[0])
    pool = sorted(sb.ProcessPoolBackend(2).run(slow_unit, {"k": 10}, tasks), key=lambda o: o[0])
    assert by_index == pool  # same metrics, same error strings
    assert by_index[6] == (6, None, "ValueError: x=3 is bad")


def test_progress_lines_on_a_pipe_for_long_sweeps(capsys: pytest.CaptureFixture[str]) -> None:
    axes = {"x": [0, 1, 2], "y": [0, 1, 2, 3]}
    rows = sw.run_sweep(_sum_unit, {}, axes, 0, workers=2)  # progress=None: auto
    err = capsys.readouterr().err
    assert len(rows) == 12
    assert "sweep: 12 runs on process pool, 2 workers" in err
    assert "sweep: 12/12 runs done, 0 failed" in err


def _sum_unit(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"s": params["x"] + params["y"] + seed}


def test_existing_scheduler_by_address_runs_the_sweep(thread_client: Any) -> None:
    address = thread_client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    axes = {"x": [0, 1, 2], "y": [0, 1]}
    remote = sw.run_sweep(_sum_unit, {}, axes, 0, seeds=[0, 9], cluster=address, progress=False)
    local = sw.run_sweep(_sum_unit, {}, axes, 0, seeds=[0, 9], workers=2, progress=False)
    assert remote == local
    assert len(remote) == 12


def test_scheduler_without_workers_is_an_error() -> None:

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp://",
        **sb.LOOPBACK_CLUSTER,
    ) as empty:
        address = empty.scheduler_address
        with (
            pytest.raises(sb.ClusterError, match="no workers") as err,
            sb.open_backend(address, connect_timeout_s=1.0),
        ):
            pass
    assert address in str(err.value)


def test_the_process_pool_path_never_imports_dask() -> None:
    """``dev.py paper`` and plain sweeps work without the ``cluster`` extra installed."""
    code = f"""
import sys
sys.modules["distributed"] = None  # as if not installed: importing it raises ImportError
import kashbot.cli
from kashbot.backtest.config import load_backtest_file
from kashbot.backtest.sweep import run_sweep
from kashbot.backtest.sweep_unit import run_unit_digest
cfg = load_backtest_file({str(ROOT / "configs/backtest.example.yaml")!r})
scenario = {str(ROOT / "configs/sim/default.yaml")!r}
cfg["backtest"].update(duration_s=60, plots=False, scenario=scenario)
rows = run_sweep(run_unit_digest, cfg, {{}}, 0, seeds=[1, 2], workers=2, progress=False)
assert [r.error for r in rows] == [None, None], rows
assert rows[0].metrics["report_sha256"] != rows[1].metrics["report_sha256"]
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
