"""`config check` finds what `kashbot run` would die on: USDC precision, caps above the tier, a
malformed key, a request budget that breaks the limiter, a live stream that would leak the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kashbot.cli import main
from kashbot.client.request_budget import UserBudget
from kashbot.config import ConfigError, RiskConfig, parse_config
from kashbot.money import USDC_ONE
from kashbot.risk.limits import Limits, LimitsError

KEY = "kash_live_" + "A1b2C3d4" * 4
LIVE = """venue:
  mode: live
  api_key: ${K}
account:
  tier: free
sources:
  webhook: {enabled: false}
  stream: {enabled: false}
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml", {"K": KEY} if env is None else env)
    return info.value.problems


def test_live_baseline_is_valid() -> None:
    cfg = parse_config(LIVE, "t.yaml", {"K": KEY})
    assert cfg.effective_tier() == "free"


@pytest.mark.parametrize(
    ("text", "line", "path"),
    [
        ("risk:\n  per_trade_cap_usdc: 1.0000001\n", 2, "risk.per_trade_cap_usdc"),
        ("risk:\n  confirm_ceiling_usdc: 0.0000001\n", 2, "risk.confirm_ceiling_usdc"),
        (
            "sources:\n  poller:\n    quote_amount_usdc: 1e-7\n",
            3,
            "sources.poller.quote_amount_usdc",
        ),
    ],
)
def test_usdc_with_more_than_six_decimals_is_a_config_error(
    text: str, line: int, path: str
) -> None:
    [(got_line, got_path, msg)] = problems(text)
    assert (got_line, got_path) == (line, path)
    assert "6 decimal places" in msg


def test_six_decimals_and_trailing_zeros_are_fine() -> None:
    cfg = parse_config("risk:\n  per_trade_cap_usdc: 1.0000010\n", "t.yaml", {})
    assert cfg.risk.per_trade_cap_usdc == Decimal("1.000001")


def test_cap_above_the_tier_names_key_line_and_usdc() -> None:
    [(line, path, msg)] = problems(
        "venue: {mode: paper, sim: {key_tier: free}}\nrisk:\n  per_trade_cap_usdc: 501\n"
    )
    assert (line, path) == (3, "risk.per_trade_cap_usdc")
    assert "501 USDC is above the free tier's 500 USDC" in msg
    assert "000000" not in msg  # no atomic units


def test_contract_override_allows_a_contract_value() -> None:
    text = LIVE.replace("tier: free", "tier: mm\n  requests_per_minute: 600")
    text += "risk:\n  daily_cap_usdc: 2000000\n"
    [(line, path, _)] = problems(text)
    assert (line, path) == (11, "risk.daily_cap_usdc")
    cfg = parse_config(text + "  contract_override: true\n", "t.yaml", {"K": KEY})
    assert Limits.from_config(cfg.risk, "mm").daily_cap == 2_000_000 * USDC_ONE


def test_limits_from_config_names_the_config_key() -> None:
    risk = RiskConfig(per_trade_cap_usdc=Decimal("10"), max_total_exposure_usdc=Decimal("7.5"))
    limits = Limits.from_config(risk, "developer")
    assert limits.per_trade_cap == 10 * USDC_ONE and limits.total_exposure_cap == 7_500_000
    assert limits.daily_cap == 10_000 * USDC_ONE  # the tier default
    with pytest.raises(LimitsError) as info:
        Limits.from_config(RiskConfig(daily_cap_usdc=Decimal(1001)), "free")
    assert info.value.field == "risk.daily_cap_usdc"
    assert str(info.value).startswith("risk.daily_cap_usdc: 1001 USDC is above")


def test_malformed_key_is_named_with_its_line_never_echoed() -> None:
    [(line, path, msg)] = problems(LIVE, {"K": "kash_live_short1234"})
    assert (line, path) == (3, "venue.api_key")
    assert "malformed" in msg and "short1234" not in msg


