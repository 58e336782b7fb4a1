"""`kashbot run` as a user runs it: paper trading starts, SIGUSR1/SIGUSR2 halt and resume it,
SIGINT stops it cleanly with a summary; `kashbot ... | head` ends without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(90)


KASHBOT = str(Path(sys.executable).parent / "kashbot")


def paper_config(tmp_path: Path) -> Path:
    cfg = (ROOT / "configs" / "paper.yaml").read_text()
    before = cfg
    cfg = cfg.replace("path: var/paper/run-{run}.sqlite", f"path: {tmp_path / 'p.sqlite'}")
    cfg = cfg.replace("  port: 8788", "  port: 0")
    cfg = cfg.replace(
        "  enabled: auto                     # live view", "  enabled: false  # live view"
    )
    assert cfg.count(str(tmp_path)) == 1 and cfg != before, "configs/paper.yaml changed shape"
    path = tmp_path / "paper.yaml"
    path.write_text(cfg)
    return path


def start(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KASHBOT, "run", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_until(proc: subprocess.Popen[str], needle: str, seconds: float = 60) -> list[str]:
    """stderr lines up to and including the first containing ``needle`` (else: all read)."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            break
    return lines


def test_kashbot_run_paper_trades_and_stops_on_sigint(tmp_path: Path) -> None:
    proc = start(paper_config(tmp_path))
    assert proc.stderr is not None
    seen_trade = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if '"trade_finished"' in line or "trade_finished" in line:
            seen_trade = True
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert seen_trade, err[-2000:]
    assert proc.returncode == 0, err[-2000:]
    assert "kashbot run summary" in out
    assert "trades filled: 0 " not in out
    assert "signal_received" in err


def test_sigusr1_halts_and_sigusr2_resumes(tmp_path: Path) -> None:
    proc = start(paper_config(tmp_path))
    try:
        started = read_until(proc, "daemon_running")
        assert "daemon_running" in started[-1], "".join(started)[-2000:]
        assert (tmp_path / "control.token").exists()  # beside the store
        proc.send_signal(signal.SIGUSR1)
        halted = read_until(proc, '"trading_state_changed"')
        assert '"new": "HALTED"' in halted[-1] and "SIGUSR1" in halted[-1], halted[-1]
        proc.send_signal(signal.SIGUSR2)
        resumed = read_until(proc, '"trading_state_changed"')
        assert '"new": "ACTIVE"' in resumed[-1] and "SIGUSR2" in resumed[-1], resumed[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "final state ACTIVE" in out
    assert not (tmp_path / "control.token").exists()  # removed on the way out


def test_config_check_into_a_closed_pipe_has_no_traceback() -> None:
    """`kashbot config check configs/paper.yaml | head -0`: the reader is gone before we write."""
    proc = subprocess.Popen(
        [KASHBOT, "config", "check", "configs/paper.yaml"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode == 141  # as if killed by SIGPIPE, like other Unix tools
