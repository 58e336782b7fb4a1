"""docs/strategies.md, followed as a newcomer does from an empty folder: `kashbot new-strategy`,
its unit test, a backtest and a short paper run, with the installed package and no PYTHONPATH;
and a strategy that raises on every event shows up in the report instead of a clean run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kashbot.app.new_strategy import check_name, class_name, skeleton
from kashbot.sim.scenario import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parents[3]
TUTORIAL = ROOT / "docs" / "strategies.md"
BIN = Path(sys.executable).parent
KASHBOT = str(BIN / "kashbot")
pytestmark = pytest.mark.timeout(300)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def shell_blocks(markdown: str) -> list[str]:
    """The commands of the tutorial's ```sh blocks marked ``# tutorial``, in order."""
    blocks = re.findall(r"```sh\n# tutorial\n(.*?)```", markdown, flags=re.S)
    return [line for b in blocks for line in b.splitlines() if line and not line.startswith("#")]


def run(cmd: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        shell=True,
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_tutorial_from_an_empty_folder(tmp_path: Path) -> None:
    commands = shell_blocks(TUTORIAL.read_text())
    assert [c.split()[:2] for c in commands] == [
        ["kashbot", "new-strategy"],
        ["python", "-m"],
        ["kashbot", "backtest"],
        ["kashbot", "run"],
    ], commands
    results = []
    for cmd in commands:
        done = run(cmd.replace("--duration 60", "--duration 15"), tmp_path)  # paper: short
        assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        results.append(done)
    assert "8 passed" in results[1].stdout
    report = json.loads((tmp_path / "out" / "fair_gap" / "report.json").read_text())
    metrics = report["metrics"]
    assert metrics["trades"] > 0 and metrics["strategy_errors"]["fair_gap"]["total"] == 0
    assert set(metrics["by_strategy"]) == {"fair_gap"}
    assert "strategy fair_gap" in results[2].stdout
    assert "kashbot run summary" in results[3].stdout
    assert '"strategy_loaded"' in results[3].stderr or "strategy_loaded" in results[3].stderr


def test_the_tutorial_shows_the_generated_strategy_verbatim() -> None:
    """The code the tutorial walks through is what `new-strategy` writes, and the repo's
    strategies/ example is that output too."""
    files = skeleton("fair_gap", DEFAULT_SCENARIO)
    text = TUTORIAL.read_text()
    assert files["fair_gap.py"] in text
    for name in (
        "fair_gap.py",
        "test_fair_gap.py",
        "fair_gap.backtest.yaml",
        "fair_gap.paper.yaml",
    ):
        assert (ROOT / "strategies" / name).read_text() == files[name], name


def test_names() -> None:
    assert class_name("fair_gap") == "FairGap"
    assert check_name("fair_gap") is None
    for bad in ("FairGap", "json", "class", "test_x", "1x", "a-b"):
        assert check_name(bad) is not None, bad


BOOM = """
from kashbot.engine.strategy import Strategy, StrategyParams


class Boom(Strategy[StrategyParams]):
    def decide(self, state, event, params, now):
        raise ZeroDivisionError("every time")
"""


def test_a_strategy_raising_on_every_event_is_counted_paused_and_reported(tmp_path: Path) -> None:
    """Run from the parent folder: the backtest finds boom.py beside its config, not in cwd."""
    sub = tmp_path / "bots"
    sub.mkdir()
    (sub / "boom.py").write_text(BOOM)
    config = (ROOT / "strategies" / "fair_gap.backtest.yaml").read_text()
    config = config.replace("name: fair_gap:FairGap", "name: boom:Boom").replace(
        "duration_s: 3600", "duration_s: 600"
    )
    config = re.sub(r"    params:\n(      .*\n)+", "", config)
    (sub / "boom.yaml").write_text(config)
    cmd = f"kashbot backtest bots/boom.yaml --scenario {DEFAULT_SCENARIO} --out out --verbose"
    done = run(cmd, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads((tmp_path / "out" / "report.json").read_text())["metrics"][
        "strategy_errors"
    ]["fair_gap"]
    assert errors["total"] == 20 and errors["paused"] is True  # the default: 20 in a row
    assert errors["last_error"] == "ZeroDivisionError: every time"
    assert "strategy fair_gap PAUSED" in done.stdout and "no trades, 20 errors" in done.stdout
    logs = done.stdout + done.stderr
    assert logs.count("Traceback") == 1  # --verbose: one traceback, then counts
    assert "strategy_error_repeated" in logs and "strategy_paused" in logs
