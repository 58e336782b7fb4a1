"""The client examples of docs/client.md and README.md, run as written against the simulator.

The ``example.py`` block and the ``export`` lines are read from the document itself; the example
runs as a separate ``python example.py`` process (as a reader would run it) against ``run_sim``
on a wall clock, with only the port swapped for a free one.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from kashbot.money import wad_to_decimal
from kashbot.sim.embedded import run_sim
from kashbot.sim.scenario import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "client.md"
README = ROOT / "README.md"


def example_code(text: str) -> str:
    """The ```python block right after the "`example.py`:" line."""
    match = re.search(r"^`example\.py`:\s*\n+```python\n(.*?)^```", text, re.S | re.M)
    assert match, "no ```python block after `example.py`:"
    return match.group(1)


def exports(text: str) -> dict[str, str]:
    return dict(re.findall(r"^export (KASH_[A-Z_]+)=(\S+)", text, re.M))


def prepare(doc: Path, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """Write ``doc``'s example to ``tmp_path``; return its exports and the scenario key it uses."""
    text = doc.read_text()
    env_vars = exports(text)
    assert env_vars["KASH_BASE_URL"] == "http://127.0.0.1:8700/v1"  # `kashbot sim`'s default
    scenario_keys = yaml.safe_load(DEFAULT_SCENARIO.read_text())["keys"]
    (key_cfg,) = [k for k in scenario_keys if k["api_key"] == env_vars["KASH_API_KEY"]]
    (tmp_path / "example.py").write_text(example_code(text))
    return env_vars, key_cfg


async def run_example(doc: Path, tmp_path: Path) -> tuple[int | None, str, str, list[Any]]:
    """Run ``doc``'s example with its exported key against a wall-clock simulator."""
    env_vars, key_cfg = prepare(doc, tmp_path)

    async with run_sim() as sim:  # as `kashbot sim` runs: default scenario, noise, wall clock
        env = {k: v for k, v in os.environ.items() if not k.startswith("KASH_")}
        env["KASH_API_KEY"] = env_vars["KASH_API_KEY"]
        env["KASH_BASE_URL"] = sim.base_url
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "example.py",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(8):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        key_id = sim.keys_by_name[key_cfg["name"]].key_id
        trades = [t for t in sim.venue.trades.values() if t.key_id == key_id]
    return proc.returncode, out.decode(), err.decode(), trades


async def test_client_doc_example_runs_against_the_simulator(tmp_path: Path) -> None:
    returncode, stdout, stderr, trades = await run_example(DOC, tmp_path)
    assert returncode == 0, stderr
    assert "rejected" not in stdout and "outcome unknown" not in stdout
    (trade,) = trades
    assert trade.status == "completed" and trade.amount == 5_000_000
    assert trade.tokens_out is not None
    tokens = wad_to_decimal(trade.tokens_out)
    assert f"trade completed tokens out: {tokens}" in stdout
    assert f"position 0 {tokens} shares" in stdout
    assert "would buy" in stdout and "requests left in this window:" in stdout
    assert tokens > Decimal(0)


async def test_readme_client_example_runs_against_the_simulator(tmp_path: Path) -> None:
    returncode, stdout, stderr, trades = await run_example(README, tmp_path)
    assert returncode == 0, stderr
    (trade,) = trades
    assert trade.status == "completed" and trade.amount == 5_000_000
    assert trade.tokens_out is not None
    assert f"trade completed tokens out: {wad_to_decimal(trade.tokens_out)}" in stdout
    assert "5 USDC buys" in stdout
