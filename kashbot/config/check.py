"""Validating a config: the models, then what they alone cannot know, found before startup.

``config check`` OK means ``kashbot run`` starts: each strategy loads and its params and
protections validate, the limits fit the tier, a live key has the right shape and the request
budget fits the quota. Every problem is reported with its ``file:line`` at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from kashbot.client.config import KashConfigError, check_api_key, resolve_settings
from kashbot.client.request_budget import max_budget_share, tier_requests_per_min
from kashbot.config.files import missing_file_problems
from kashbot.config.loader import (
    ConfigError,
    KeyPath,
    Problem,
    dotted,
    line_for,
    read_yaml,
    validation_problems,
)
from kashbot.config.models import KashbotConfig, StrategyConfig
from kashbot.engine.strategy import StrategyLoadError, load_strategy_class
from kashbot.events import Timer
from kashbot.fairvalue.loader import FairValueConfigError, validate_fair_values
from kashbot.risk.limits import Limits, LimitsError


def parse_config(
    text: str, file: str = "<string>", env: Mapping[str, str] | None = None
) -> KashbotConfig:
    """Validate YAML text into a :class:`KashbotConfig` (raises :class:`ConfigError`)."""
    data, lines = read_yaml(text, file, env)
    return validate_config(data, lines, file)


def validate_config(
    data: Mapping[str, Any], lines: Mapping[KeyPath, int], file: str = "<config>"
) -> KashbotConfig:
    """Validate a mapping read by :func:`~kashbot.config.loader.read_yaml` (``lines`` place
    errors in ``file``)."""
    try:
        cfg = KashbotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, validation_problems(exc, lines, root=KashbotConfig)) from None
    problems: list[Problem] = []
    for i, strat in enumerate(cfg.strategies):
        problems.extend(_strategy_problems(strat, ("strategies", i), lines, file))
    problems.extend(_deployment_problems(cfg, lines))
    problems.extend(missing_file_problems(cfg, lines))
    if cfg.fair_values.sources:
        try:  # each source loads and its params validate, before startup
            validate_fair_values(cfg.fair_values, file=file, lines=lines)
        except FairValueConfigError as exc:
            problems.extend(exc.entries)
    if problems:
        raise ConfigError(file, problems)
    cfg._source = file
    cfg._lines = dict(lines)
    return cfg


def _strategy_problems(
    strat: StrategyConfig, base: KeyPath, lines: Mapping[KeyPath, int], file: str
) -> list[Problem]:
    """The strategy loads, its params validate, its timers reach it, its protections hold."""
    out: list[Problem] = []

    def add(key: str, msg: str) -> None:
        out.append((line_for(lines, (*base, key)), dotted((*base, key)), msg))

    try:
        cls = load_strategy_class(strat.name, config_file=file)
    except StrategyLoadError as exc:
        add("name", str(exc))
        return out
    if strat.timers and not any(issubclass(Timer, kind) for kind in cls.handles):
        add("timers", f"strategy {strat.name!r} does not handle Timer events")
    try:
        params = cls.Params.model_validate(strat.params)
    except ValidationError as exc:
        return validation_problems(exc, lines, (*base, "params"), root=cls.Params) + out
    try:
        cls.effective_protections(params, strat.protections)
    except ValidationError as exc:
        out.extend(validation_problems(exc, lines, (*base, "protections")))
    except ValueError as exc:
        add("protections", str(exc))
    return out


def _deployment_problems(cfg: KashbotConfig, lines: Mapping[KeyPath, int]) -> list[Problem]:
    """What ``kashbot run`` would refuse at startup, found now: ``config check`` OK means it
    starts (limits within the tier, a key of the right shape, a request budget that fits)."""
    out: list[Problem] = []

    def add(path: KeyPath, msg: str) -> None:
        out.append((line_for(lines, path), dotted(path), msg))

    tier = cfg.effective_tier()
    if tier is None:
        add(("account", "tier"), "required in live mode (free|developer|enterprise|mm)")
    else:
        try:
            Limits.from_config(cfg.risk, tier)
        except LimitsError as exc:
            add(tuple(exc.field.split(".")), exc.message)
        try:
            limit = tier_requests_per_min(tier, cfg.account.requests_per_minute)
        except ValueError:
            add(
                ("account", "requests_per_minute"),
                f"required for the {tier} tier (Kash sets its quota per contract)",
            )
        else:
            share, most = cfg.risk.budget_share, max_budget_share(limit)
            if limit < 3:
                add(("account", "requests_per_minute"), "must be >= 3")
            elif share > most:
                add(
                    ("risk", "budget_share"),
                    f"{share} is above {most:.4f} = (limit - 2) / limit for {limit} requests/min:"
                    " the request bucket's burst plus its rate would reach the server's limit",
                )
    if cfg.control.enabled and cfg.store.path != ":memory:":  # backtests: in memory, no control
        try:
            cfg.control_token_path()
        except ValueError as exc:
            add(("control", "token_file"), str(exc))
    if cfg.venue.mode == "live":
        _live_problems(cfg, add)
    if cfg.shared_state.shared:
        _shared_problems(cfg, add)
    return out


def _shared_problems(cfg: KashbotConfig, add: Callable[[KeyPath, str], None]) -> None:
    """``shared_state.backend: redis`` shares with other daemons of one Kash user and key."""
    if cfg.venue.mode == "paper":
        add(
            ("shared_state", "backend"),
            "paper mode trades a simulator of its own, with nobody to share with:"
            " use backend: embedded (or venue.mode: live against a shared `kashbot sim`)",
        )
    elif cfg.account.user_id == "default":
        add(
            ("account", "user_id"),
            "required with shared_state.backend: redis: the shared request budget is the Kash"
            " user's; every daemon of the user must name it alike",
        )


def _live_problems(cfg: KashbotConfig, add: Callable[[KeyPath, str], None]) -> None:
    venue, stream = cfg.venue, cfg.sources.stream
    key_path: KeyPath = ("venue", "api_key" if venue.api_key is not None else "api_key_file")
    try:
        key = venue.resolved_api_key()
    except OSError as exc:
        add(key_path, f"cannot read: {exc.strerror}")
        key = None
    if key is not None:
        try:
            check_api_key(key, source="the API key")
            resolve_settings(key, venue.base_url, env={})
        except KashConfigError as exc:
            bad_url = str(exc).startswith("base_url")
            add(("venue", "base_url") if bad_url else key_path, str(exc))
    webhook = cfg.sources.webhook
    if webhook.enabled and webhook.secret is None and webhook.secret_file is not None:
        try:
            webhook.secrets()
        except OSError as exc:
            add(("sources", "webhook", "secret_file"), f"cannot read: {exc.strerror}")
    if stream.enabled and stream.url is None:
        add(
            ("sources", "stream", "enabled"),
            "Kash has no stream (kash-api §12): set enabled: false, or a url of your own",
        )
    elif stream.enabled and stream.url is not None and urlsplit(stream.url).scheme != "wss":
        add(
            ("sources", "stream", "url"),
            "live mode needs wss://: a plain ws:// stream is readable and forgeable on the way",
        )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> KashbotConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(str(p), [(None, "", f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, str(p), env)


def load_config_or_report(path: str | Path) -> KashbotConfig | None:
    """For a command: the config, or None once what is wrong with it is printed to stderr."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def effective_config_yaml(cfg: KashbotConfig) -> str:
    """The config with every default filled in and secrets masked (for ``config check``)."""
    data = cfg.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
