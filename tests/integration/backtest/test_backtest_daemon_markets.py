"""The daemon and the backtest give each strategy the same markets for the same config and venue.

Both assemble through ``kashbot.core.build_core``, with markets from
``kashbot.core.resolve_markets``: the daemon asks the simulator over HTTP (``GET
/v1/markets?status=ACTIVE``), the backtest reads the in-process venue built from the same
scenario file. ``markets: all`` is every ACTIVE market
(not the UNSEEDED one), a strategy's ``markets: []`` is none (it once meant all in backtests), and
a top-level ``markets: []`` is refused by both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kashbot.app.daemon import Daemon
from kashbot.backtest.config import split_config
from kashbot.backtest.inputs import BacktestError, scenario_inputs
from kashbot.backtest.session import Session
from kashbot.core import Core, CoreError
from kashbot.sim.embedded import run_sim, scenario_dict

pytestmark = pytest.mark.timeout(60)

SCENARIO = scenario_dict()
M0, M1, UNSEEDED, *_ = (m["id"] for m in SCENARIO["markets"])
ACTIVE = {m["id"] for m in SCENARIO["markets"]} - {UNSEEDED}  # _scenario unseeds the third

STRATEGIES = [
    {"name": "fair_value", "id": "every"},  # markets omitted: the configured ones
    {"name": "fair_value", "id": "none", "markets": []},
    {"name": "fair_value", "id": "own", "markets": [M1]},
]


def _scenario(path: Path) -> Path:
    sc = scenario_dict()
    sc["markets"][2]["status"] = "UNSEEDED"  # listed by the venue, not tradeable
    for m in sc["markets"]:
        m["noise"] = {**m.get("noise", {}), "enabled": False}
    path.write_text(yaml.safe_dump(sc))
    return path


def _config(scenario: Path, store: Path, markets: Any) -> dict[str, Any]:
    return {
        "venue": {"mode": "paper", "sim": {"scenario": str(scenario), "key_tier": "developer"}},
        "sources": {
            "poller": {"enabled": False},
            "webhook": {"enabled": False},
            "stream": {"enabled": False},
        },
        "markets": markets,
        "strategies": STRATEGIES,
        "store": {"path": str(store)},
        "logging": {"format": "json"},
        "status": {"enabled": False},
        "control": {"enabled": False},
        "backtest": {"scenario": str(scenario), "duration_s": 60},
    }


def _by_strategy(core: Core) -> dict[str, set[str] | None]:
    return {s.strategy_id: None if s.markets is None else set(s.markets) for s in core.strategies}


async def _daemon_markets(raw: dict[str, Any], scenario: Path) -> dict[str, set[str] | None]:
    cfg, _ = split_config(raw)
    async with run_sim(scenario) as sim, Daemon(cfg, sim=sim) as d:
        return _by_strategy(d.core)


async def _backtest_markets(raw: dict[str, Any]) -> dict[str, set[str] | None]:
    cfg, settings = split_config(raw)
    assert settings.scenario is not None
    run = scenario_inputs(settings.scenario, cfg, settings, {})
    session = Session(cfg, settings, run.scenario, run.api_key, 0, run.start, run.pools)
    await session.setup()
    try:
        return _by_strategy(session.core)
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("markets", "every"),
    [("all", ACTIVE), ([M1, UNSEEDED], {M1, UNSEEDED}), ([M0], {M0})],
)
async def test_daemon_and_backtest_resolve_markets_alike(
    tmp_path: Path, markets: Any, every: set[str]
) -> None:
    scenario = _scenario(tmp_path / "sc.yaml")
    raw = _config(scenario, tmp_path / "s.sqlite", markets)
    daemon = await _daemon_markets(raw, scenario)
    backtest = await _backtest_markets(raw)
    assert daemon == backtest == {"every": every, "none": set(), "own": {M1}}


async def test_no_markets_is_refused_by_both(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "sc.yaml")
    raw = _config(scenario, tmp_path / "s.sqlite", [])
    with pytest.raises(CoreError, match="no markets to trade"):
        await _daemon_markets(raw, scenario)
    with pytest.raises(BacktestError, match="no markets to trade"):
        await _backtest_markets(raw)
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store opened
