"""Config: unknown keys and bad values name file, key path and line; secrets stay secret."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kashbot.cli import main
from kashbot.config import ConfigError, effective_config_yaml, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
LIVE_ENV = {
    "KASH_API_KEY": "kash_live_SUPERSECRETKEYVALUE1234567890abc",
    "KASH_WEBHOOK_SECRET": "whsec_TOPSECRETwebhookvalue",
}


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml", env or {})
    return info.value.problems


def test_shipped_configs_are_valid() -> None:
    paper = load_config(ROOT / "configs" / "paper.yaml", env={})
    assert paper.venue.mode == "paper" and paper.strategies[0].name == "fair_value"
    live = load_config(ROOT / "configs" / "live.example.yaml", env=LIVE_ENV)
    assert live.venue.resolved_api_key() == LIVE_ENV["KASH_API_KEY"]
    assert live.sources.webhook.secrets() == [LIVE_ENV["KASH_WEBHOOK_SECRET"]]


def test_misspelt_key_names_line_and_path() -> None:
    text = "venue:\n  mode: paper\nsources:\n  poller:\n    markets_intervall_s: 3\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (5, "sources.poller.markets_intervall_s")
    assert msg == "unknown key; did you mean 'markets_interval_s'?"


def test_unknown_key_with_no_near_match_gets_no_guess() -> None:
    [(line, path, msg)] = problems("venue:\n  mode: paper\n  zzzzzz: 1\n")
    assert (line, path, msg) == (3, "venue.zzzzzz", "unknown key (misspelt?)")


def test_misspelt_strategy_param_names_line() -> None:
    text = "strategies:\n  - name: fair_value\n    params:\n      edge_bsp: 5\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (4, "strategies[0].params.edge_bsp")
    assert msg == "unknown key; did you mean 'edge_bps'?"  # from the strategy's own model


def test_bad_value_and_unknown_strategy() -> None:
    text = "risk:\n  budget_share: 2\nstrategies:\n  - name: no_such_strategy\n"
    found = {(line, path) for line, path, _ in problems(text)}
    assert (2, "risk.budget_share") in found


def test_unknown_strategy_name_points_at_name() -> None:
    [(line, path, msg)] = problems("strategies:\n  - name: no_such_strategy\n")
    assert (line, path) == (2, "strategies[0].name") and "no_such_strategy" in msg


def test_literal_secret_is_rejected_without_echoing_it() -> None:
    text = "venue:\n  mode: live\n  api_key: kash_live_leakedvalue123\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (3, "venue.api_key")
    assert "${" in msg and "leakedvalue" not in msg


def test_literal_webhook_secret_is_rejected() -> None:
    text = "sources:\n  webhook:\n    secret: whsec_abcdefabcdefabcdef\n"
    [(line, path, _)] = problems(text)
    assert (line, path) == (3, "sources.webhook.secret")


def test_missing_env_var_is_named_with_its_line() -> None:
    text = "venue:\n  mode: live\n  api_key: ${NOPE_NOT_SET}\n"
    [(line, _, msg)] = problems(text)
    assert line == 3 and "NOPE_NOT_SET" in msg


def test_env_default_and_interpolation_in_plain_values() -> None:
    cfg = parse_config("store:\n  path: ${DIR:-/tmp}/k.sqlite\n", "t.yaml", {})
    assert cfg.store.path == "/tmp/k.sqlite"


def test_yaml_floats_become_exact_decimals() -> None:
    cfg = parse_config("risk:\n  per_trade_cap_usdc: 0.1\n", "t.yaml", {})
    assert cfg.risk.per_trade_cap_usdc == Decimal("0.1")


def test_live_needs_key_and_webhook_secret() -> None:
    assert problems("venue:\n  mode: live\n")
    text = "venue:\n  mode: live\n  api_key: ${K}\n"
    [(_, _, msg)] = problems(text, {"K": "kash_live_x"})
    assert "KASH_WEBHOOK_SECRET" in msg


def test_duplicate_key_and_bad_yaml() -> None:
    [(line, _, msg)] = problems("store:\n  path: a\n  path: b\n")
    assert line == 3 and "duplicate" in msg
    [(line, _, msg)] = problems("store: [\n")
    assert "YAML" in msg


def test_effective_config_masks_secrets() -> None:
    cfg = load_config(ROOT / "configs" / "live.example.yaml", env=LIVE_ENV)
    text = effective_config_yaml(cfg)
    for secret in LIVE_ENV.values():
        assert secret not in text
    assert "**********" in text
    assert all(secret not in repr(cfg) and secret not in str(cfg) for secret in LIVE_ENV.values())


def test_cli_config_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in LIVE_ENV.items():
        monkeypatch.setenv(k, v)
    assert main(["config", "check", str(ROOT / "configs" / "live.example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and all(v not in out for v in LIVE_ENV.values())

    bad = tmp_path / "bad.yaml"
    bad.write_text("venue:\n  mode: paper\nstrategies:\n  - name: fair_value\n    parms: {}\n")
    assert main(["config", "check", str(bad)]) == 2  # a config error
    err = capsys.readouterr().err
    assert f"{bad}:5: strategies[0].parms: unknown key" in err
