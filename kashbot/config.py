"""YAML config -> frozen pydantic models rejecting unknown keys; errors give file:line and key path.

Why a custom loader: pydantic knows the key path of an error but not where it is in the file, and
"extra inputs are not permitted" without a line number is how typos survive. The YAML is composed
into nodes first, so every key path gets the line it was written on.

Secrets (``api_key``, webhook ``secret``/``previous_secret``) can only come from the environment
(``${KASH_API_KEY}``) or a file (``api_key_file``, ``secret_file``); a literal value in YAML is an
error, so a config file can be shared or committed safely. ``${VAR}`` and ``${VAR:-default}`` work
in any string value. Secrets become ``SecretStr`` and print as ``**********``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from kashbot.client.config import KashConfigError, check_api_key, resolve_settings
from kashbot.client.request_budget import max_budget_share, tier_requests_per_min
from kashbot.engine.strategy import StrategyLoadError, load_strategy_class
from kashbot.events import Timer
from kashbot.risk.limits import Limits, LimitsError
from kashbot.sources.timer import MIN_INTERVAL_S
from kashbot.units import UsdcDecimal

Tier = Literal["free", "developer", "enterprise", "mm"]
KeyPath = tuple[str | int, ...]
Problem = tuple[int | None, str, str]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_ONLY_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
SECRET_KEYS = frozenset({"api_key", "secret", "previous_secret", "webhook_secret"})


class ConfigError(ValueError):
    """Every problem found in one config file, each as ``file:line: key.path: message``."""

    def __init__(self, file: str, problems: list[tuple[int | None, str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [
            f"{file}:{line if line is not None else '?'}: {path or '<root>'}: {msg}"
            for line, path, msg in problems
        ]
        super().__init__("\n".join(lines))


# ---- models ---------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimConfig(_Model):
    """The in-process simulator that paper mode trades against."""

    scenario: str | None = Field(None, description="sim scenario file; None = the default one")
    seed: int = 0
    time_scale: float = Field(1.0, gt=0)
    key_tier: Tier = "developer"


class VenueConfig(_Model):
    mode: Literal["paper", "live"] = "paper"
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    api_version: str | None = "2026-08-19"  # lists and serves Solana markets (kash-today §3)
    sign_requests: bool = False
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    sim: SimConfig = SimConfig()

    @model_validator(mode="after")
    def _key_for_live(self) -> VenueConfig:
        if self.mode == "live" and self.api_key is None and self.api_key_file is None:
            raise ValueError("live mode needs api_key: ${KASH_API_KEY} (or api_key_file)")
        if self.mode == "paper" and (self.api_key is not None or self.api_key_file is not None):
            raise ValueError("paper mode uses the simulator's own test key; remove api_key")
        return self

    def resolved_api_key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_file is not None:
            return self.api_key_file.read_text().strip()
        return None


class AccountConfig(_Model):
    """Whose request budget we spend: every key of one Kash user shares it."""

    user_id: str = "default"
    tier: Tier | None = Field(None, description="the key's tier; paper: the sim key's")
    requests_per_minute: int | None = Field(None, gt=0, description="needed for enterprise/mm")


class RiskConfig(_Model):
    """Caps default from the tier (kash-api §4); values here can only lower them."""

    per_trade_cap_usdc: UsdcDecimal | None = Field(None, gt=0)
    daily_cap_usdc: UsdcDecimal | None = Field(None, gt=0)
    max_market_exposure_usdc: UsdcDecimal | None = Field(None, gt=0)
    max_total_exposure_usdc: UsdcDecimal | None = Field(None, gt=0)
    confirm_ceiling_usdc: UsdcDecimal = Field(
        Decimal(0), ge=0, description="auto-confirm gated (202) trades up to this amount"
    )
    budget_share: float = Field(
        0.95,
        gt=0,
        le=1,
        description="share of the user's request quota; at most (limit - 2) / limit",
    )
    max_consecutive_failures: int = Field(5, ge=1)
    contract_override: bool = Field(
        False, description="your Kash contract sets caps above the tier's: allow them"
    )


class PollerConfig(_Model):
    enabled: bool = True
    markets_interval_s: float = Field(10.0, gt=0)
    predictions_interval_s: float = Field(5.0, ge=0, description="0 disables")
    quotes_interval_s: float = Field(15.0, ge=0, description="0 disables")
    quote_amount_usdc: UsdcDecimal = Field(Decimal(1), gt=0)
    reserve_fraction: float = Field(
        0.2, ge=0, lt=1, description="share of X-RateLimit-Remaining kept for order traffic"
    )
    stale_after_s: float = Field(60.0, gt=0)


class WebhookConfig(_Model):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535, description="0 = any free port")
    path: str = "/kash/webhook"
    public_url: str | None = Field(None, description="URL Kash delivers to (paper: automatic)")
    secret: SecretStr | None = None
    secret_file: Path | None = None
    previous_secret: SecretStr | None = None
    max_body_bytes: int = Field(65_536, ge=1_024)
    tolerance_s: float = Field(300.0, gt=0)

    @field_validator("path")
    @classmethod
    def _slash(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("path must start with '/'")
        return v

    def secrets(self) -> list[str]:
        out: list[str] = []
        if self.secret is not None:
            out.append(self.secret.get_secret_value())
        elif self.secret_file is not None:
            out.append(self.secret_file.read_text().strip())
        if self.previous_secret is not None:
            out.append(self.previous_secret.get_secret_value())
        return out


class StreamConfig(_Model):
    enabled: bool = Field(True, description="the simulator's /v1/stream; Kash itself has none")
    url: str | None = Field(
        None,
        description="ws(s) URL; paper: the simulator's. The API key is sent only to the REST "
        "API's own host; live mode needs wss://",
    )
    heartbeat_timeout_s: float = Field(15.0, gt=0)
    stale_after_s: float = Field(30.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _websocket(cls, v: str | None) -> str | None:
        if v is not None and (urlsplit(v).scheme not in ("ws", "wss") or not urlsplit(v).netloc):
            raise ValueError("must be a ws:// or wss:// URL")
        return v


class SimTruthConfig(_Model):
    """Paper only: publish the simulator's hidden true chances as FairValueUpdate events."""

    enabled: bool = False
    interval_s: float = Field(5.0, gt=0)


