"""`kashbot doctor` against the real simulator over 127.0.0.1: a good live config is all OK; a
key the venue does not know, an unwritable store, a pinned old version, a reporting key, a tier
that does not match and an unreachable webhook URL are FAIL lines naming the fix; exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kashbot.app.doctor import run_doctor
from kashbot.app.doctor_checks import Check
from kashbot.bundled import PAPER_CONFIG
from kashbot.cli import main
from kashbot.config import KashbotConfig, parse_config
from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict

pytestmark = pytest.mark.timeout(120)
REPORTING_KEY = "kash_test_R3p0rt1ngKeyR3p0rt1ngKeyR3p0rt1n"


def live_cfg(sim: SimHandle, store: Path, key: str, **over: Any) -> KashbotConfig:
    raw: dict[str, Any] = {
        "venue": {"mode": "live", "base_url": sim.base_url, "api_key": "${KASH_API_KEY}"},
        "account": {"tier": "developer"},
        "sources": {
            "stream": {"enabled": False},
            "webhook": {"public_url": f"{sim.base_url}/health", "secret": "${WH_SECRET}"},
        },
        "strategies": [{"name": "fair_value", "id": "fv"}],
        "store": {"path": str(store / "live.sqlite")},
    }
    for section, value in over.items():
        raw[section] = {**raw.get(section, {}), **value}
    return parse_config(
        yaml.safe_dump(raw), "doctor.yaml", {"KASH_API_KEY": key, "WH_SECRET": "whsec_x"}
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def scenario_with_reporting_key() -> dict[str, Any]:
    sc = scenario_dict()
    sc["keys"].append(
        {
            "name": "reporting",
            "tier": "developer",
            "user": "usr_developer",
            "api_key": REPORTING_KEY,
            "scopes": ["markets:read", "markets:quote", "portfolio:read"],
        }
    )
    sc["api"]["deprecations"] = {"2026-04-29": {"sunset": "Wed, 01 Sep 2027 00:00:00 GMT"}}
    return sc


async def test_doctor_verdicts_against_the_sim(tmp_path: Path) -> None:
    async with run_sim(scenario_with_reporting_key(), noise=False) as sim:
        dev = sim.key("developer").api_key
        good = by_name(await run_doctor(live_cfg(sim, tmp_path, dev)))
        assert {c.verdict for c in good.values()} == {"OK"}, [c.line() for c in good.values()]
        default = sim.venue.scenario.api.default_version  # X-API-Version: not what served us
        assert f"server default {default}" in good["version"].message
        assert "served" not in good["version"].message
        assert set(good) >= {
            "key",
            "venue",
            "clock",
            "auth",
            "version",
            "tier",
            "scopes",
            "store",
            "caps",
            "webhook",
        }

        unknown = by_name(await run_doctor(live_cfg(sim, tmp_path, "kash_test_" + "x" * 32)))
        assert unknown["auth"].verdict == "FAIL" and "Settings → API Keys" in unknown["auth"].fix

        blocker = tmp_path / "a-file"
        blocker.write_text("")
        store = by_name(await run_doctor(live_cfg(sim, blocker, dev)))
        assert store["store"].verdict == "FAIL" and "store.path" in store["store"].fix

        old = by_name(
            await run_doctor(live_cfg(sim, tmp_path, dev, venue={"api_version": "2025-01-01"}))
        )
        assert old["version"].verdict == "FAIL"
        assert "venue.api_version" in old["version"].fix and "2026-08-19" in old["version"].message

        sunset = by_name(
            await run_doctor(live_cfg(sim, tmp_path, dev, venue={"api_version": "2026-04-29"}))
        )
        assert sunset["version"].verdict == "WARN" and "2027" in sunset["version"].message

        reporting = by_name(await run_doctor(live_cfg(sim, tmp_path, REPORTING_KEY)))
        assert reporting["scopes"].verdict == "FAIL"
        assert "reporting" in reporting["scopes"].message
        assert "trades:write" in reporting["scopes"].fix

        tier = by_name(await run_doctor(live_cfg(sim, tmp_path, dev, account={"tier": "free"})))
        assert tier["tier"].verdict == "FAIL" and "account.tier" in tier["tier"].fix

        hook = {"webhook": {"public_url": "http://127.0.0.1:9/h", "secret": "${WH_SECRET}"}}
        webhook = by_name(await run_doctor(live_cfg(sim, tmp_path, dev, sources=hook)))
        assert webhook["webhook"].verdict == "FAIL" and "public_url" in webhook["webhook"].fix


def test_doctor_cli_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["doctor", str(PAPER_CONFIG)]) == 0  # paper: against a simulator it starts
    out = capsys.readouterr().out
    assert "0 FAIL" in out and "OK    scopes" in out

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    monkeypatch.chdir(blocked)
    (blocked / "var").write_text("")  # store.path var/paper/...: its folder cannot be made
    assert main(["doctor", str(PAPER_CONFIG)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  store" in out and "fix:" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text("venue: {mode: paper}\nrisk: {per_trade_cap_usdc: -1}\n")
    assert main(["doctor", str(bad)]) == 2
    assert "risk.per_trade_cap_usdc" in capsys.readouterr().out
