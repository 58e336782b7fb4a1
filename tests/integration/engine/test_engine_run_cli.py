"""`kashbot run` as a user runs it: paper trading starts, SIGINT stops it cleanly with a summary."""

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


def test_kashbot_run_paper_trades_and_stops_on_sigint(tmp_path: Path) -> None:
    cfg = (ROOT / "configs" / "paper.yaml").read_text()
    cfg = cfg.replace("path: var/paper.sqlite", f"path: {tmp_path / 'p.sqlite'}")
    cfg = cfg.replace("  port: 8788", "  port: 0")
    cfg = cfg.replace(
        "  enabled: auto                     # live view", "  enabled: false  # live view"
    )
    path = tmp_path / "paper.yaml"
    path.write_text(cfg)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "kashbot"), "run", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
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