class SourcesConfig(_Model):
    poller: PollerConfig = PollerConfig()
    webhook: WebhookConfig = WebhookConfig()
    stream: StreamConfig = StreamConfig()
    sim_truth: SimTruthConfig = SimTruthConfig()


class StrategyConfig(_Model):
    name: str = Field(description="short name in strategies/ or a dotted path")
    id: str | None = None
    markets: list[str] | None = Field(None, description="None = every configured market")
    params: dict[str, Any] = Field(default_factory=dict)
    timers: dict[str, float] = Field(
        default_factory=dict,
        description="name -> interval_s: periodic Timer events for this strategy (overrides "
        "what the strategy declares under the same name)",
    )

    @field_validator("timers")
    @classmethod
    def _positive_intervals(cls, v: dict[str, float]) -> dict[str, float]:
        for name, every in v.items():
            if not name:
                raise ValueError("timer names must be non-empty")
            if not every >= MIN_INTERVAL_S:
                raise ValueError(f"timer {name!r}: interval_s must be >= {MIN_INTERVAL_S}")
        return v


class StoreConfig(_Model):
    """``{run}`` in ``path`` becomes the start time (``20261128-010402``): one store per run.

    Paper mode with the embedded simulator wants that, since every start is a fresh simulated
    venue whose ids and spend a previous run's store knows nothing about. Live keeps one path, so
    a restart reloads the spend ledger and reconciles what was in flight.
    """

    path: str = "var/kashbot.sqlite"

    def resolved_path(self, started_at: float) -> str:
        if "{run}" not in self.path:
            return self.path
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started_at))
        return self.path.replace("{run}", stamp)


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    file: str | None = None


