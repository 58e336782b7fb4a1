"""Backtest configuration: a daemon config (``KashbotConfig``) plus an optional ``backtest:`` block.

The strategies, markets, account and risk sections are the daemon's own, validated by
``kashbot.config`` (unknown keys rejected, errors with file and line), so a backtest runs exactly
what ``kashbot run`` would. The ``backtest:`` block holds what only a backtest needs.

Sweeps and worker processes handle the config as a plain mapping (picklable, addressable by
dotted paths); :func:`split_config` validates it at the last moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kashbot.config import (
    ConfigError,
    KashbotConfig,
    Problem,
    read_yaml,
    validate_config,
    validation_problems,
)


class BacktestSettings(BaseModel):
    """The ``backtest:`` block (every field optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = Field(None, description="journal to replay (or --data)")
    scenario: str | None = Field(None, description="sim scenario to generate flow (or --scenario)")
    fair_values: str | None = Field(
        None,
        description="external fair-value CSV/JSONL (or --fair-values): replaces the simulator's "
        "truth and the recorded fair values (docs/fair-values.md)",
    )
    duration_s: float = Field(3600.0, gt=0, description="scenario mode: simulated span")
    settle_s: float = Field(60.0, ge=0, description="data mode: time after the last event")
    initial_cash_usdc: Decimal | None = Field(
        None, gt=0, description="None = the scenario user's balance (data mode: 10000)"
    )
    latency_s: float | None = Field(
        None, ge=0, description="submit -> execution; None = the scenario's lifecycle timings"
    )
    default_liquidity_usdc: Decimal = Field(
        Decimal(1000), gt=0, description="data mode: pool size for markets recorded without one"
    )
    replay: Literal["venue", "observed"] = Field(
        "venue",
        description="data mode: 'venue' re-derives prices from the venue's pools (what-if); "
        "'observed' replays what the recorded run saw, for parity with it",
    )
    mark_interval_s: float = Field(60.0, gt=0, description="equity curve resolution")
    sample_interval_s: float = Field(5.0, ge=0, description="price plot resolution per market")
    enforce_rate_limit: bool = Field(True, description="our requests count against the tier")
    plots: bool = True


def load_backtest_file(path: str | Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read and validate a backtest config file; returns it as a plain mapping.

    The file is read once, by the daemon's own reader (:func:`kashbot.config.read_yaml`), so the
    ``backtest:`` block gets what the daemon sections get: errors as ``file:line: key: message``
    (unknown keys with a "did you mean"), ``${VAR}`` interpolation, and float-looking numbers as
    exact ``Decimal``s in the returned mapping.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [(None, "", f"cannot read: {exc}")]) from exc
    data, lines = read_yaml(text, str(p), env)
    problems: list[Problem] = []
    try:
        validate_config(_daemon_part(data), lines, str(p))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        BacktestSettings.model_validate(data.get("backtest") or {})
    except ValidationError as exc:
        problems.extend(validation_problems(exc, lines, ("backtest",), root=BacktestSettings))
    if problems:
        raise ConfigError(str(p), problems)
    return data


def split_config(
    raw: Mapping[str, Any], *, source: str = "<config>"
) -> tuple[KashbotConfig, BacktestSettings]:
    """Validate a config mapping into the daemon's config and the backtest settings.

    A mapping has no lines; a file's problems are found with them by :func:`load_backtest_file`,
    so what fails here is an override (a sweep value) and is named by its key path.
    """
    try:
        settings = BacktestSettings.model_validate(raw.get("backtest") or {})
    except ValidationError as exc:
        problems = validation_problems(exc, {}, ("backtest",), root=BacktestSettings)
        raise ConfigError(source, problems) from None
    try:
        cfg = KashbotConfig.model_validate(_daemon_part(raw))
    except ValidationError as exc:
        raise ConfigError(source, validation_problems(exc, {}, root=KashbotConfig)) from None
    return cfg, settings


def _daemon_part(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "backtest"}
