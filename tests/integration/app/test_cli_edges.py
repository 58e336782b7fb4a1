"""CLI rough edges of issue 15: config errors exit 2 naming file and field (a missing scenario
file too), the daemon is findable as `kashbot` (pidof, kill -USR1), `kashbot record` keeps stdout
for its summary and logs to stderr."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kashbot.cli import main

ROOT = Path(__file__).resolve().parents[3]
KASHBOT = str(Path(sys.executable).parent / "kashbot")
pytestmark = pytest.mark.timeout(120)


def paper_config(tmp_path: Path, **replace: str) -> Path:
    text = (ROOT / "configs" / "paper.yaml").read_text()
    text = text.replace("path: var/paper/run-{run}.sqlite", f"path: {tmp_path / 'p.sqlite'}")
    text = text.replace("  port: 8788", "  port: 0")
    text = text.replace("  enabled: auto ", "  enabled: false ")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "paper.yaml"
    path.write_text(text)
    return path


def test_config_check_names_a_missing_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = paper_config(tmp_path, **{"scenario: null": "scenario: nowhere/gone.yaml"})
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "venue.sim.scenario: no such file: nowhere/gone.yaml" in err
    assert main(["run", str(path), "--no-status"]) == 2  # run refuses it the same way
    assert "venue.sim.scenario" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "status", "halt", "redeem", "record", "backtest"])
def test_config_errors_exit_2_everywhere(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("venue:\n  mode: paper\nrisk:\n  per_trade_cap_usdc: -1\n")
    argv = {
        "record": ["record", str(bad), "--out", str(tmp_path / "j.jsonl.gz")],
        "backtest": ["backtest", str(bad), "--scenario", "x.yaml", "--out", str(tmp_path / "b")],
    }.get(command, [command, str(bad)])
    assert main(argv) == 2
    assert f"{bad}:4: risk.per_trade_cap_usdc" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pidof") is None, reason="no pidof on this system")
def test_the_daemon_is_found_by_pidof_and_halted_by_usr1(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [KASHBOT, "run", str(paper_config(tmp_path))],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        _read_until(proc, "daemon_running")
        found = subprocess.run(["pidof", "kashbot"], capture_output=True, text=True).stdout
        assert str(proc.pid) in found.split(), f"pidof kashbot: {found!r}, daemon {proc.pid}"
        os.kill(int(found.split()[found.split().index(str(proc.pid))]), signal.SIGUSR1)
        halted = _read_until(proc, "HALTED")
        assert any("HALTED" in line for line in halted)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def _read_until(proc: subprocess.Popen[str], needle: str, seconds: float = 60) -> list[str]:
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"no {needle!r} in {lines[-20:]}")


def test_record_logs_to_stderr_and_prints_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl.gz"
    done = subprocess.run(
        [KASHBOT, "record", str(paper_config(tmp_path)), "--out", str(out), "--duration", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recorded "), done.stdout
    assert " events in " in lines[0] and str(out) in lines[0]
    assert '"event": "stopping"' in done.stderr  # JSON logs (not a TTY) on stderr