class StatusConfig(_Model):
    enabled: bool | Literal["auto"] = "auto"
    refresh_s: float = Field(1.0, gt=0)


class ControlConfig(_Model):
    """A tiny HTTP endpoint for ``kashbot halt``/``resume``/``confirm``/``status`` (loopback).

    Every request needs the bearer token the daemon writes (mode 0600) to ``token_file``,
    ``control.token`` beside the store by default; the CLI reads it from there.
    """

    enabled: bool = True
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(8788, ge=0, le=65535)
    token_file: str | None = Field(None, description="None = control.token beside the store")


class MetricsConfig(_Model):
    """Prometheus ``/metrics`` plus ``/healthz`` and ``/readyz`` (loopback only).

    With ``port`` unset they are served by the control endpoint (one port); a port gives them a
    listener of their own (e.g. when ``control`` is disabled).
    """

    enabled: bool = False
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int | None = Field(None, ge=0, le=65535, description="None = the control port")
    loop_lag_interval_s: float = Field(0.5, gt=0, description="event-loop lag sampling period")


class ExecutionConfig(_Model):
    """The order path's timing (executor and router); the money limits are in ``risk``.

    Defaults are the executor's and router's own. ``unknown_settle_s`` must exceed the venue's
    30 s request timeout (REQUEST_TIMEOUT): a shorter wait could declare an intent never
    created, and free its reservation, while the venue is still creating its trade.
    """

    max_intent_age_s: float | None = Field(
        10.0, gt=0, description="an intent older than this is not sent (STALE_INTENT); null: any"
    )
    reconcile_interval_s: float = Field(
        30.0, gt=0, description="period of the loop settling unknown outcomes and lost follows"
    )
    unknown_settle_s: float = Field(
        120.0,
        gt=30,
        description="a lost POST whose trade no lookup finds this long after the last send is"
        " OUTCOME_NOT_FOUND (released)",
    )
    recovery_attempts: int = Field(
        6, ge=1, description="tries of each venue lookup at startup before startup fails"
    )
    recovery_backoff_s: float = Field(1.0, gt=0, description="first wait between those tries")
    recovery_backoff_max_s: float = Field(
        30.0, gt=0, description="cap of the doubling wait between those tries"
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> ExecutionConfig:
        if self.recovery_backoff_max_s < self.recovery_backoff_s:
            raise ValueError(
                f"recovery_backoff_max_s ({self.recovery_backoff_max_s:g}) is below"
                f" recovery_backoff_s ({self.recovery_backoff_s:g})"
            )
        return self


class EngineConfig(_Model):
    shutdown_grace_s: float = Field(10.0, ge=0)
    max_inflight_intents: int = Field(64, ge=1)


class KashbotConfig(_Model):
    venue: VenueConfig = VenueConfig()
    account: AccountConfig = AccountConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    sources: SourcesConfig = SourcesConfig()
    markets: list[str] | Literal["all"] = "all"
    strategies: list[StrategyConfig] = Field(default_factory=list)
    store: StoreConfig = StoreConfig()
    logging: LoggingConfig = LoggingConfig()
    status: StatusConfig = StatusConfig()
    control: ControlConfig = ControlConfig()
    metrics: MetricsConfig = MetricsConfig()
    engine: EngineConfig = EngineConfig()

    # where the config came from, for errors found after loading (``file:line``)
    _source: str = PrivateAttr("<config>")
    _lines: dict[KeyPath, int] = PrivateAttr(default_factory=dict)

    def where(self, key: str) -> str:
        """``file:line`` of a dotted key (its nearest written parent), or just ``file``."""
        path: KeyPath = tuple(key.split(".")) if key else ()
        line = _line_for(self._lines, path) if path else None
        return self._source if line is None else f"{self._source}:{line}"

    def effective_tier(self) -> Tier | None:
        """The key's tier: ``account.tier``; on paper, else the simulator key's tier."""
        if self.venue.mode == "paper":
            return self.account.tier or self.venue.sim.key_tier
        return self.account.tier

    def control_token_path(self) -> Path:
        """Where the daemon writes (and the CLI reads) the control endpoint's bearer token."""
        if self.control.token_file is not None:
            return Path(self.control.token_file)
        if self.store.path == ":memory:":
            raise ValueError("the store is in memory, so nothing is beside it: set token_file")
        parent = Path(self.store.path).parent
        if "{run}" in str(parent):
            raise ValueError(
                "store.path has {run} in its directory, so the CLI cannot find the token "
                "beside it: set token_file"
            )
        return parent / "control.token"

    @model_validator(mode="after")
    def _live_webhook_secret(self) -> KashbotConfig:
        wh = self.sources.webhook
        if (
            self.venue.mode == "live"
            and wh.enabled
            and wh.secret is None
            and wh.secret_file is None
        ):
            raise ValueError(
                "sources.webhook is enabled in live mode but has no secret: "
                "secret: ${KASH_WEBHOOK_SECRET} (or secret_file)"
            )
        if self.venue.mode == "live" and self.sources.sim_truth.enabled:
            raise ValueError("sources.sim_truth exists only in paper mode")
        if self.metrics.enabled and self.metrics.port is None and not self.control.enabled:
            raise ValueError(
                "metrics.port is required when control is disabled "
                "(without a port, metrics are served on the control endpoint)"
            )
        ids = [s.id or s.name for s in self.strategies]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"strategy ids must be unique; give each an id: {dupes}")
        return self