def test_unreadable_key_file_and_bad_base_url() -> None:
    text = LIVE.replace("api_key: ${K}", "api_key_file: /nonexistent/kash.key")
    [(line, path, msg)] = problems(text)
    assert (line, path) == (3, "venue.api_key_file") and "cannot read" in msg
    text = LIVE.replace("  api_key: ${K}\n", "  api_key: ${K}\n  base_url: ftp://x\n")
    [(line, path, _)] = problems(text)
    assert (line, path) == (4, "venue.base_url")


def test_live_needs_a_tier_and_enterprise_a_quota() -> None:
    [(_, path, msg)] = problems(LIVE.replace("account:\n  tier: free\n", ""))
    assert path == "account.tier" and "required" in msg
    [(line, path, _)] = problems(LIVE.replace("tier: free", "tier: enterprise"))
    assert (line, path) == (4, "account.requests_per_minute")  # its section


def test_budget_share_default_keeps_the_limiter_under_a_free_quota() -> None:
    share = RiskConfig().budget_share
    assert share == 0.95
    budget = UserBudget(60, share=share)
    stats = budget.stats()
    assert budget._main.burst + stats.budget < 60  # the limiter's invariant
    [(line, path, msg)] = problems(LIVE + "risk:\n  budget_share: 0.97\n")
    assert (line, path) == (10, "risk.budget_share") and "0.9667" in msg
    parse_config(LIVE + "risk:\n  budget_share: 0.96\n", "t.yaml", {"K": KEY})


def test_live_stream_must_be_wss_and_must_exist() -> None:
    on = LIVE.replace("stream: {enabled: false}", "stream: {enabled: true, url: 'ws://h/s'}")
    [(line, path, msg)] = problems(on)
    assert (line, path) == (8, "sources.stream.url") and "wss://" in msg
    parse_config(on.replace("ws://", "wss://"), "t.yaml", {"K": KEY})
    [(_, path, msg)] = problems(LIVE.replace("stream: {enabled: false}", "stream: {}"))
    assert path == "sources.stream.enabled" and "no stream" in msg
    [(_, path, _)] = problems("sources:\n  stream: {url: 'http://h/s'}\n")
    assert path == "sources.stream.url"
    paper = parse_config("sources:\n  stream: {url: 'ws://127.0.0.1:9/v1/stream'}\n", "t", {})
    assert paper.sources.stream.url is not None  # paper may use a local ws:// sim


def test_control_token_lives_beside_the_store() -> None:
    cfg = parse_config("store: {path: /srv/kb/live.sqlite}\n", "t.yaml", {})
    assert cfg.control_token_path() == Path("/srv/kb/control.token")
    memory = parse_config("store: {path: ':memory:'}\n", "t.yaml", {})  # backtests
    with pytest.raises(ValueError, match="token_file"):
        memory.control_token_path()
    [(_, path, _)] = problems("store: {path: 'var/{run}/x.sqlite'}\n")
    assert path == "control.token_file"
    cfg = parse_config("store: {path: ':memory:'}\ncontrol: {token_file: /t/tok}\n", "t", {})
    assert cfg.control_token_path() == Path("/t/tok")


def test_where_points_into_the_file() -> None:
    cfg = parse_config("venue:\n  mode: paper\nrisk:\n  daily_cap_usdc: 5\n", "p.yaml", {})
    assert cfg.where("risk.daily_cap_usdc") == "p.yaml:4"
    assert cfg.where("risk.per_trade_cap_usdc") == "p.yaml:3"  # not written: its section
    assert cfg.where("") == "p.yaml"


def test_cli_config_check_rejects_what_run_would_die_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "cap.yaml"
    bad.write_text(
        "venue: {mode: paper, sim: {key_tier: free}}\nrisk:\n  per_trade_cap_usdc: 600\n"
    )
    assert main(["config", "check", str(bad)]) == 2  # a config error
    err = capsys.readouterr().err
    assert f"{bad}:3: risk.per_trade_cap_usdc: 600 USDC is above the free tier's 500 USDC" in err
