"""Backtest configuration: a daemon config (``KashbotConfig``) plus an optional ``backtest:`` block.

The strategies, markets, account and risk sections are the daemon's own, validated by
``kashbot.config`` (unknown keys rejected, errors with file and line), so a backtest runs exactly
what ``kashbot run`` would. The ``backtest:`` block holds what only a backtest needs.

Sweeps and worker processes handle the config as a plain mapping (picklable, addressable by
dotted paths); :func:`split_config` validates it at the last moment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kashbot.config import ConfigError, KashbotConfig, parse_config


class BacktestSettings(BaseModel):
    """The ``backtest:`` block (every field optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = Field(None, description="journal to replay (or --data)")
    scenario: str | None = Field(None, description="sim scenario to generate flow (or --scenario)")
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


_BLOCK_RE = re.compile(r"^backtest\s*:")


def blank_backtest_block(text: str) -> str:
    """The YAML text with its top-level ``backtest:`` block replaced by blank lines.

    Line numbers are preserved, so ``kashbot.config`` still reports errors at the right line.
    """
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if _BLOCK_RE.match(line):
            inside = True
            out.append("")
            continue
        if inside and line and not line[0].isspace() and not line.startswith("#"):
            inside = False
        out.append("" if inside else line)
    return "\n".join(out) + "\n"


def load_backtest_file(path: str | Path) -> dict[str, Any]:
    """Read and validate a backtest config file; returns it as a plain mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [(None, "", f"cannot read: {exc}")]) from exc
    parse_config(blank_backtest_block(text), str(p))  # errors name file, key path and line
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ConfigError(str(p), [(1, "", "the top level must be a mapping")])
    split_config(raw, source=str(p))
    return raw


def split_config(
    raw: Mapping[str, Any], *, source: str = "<config>"
) -> tuple[KashbotConfig, BacktestSettings]:
    """Validate a config mapping into the daemon's config and the backtest settings."""
    rest = {k: v for k, v in raw.items() if k != "backtest"}
    try:
        settings = BacktestSettings.model_validate(raw.get("backtest") or {})
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc, "backtest")) from None
    try:
        cfg = KashbotConfig.model_validate(rest)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc, "")) from None
    return cfg, settings


def _problems(exc: ValidationError, prefix: str) -> list[tuple[int | None, str, str]]:
    out: list[tuple[int | None, str, str]] = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append((None, path, err["msg"]))
    return out
