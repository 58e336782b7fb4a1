"""A backtest config file is read once, by the daemon's reader: lines, exact numbers, ${VAR}."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kashbot.backtest.config import load_backtest_file, split_config
from kashbot.config import ConfigError

BASE = """\
venue:
  mode: paper
strategies:
  - name: fair_value
    params:
      edge_bps: 100
store:
  path: ":memory:"
backtest:
  duration_s: 600
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bt.yaml"
    path.write_text(text)
    return path


def test_backtest_config_misspelt_key_in_block_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  setle_s: 30\n")
    with pytest.raises(ConfigError) as err:
        load_backtest_file(path, env={})
    assert err.value.problems == [(11, "backtest.setle_s", "unknown key; did you mean 'settle_s'?")]
    assert f"{path}:11: backtest.setle_s: unknown key; did you mean 'settle_s'?" in str(err.value)


def test_backtest_config_bad_value_in_block_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  replay: sideways\n")
    with pytest.raises(ConfigError) as err:
        load_backtest_file(path, env={})
    [(line, key, _msg)] = err.value.problems
    assert (line, key) == (11, "backtest.replay")


def test_backtest_config_reports_daemon_and_block_problems_together(tmp_path: Path) -> None:
    text = BASE.replace("  mode: paper", "  mode: paper\n  sped: 1") + "  plotz: false\n"
    with pytest.raises(ConfigError) as err:
        load_backtest_file(_write(tmp_path, text), env={})
    assert [(line, key) for line, key, _ in err.value.problems] == [
        (3, "venue.sped"),
        (12, "backtest.plotz"),
    ]


def test_backtest_config_float_looking_values_stay_exact(tmp_path: Path) -> None:
    text = BASE + "  initial_cash_usdc: 1000.1\n  default_liquidity_usdc: 0.3\n"
    text = text.replace("edge_bps: 100", "edge_bps: 100\n      max_trade_usdc: 12.1")
    raw = load_backtest_file(_write(tmp_path, text), env={})
    block = raw["backtest"]
    assert block["initial_cash_usdc"] == Decimal("1000.1")
    assert type(block["initial_cash_usdc"]) is Decimal  # not the float 1000.1000000000000227...
    assert block["default_liquidity_usdc"] == Decimal("0.3")
    assert raw["strategies"][0]["params"]["max_trade_usdc"] == Decimal("12.1")
    _cfg, settings = split_config(raw)
    assert settings.initial_cash_usdc == Decimal("1000.1")
    assert settings.default_liquidity_usdc == Decimal("0.3")


def test_backtest_config_interpolates_env_in_block(tmp_path: Path) -> None:
    text = BASE + "  scenario: ${BT_DIR}/sc.yaml\n  data: ${BT_DATA:-none.jsonl}\n"
    raw = load_backtest_file(_write(tmp_path, text), env={"BT_DIR": "/srv/sim"})
    assert raw["backtest"]["scenario"] == "/srv/sim/sc.yaml"
    assert raw["backtest"]["data"] == "none.jsonl"
    with pytest.raises(ConfigError, match=r"bt\.yaml:11: backtest\.scenario: .*BT_DIR"):
        load_backtest_file(tmp_path / "bt.yaml", env={})


def test_backtest_config_split_names_an_overridden_key() -> None:
    raw = {"backtest": {"duration_s": 600, "latncy_s": 1}}
    with pytest.raises(ConfigError, match=r"backtest\.latncy_s: unknown key; did you mean"):
        split_config(raw)