# ---- loading --------------------------------------------------------------------------------


class _Walker:
    """Turns a composed YAML node tree into plain data plus a key-path -> line map."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[tuple[int | None, str, str]] = []

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append((line, _fmt(path), "mapping keys must be plain strings"))
                    continue
                sub = (*path, key)
                if key in out:
                    self.problems.append((key_node.start_mark.line + 1, _fmt(sub), "duplicate key"))
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        value = node.value  # the raw text as written
        resolved: Any
        if node.tag == _FLOAT_TAG and _DECIMAL_RE.match(value):
            resolved = Decimal(value)  # money must never pass through a float
        else:
            resolved = _SCALAR_LOADER.construct_object(node, deep=True)
        secret = bool(path) and path[-1] in SECRET_KEYS and resolved is not None
        if secret and not _ENV_ONLY_RE.match(str(value).strip()):
            self.problems.append(
                (
                    line,
                    _fmt(path),
                    "a literal secret is not allowed in a config file; "
                    "use ${ENV_VAR} (e.g. ${KASH_API_KEY}) or a secrets file "
                    "(api_key_file / secret_file)",
                )
            )
            return None
        if isinstance(resolved, str) and "${" in resolved:
            return self._interpolate(resolved, path, line)
        return resolved

    def _interpolate(self, text: str, path: KeyPath, line: int) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append((line, _fmt(path), f"environment variable {name} is not set"))
            return ""

        return _ENV_RE.sub(repl, text)


_SCALAR_LOADER = yaml.SafeLoader("")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_DECIMAL_RE = re.compile(r"^[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?$")


def _fmt(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _line_for(lines: Mapping[KeyPath, int], loc: KeyPath) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(root: type[BaseModel], parents: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``parents`` accepts, for a "did you mean" on an unknown key."""
    model: type[BaseModel] | None = root
    for part in parents:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # a list element: same model
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _pydantic_problems(
    exc: ValidationError,
    lines: Mapping[KeyPath, int],
    prefix: KeyPath = (),
    root: type[BaseModel] | None = None,
) -> list[tuple[int | None, str, str]]:
    out: list[tuple[int | None, str, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        # drop pydantic's union-branch tags like 'list[str]' / "literal['all']" from the path
        rel = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        loc = (*prefix, *rel)
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
            if root is not None and rel:
                close = get_close_matches(str(rel[-1]), _known_keys(root, rel[:-1]), n=1)
                if close:
                    msg = f"unknown key; did you mean '{close[0]}'?"
        out.append((_line_for(lines, loc), _fmt(loc), msg))
    return out


def read_yaml(
    text: str, file: str = "<string>", env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """YAML text -> (plain mapping, key path -> line), as :func:`parse_config` reads it.

    Float-looking numbers become exact ``Decimal``s, ``${VAR}`` is interpolated and literal
    secrets are refused; problems raise :class:`ConfigError` with file and line. For callers
    that validate more than the daemon's sections (the backtest's ``backtest:`` block).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, [(line, "", f"not valid YAML: {exc}")]) from None
    walker = _Walker(os.environ if env is None else env)
    data = walker.walk(root, ()) if root is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(file, [(1, "", "the top level must be a mapping")])
    if walker.problems:
        raise ConfigError(file, walker.problems)
    return data, walker.lines


def validation_problems(
    exc: ValidationError,
    lines: Mapping[KeyPath, int],
    prefix: KeyPath = (),
    root: type[BaseModel] | None = None,
) -> list[Problem]:
    """A pydantic error as ``(line, key.path, message)`` problems for :class:`ConfigError`
    ("unknown key; did you mean ..." when ``root`` is the model validated at ``prefix``)."""
    return _pydantic_problems(exc, lines, prefix, root)


def parse_config(
    text: str, file: str = "<string>", env: Mapping[str, str] | None = None
) -> KashbotConfig:
    """Validate YAML text into a :class:`KashbotConfig` (raises :class:`ConfigError`)."""
    data, lines = read_yaml(text, file, env)
    return validate_config(data, lines, file)


def validate_config(
    data: Mapping[str, Any], lines: Mapping[KeyPath, int], file: str = "<config>"
) -> KashbotConfig:
    """Validate a mapping read by :func:`read_yaml` (``lines`` place errors in ``file``)."""
    try:
        cfg = KashbotConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, _pydantic_problems(exc, lines, root=KashbotConfig)) from None
    problems: list[tuple[int | None, str, str]] = []
    for i, strat in enumerate(cfg.strategies):
        base: KeyPath = ("strategies", i)
        try:
            cls = load_strategy_class(strat.name)
        except StrategyLoadError as exc:
            problems.append((_line_for(lines, (*base, "name")), _fmt((*base, "name")), str(exc)))
            continue
        try:
            cls.Params.model_validate(strat.params)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, lines, (*base, "params"), root=cls.Params))
        if strat.timers and not any(issubclass(Timer, kind) for kind in cls.handles):
            problems.append(
                (
                    _line_for(lines, (*base, "timers")),
                    _fmt((*base, "timers")),
                    f"strategy {strat.name!r} does not handle Timer events",
                )
            )
    problems.extend(_deployment_problems(cfg, lines))
    if problems:
        raise ConfigError(file, problems)
    cfg._source = file
    cfg._lines = dict(lines)
    return cfg


def _deployment_problems(cfg: KashbotConfig, lines: Mapping[KeyPath, int]) -> list[Problem]:
    """What ``kashbot run`` would refuse at startup, found now: ``config check`` OK means it
    starts (limits within the tier, a key of the right shape, a request budget that fits)."""
    out: list[Problem] = []

    def add(path: KeyPath, msg: str) -> None:
        out.append((_line_for(lines, path), _fmt(path), msg))

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
    return out


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


def effective_config_yaml(cfg: KashbotConfig) -> str:
    """The config with every default filled in and secrets masked (for ``config check``)."""
    data = cfg.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
