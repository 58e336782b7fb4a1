"""strategies[].protections in YAML: validated with file:line, deprecated params still work,
and what the file says is what the engine runs with."""

from __future__ import annotations

from pathlib import Path

import pytest

from kashbot.backtest.config import load_backtest_file, split_config
from kashbot.clock import SimClock
from kashbot.config import ConfigError, parse_config
from kashbot.engine.engine import Engine
from kashbot.strategies.fair_value import FairValue, FairValueParams

ROOT = Path(__file__).resolve().parents[3]

YAML = """\
venue: {{mode: paper}}
strategies:
  - name: fair_value
    params:
      edge_bps: 100{extra_param}
    protections:
{block}
"""


def config(block: str, extra_param: str = "") -> str:
    return YAML.format(block=block, extra_param=extra_param)


def test_yaml_protections_reach_the_engine() -> None:
    cfg = parse_config(
        config("      cooldown: {seconds: 2}\n      pause: {after: 3, window_s: 30, pause_s: 60}")
    )
    s = cfg.strategies[0]
    assert s.protections is not None and s.protections.cooldown.seconds == 2
    engine = Engine(SimClock(0.0))
    strategy = FairValue(FairValueParams.model_validate(s.params), strategy_id="fv")
    engine.add_strategy(strategy, protections=s.protections)
    got = engine.protections["fv"].config
    assert got.cooldown.seconds == 2 and got.backoff.base_s == 10  # unset: fair_value's default
    assert (got.pause.after, got.pause.window_s, got.pause.pause_s) == (3, 30, 60)


def test_unknown_protection_key_names_file_line_and_a_guess() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(config("      cooldown: {seconds: 2}\n      backof: {base_s: 1}"), "x.yaml")
    assert "x.yaml:8: strategies[0].protections.backof: unknown key; did you mean 'backoff'?" in (
        str(exc.value)
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(config("      backoff:\n        bse_s: 1"), "x.yaml")
    assert "x.yaml:8: strategies[0].protections.backoff.bse_s: unknown key; did you mean" in (
        str(exc.value)
    )


def test_alias_and_protection_both_set_is_a_config_error() -> None:
    text = config("      cooldown: {seconds: 2}", "\n      cooldown_s: 1")
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "x.yaml")
    msg = str(exc.value)
    assert "x.yaml:7: strategies[0].protections:" in msg and "cooldown_s (deprecated)" in msg


def test_an_alias_against_the_default_is_a_config_error_with_its_path() -> None:
    text = config("      cooldown: {seconds: 2}", "\n      backoff_base_s: 900")
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "x.yaml")
    assert "strategies[0].protections.backoff: max_s (600) must be >= base_s (900)" in str(
        exc.value
    )


def test_the_example_backtest_config_runs_fair_value_with_its_old_protections() -> None:
    cfg, _ = split_config(load_backtest_file(ROOT / "configs" / "backtest.example.yaml", env={}))
    s = cfg.strategies[0]
    params = FairValueParams.model_validate(s.params)
    got = FairValue.effective_protections(params, s.protections)
    assert got.cooldown.seconds == 5
    assert (got.backoff.base_s, got.backoff.factor, got.backoff.max_s) == (10, 2, 600)
    assert got.pause.after == 0
