"""Scenario loading: the default file is valid; errors name file, key path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kashbot.sim.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from kashbot.sim.venue import KEY_FORMAT


def test_default_scenario_has_the_promised_shape() -> None:
    sc = load_scenario(None)
    assert sorted(len(m.outcomes) for m in sc.markets) == [2, 2, 2, 3, 5]
    assert sorted(m.chain for m in sc.markets) == ["evm:84532"] * 4 + ["solana:mainnet-beta"]
    assert sum(m.resolve is not None and m.expires_after_s is not None for m in sc.markets) == 2
    assert sorted(k.tier for k in sc.keys) == ["developer", "enterprise", "free", "mm"]
    balances = {u.id: u.balance_usdc for u in sc.users}
    for k in sc.keys:
        assert KEY_FORMAT.match(k.api_key) and k.api_key.startswith("kash_test_")
        assert {"trades:read", "trades:write"} <= set(k.scopes)
        assert int(balances[k.user]) > 0


def test_errors_name_file_path_and_line(tmp_path: Path) -> None:
    text = DEFAULT_SCENARIO.read_text().replace("tier: developer", "tier: platinum", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "tier: platinum" in s)
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    msg = str(err.value)
    assert f"{bad}: keys[1].tier (line {line})" in msg


def test_unknown_keys_and_float_money_are_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "markets:\n  - id: 610464bf-ef0e-4a59-8144-c69601eef85e\n    title: t\n"
        "    outcomes: [a, b]\n    liquidity_usdc: 10.5\n    colour: red\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    msg = str(err.value)
    assert "markets[0].liquidity_usdc (line 5)" in msg
    assert "markets[0].colour (line 6)" in msg


def test_key_errors_never_echo_the_key() -> None:
    data = {
        "users": [{"id": "u"}],
        "keys": [
            {"name": "k", "api_key": "kash_test_SHORTsecretvalue", "user": "u", "tier": "free"}
        ],
        "markets": [
            {"id": "610464bf-ef0e-4a59-8144-c69601eef85e", "title": "t", "outcomes": ["a", "b"]}
        ],
    }
    with pytest.raises(ScenarioError) as err:
        load_scenario(data)
    assert "SHORTsecretvalue" not in str(err.value)
