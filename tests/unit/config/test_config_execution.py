"""The ``execution:`` section: the order path's timing knobs, checked like every other key, and
the same values reach the executor and router in ``kashbot run`` and in a backtest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kashbot.backtest.assembly import assemble
from kashbot.cli import main
from kashbot.clock import SimClock
from kashbot.config import ConfigError, ExecutionConfig, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
LIVE_ENV = {"KASH_API_KEY": "kash_live_" + "A1b2C3d4" * 4, "KASH_WEBHOOK_SECRET": "whsec_x"}


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml", {})
    return info.value.problems


def test_defaults_are_the_executor_and_router_defaults() -> None:
    ex = parse_config("", "t.yaml", {}).execution
    assert ex == ExecutionConfig()
    assert ex.max_intent_age_s == 10.0
    assert ex.reconcile_interval_s == 30.0
    assert ex.unknown_settle_s == 120.0
    assert (ex.recovery_attempts, ex.recovery_backoff_s, ex.recovery_backoff_max_s) == (6, 1, 30)


def test_values_are_read_and_null_disables_the_age_limit() -> None:
    ex = parse_config(
        "execution:\n  max_intent_age_s: null\n  reconcile_interval_s: 5\n"
        "  unknown_settle_s: 90\n  recovery_attempts: 3\n  recovery_backoff_s: 0.5\n"
        "  recovery_backoff_max_s: 4\n",
        "t.yaml",
        {},
    ).execution
    assert ex.max_intent_age_s is None and ex.reconcile_interval_s == 5.0
    assert (ex.unknown_settle_s, ex.recovery_attempts) == (90.0, 3)
    assert (ex.recovery_backoff_s, ex.recovery_backoff_max_s) == (0.5, 4.0)


@pytest.mark.parametrize(
    ("text", "line", "path", "words"),
    [
        ("execution:\n  max_intent_age_s: 0\n", 2, "execution.max_intent_age_s", "greater than 0"),
        ("execution:\n  reconcile_interval_s: -1\n", 2, "execution.reconcile_interval_s", "0"),
        # the venue works on a request for up to 30 s: a shorter wait could free a live trade
        ("execution:\n  unknown_settle_s: 20\n", 2, "execution.unknown_settle_s", "30"),
        ("execution:\n  recovery_attempts: 0\n", 2, "execution.recovery_attempts", "1"),
        ("execution:\n  reconcile_intervall_s: 5\n", 2, "execution.reconcile_intervall_s", "mean"),
    ],
)
def test_bad_values_name_the_key_and_line(text: str, line: int, path: str, words: str) -> None:
    [(got_line, got_path, msg)] = problems(text)
    assert (got_line, got_path) == (line, path)
    assert words in msg


def test_backoff_cap_below_the_first_backoff_is_an_error() -> None:
    [(line, path, msg)] = problems(
        "execution:\n  recovery_backoff_s: 5\n  recovery_backoff_max_s: 2\n"
    )
    assert path.startswith("execution") and line is not None
    assert "recovery_backoff_max_s" in msg


def test_shipped_configs_set_the_section_and_pass_config_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paper = load_config(ROOT / "configs" / "paper.yaml", env={})
    live = load_config(ROOT / "configs" / "live.example.yaml", env=LIVE_ENV)
    for cfg in (paper, live):
        assert "execution" in cfg.model_fields_set
    assert main(["config", "check", str(ROOT / "configs" / "paper.yaml")]) == 0
    for name, value in LIVE_ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["config", "check", str(ROOT / "configs" / "live.example.yaml")]) == 0


class NoTrades:
    """All recovery asks of a venue with nothing on it (the backtest skips venue spend)."""

    async def list_positions(self, market_id: str | None = None) -> list[object]:
        return []


async def test_the_backtest_assembly_uses_the_section() -> None:
    cfg = parse_config(
        "venue: {mode: paper, sim: {key_tier: developer}}\n"
        "strategies: [{name: fair_value, id: fv}]\n"
        "execution:\n  max_intent_age_s: 3\n  reconcile_interval_s: 7\n  unknown_settle_s: 45\n"
        "  recovery_attempts: 2\n  recovery_backoff_s: 0.25\n  recovery_backoff_max_s: 2\n",
        "bt.yaml",
        {},
    )
    tape = SimpleNamespace(
        on_price=None,
        on_fair=None,
        on_denied=None,
        on_trade=None,
        on_redeemed=None,
        on_intent=None,
        fair={},
    )
    parts = await assemble(
        cfg,
        SimClock(),
        NoTrades(),
        tape,
        venue_markets=["m1"],
        start=0.0,  # type: ignore[arg-type]
    )
    try:
        r, ex = parts.router.settings, parts.router.executor.settings
        assert (ex.max_intent_age_s, ex.unknown_settle_s) == (3.0, 45.0)
        assert r.reconcile_interval_s == 7.0
        assert (r.recovery_attempts, r.recovery_backoff_s, r.recovery_backoff_max_s) == (2, 0.25, 2)
    finally:
        await parts.close()
