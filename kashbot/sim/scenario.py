"""Simulator scenarios: YAML -> frozen pydantic models that reject unknown keys.

A scenario holds markets, users, keys (tiers, scopes, caps, webhook), timings, API choices where
Kash's docs are silent or conflicting, and faults to arm at start. Errors name the file, the key
path and the line, e.g. ``default.yaml: keys[2].tier (line 41): Input should be 'free', ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kashbot.bundled import DEFAULT_SCENARIO as BUNDLED_SCENARIO
from kashbot.sim.chains import V_BASE_ONLY, V_SOLANA
from kashbot.sim.scenario_markets import (
    FeesConfig,
    MarketConfig,
    NoiseConfig,
    ResolveAt,
    usdc_field,
)

__all__ = [
    "DEFAULT_SCENARIO",
    "ApiChoices",
    "FaultKind",
    "FaultSpec",
    "FeesConfig",
    "KeyConfig",
    "MarketConfig",
    "NoiseConfig",
    "ResolveAt",
    "Scenario",
    "ScenarioError",
    "load_scenario",
]

DEFAULT_SCENARIO = BUNDLED_SCENARIO  # package data (kashbot/data -> configs/), works from a wheel

KEY_RE = re.compile(r"^kash_test_[A-Za-z0-9]{32}$")
Tier = Literal["free", "developer", "enterprise", "mm"]
Scope = Literal[
    "markets:read",
    "markets:quote",
    "portfolio:read",
    "trades:read",
    "trades:write",
    "webhooks:manage",
    "auth:manage",
]
ALL_SCOPES: tuple[str, ...] = get_args(Scope)


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names file, key path and line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierLimits(_Model):
    """Per-tier defaults (§4); ``None`` threshold means no confirm gate."""

    requests_per_minute: int = Field(gt=0)
    daily_spend_limit_usdc: str
    per_trade_limit_usdc: str
    high_value_trade_threshold_usdc: str | None = None

    _check = field_validator("daily_spend_limit_usdc", "per_trade_limit_usdc", mode="before")(
        usdc_field
    )

    @field_validator("high_value_trade_threshold_usdc", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> str | None:
        return None if v is None else usdc_field(v)


TIER_DEFAULTS: dict[str, TierLimits] = {
    "free": TierLimits(
        requests_per_minute=60, daily_spend_limit_usdc="1000", per_trade_limit_usdc="500"
    ),
    "developer": TierLimits(
        requests_per_minute=300, daily_spend_limit_usdc="10000", per_trade_limit_usdc="2500"
    ),
    # Kash: "custom (admin-set)"; these are the simulator's choice.
    "enterprise": TierLimits(
        requests_per_minute=3000,
        daily_spend_limit_usdc="100000",
        per_trade_limit_usdc="25000",
        high_value_trade_threshold_usdc="25000",
    ),
    "mm": TierLimits(
        requests_per_minute=6000,
        daily_spend_limit_usdc="1000000",
        per_trade_limit_usdc="50000",
        high_value_trade_threshold_usdc="50000",
    ),
}


class TierOverride(_Model):
    requests_per_minute: int | None = Field(default=None, gt=0)
    daily_spend_limit_usdc: str | None = None
    per_trade_limit_usdc: str | None = None
    high_value_trade_threshold_usdc: str | None = None

    @field_validator(
        "daily_spend_limit_usdc",
        "per_trade_limit_usdc",
        "high_value_trade_threshold_usdc",
        mode="before",
    )
    @classmethod
    def _amounts(cls, v: Any) -> str | None:
        return None if v is None else usdc_field(v)


class KeyCaps(TierOverride):
    """Per-key overrides of the tier's caps (enterprise/mm contracts allow any axis)."""


class VersionNotice(_Model):
    """Deprecation headers the server sends on a version (values verbatim, e.g. HTTP dates)."""

    deprecation: str | None = None  # Deprecation: ...
    sunset: str | None = None  # Sunset: ...
    link: str | None = None  # Link: <...>; rel="sunset"


class ApiChoices(_Model):
    """Behaviour where Kash's docs are silent or disagree (§17/§18); each is a documented choice."""

    versions: tuple[str, ...] = (V_BASE_ONLY, V_SOLANA)
    default_version: str = V_BASE_ONLY  # kash-today unknown #1: the server default is unstated
    deprecations: dict[str, VersionNotice] = Field(default_factory=dict)
    quote_includes_protocol_fee: bool = True
    strict_bodies: bool = True
    market_not_tradeable_status: Literal[409, 422] = 409
    client_request_id_conflict_code: Literal[
        "CLIENT_REQUEST_ID_CONFLICT", "IDEMPOTENCY_KEY_CONFLICT"
    ] = "CLIENT_REQUEST_ID_CONFLICT"
    idempotency_ttl_s: float = Field(default=86_400.0, gt=0)
    idempotency_after_ttl: Literal["gone", "reuse"] = "gone"
    # finished trades, their webhook events and used Idempotency-Keys are forgotten this long
    # after they ended / were first used, never before idempotency_ttl_s (sim/trade_retention)
    trade_retention_s: float = Field(default=172_800.0, gt=0)
    min_trade_usdc: str = "0.01"
    max_usdc_per_trade: str = "1000000"
    confirm_window_s: float = Field(default=60.0, gt=0)
    expired_confirmation_status: Literal["failed", "cancelled"] = "failed"
    rotation_scopes: tuple[Scope, ...] = ("webhooks:manage", "auth:manage")
    redemption_scope: Scope = "trades:write"
    redemptions_enabled: bool = True  # False: 404 REDEMPTIONS_NOT_ENABLED
    cancelled_market_status: Literal["ABANDONED", "RESOLVED"] = "ABANDONED"
    gate_trades_by_version: bool = True  # POST /v1/trades on Solana under 2026-04-29: 400
    # the admin request log (GET /_sim/requests): ~400 B a row, so a paper daemon reaches its
    # cap within minutes rather than growing through its first hour (issue 17 soak)
    request_log_size: int = Field(default=1_000, gt=0)
    # Executed-trade rows kept per market for GET /predictions and the admin trade log: the
    # newest N (older ones are dropped, so a long run or backtest does not grow without bound).
    # ~600 B a row; 100 is one full page (a poller reads far fewer between polls), reached
    # in minutes by a paper venue's noise traders (issue 17 soak)
    prediction_log_size: int = Field(default=100, gt=0)

    _amounts = field_validator("min_trade_usdc", "max_usdc_per_trade", mode="before")(usdc_field)

    @model_validator(mode="after")
    def _known_versions(self) -> ApiChoices:
        if self.default_version not in self.versions:
            raise ValueError(f"default_version {self.default_version} is not in versions")
        unknown = sorted(set(self.deprecations) - set(self.versions))
        if unknown:
            raise ValueError(f"deprecations name a version not in versions: {unknown[0]}")
        return self


class Lifecycle(_Model):
    """Seconds spent in each state before the next (divided by the server's time scale)."""

    pending_s: float = Field(default=0.05, ge=0)
    validating_s: float = Field(default=0.1, ge=0)
    executing_s: float = Field(default=0.2, ge=0)
    redemption_s: float = Field(default=0.2, ge=0)
    reject_rate: float = Field(default=0.0, ge=0, le=1)
    fail_rate: float = Field(default=0.0, ge=0, le=1)


class WebhookConfig(_Model):
    # §9 schedule; multiplied by retry_time_factor (and divided by the server's time scale).
    retry_delays_s: tuple[float, ...] = (0, 30, 120, 480, 1800, 7200, 21600, 43200, 64800, 86400)
    retry_time_factor: float = Field(default=1.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1)
    timeout_s: float = Field(default=10.0, gt=0)
    dual_sign_during_rotation: bool = True
    rotation_overlap_s: float = Field(default=7 * 86_400.0, ge=0)
    rotation_cooldown_s: float = Field(default=60.0, ge=0)
    max_redeliveries: int = Field(default=5, ge=0)


class StreamConfig(_Model):
    heartbeat_interval_s: float = Field(default=5.0, gt=0)


class UserConfig(_Model):
    id: str = Field(min_length=1)
    balance_usdc: str = "0"
    smart_account_provisioned: bool = True
    delegation_enabled: bool = True

    _bal = field_validator("balance_usdc", mode="before")(usdc_field)


class KeyConfig(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    api_key: str
    user: str
    tier: Tier
    scopes: tuple[Scope, ...] = ("markets:read", "markets:quote", "portfolio:read")
    caps: KeyCaps = KeyCaps()
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9_\-]{16,}$")
    ip_allowlist: tuple[str, ...] = ()
    confirm_window_s: float | None = Field(default=None, gt=0)
    revoked: bool = False
    expires_after_s: float | None = None

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not KEY_RE.match(v):
            # never echo the value: it is a credential, even in a test scenario
            raise ValueError("api_key must match ^kash_test_[A-Za-z0-9]{32}$")
        return v

    def __repr__(self) -> str:  # keep secrets out of reprs
        return f"KeyConfig(name={self.name!r}, tier={self.tier!r}, user={self.user!r})"

    __str__ = __repr__


FaultKind = Literal[
    "rate_limit_storm",
    "route_disabled",
    "trade_halt",
    "dependency_unavailable",
    "rate_limit_unavailable",
    "internal_error",
    "timeout",
    "hang",
    "lost_response",
    "drop_connection",
    "webhook_duplicate",
    "webhook_reorder",
    "webhook_outage",
    "stream_disconnect",
    "trade_fail",
    "trade_reject",
]


class FaultSpec(_Model):
    """One armed fault. Matches requests by route pattern (fnmatch on ``"METHOD /path"``).

    ``count`` limits how many matches it fires on; ``probability`` fires on a seeded coin flip;
    ``after_s``/``duration_s`` bound it in (venue clock) time from when it was armed.
    """

    kind: FaultKind
    routes: tuple[str, ...] = ()
    count: int | None = Field(default=None, ge=1)
    probability: float = Field(default=1.0, ge=0, le=1)
    after_s: float = Field(default=0.0, ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    retry_after: int | None = Field(default=None, ge=0)
    flag: str | None = None
    hang_s: float = Field(default=35.0, ge=0)
    key: str | None = None  # restrict to one key (name, id or prefix)
    error_code: str | None = None  # trade_fail / trade_reject: the errorCode to report


class Scenario(_Model):
    seed: int = 0
    start_time: str = "2026-01-01T00:00:00Z"
    api: ApiChoices = ApiChoices()
    fees: FeesConfig = FeesConfig()
    lifecycle: Lifecycle = Lifecycle()
    webhooks: WebhookConfig = WebhookConfig()
    stream: StreamConfig = StreamConfig()
    tiers: dict[Tier, TierOverride] = Field(default_factory=dict)
    users: tuple[UserConfig, ...] = ()
    keys: tuple[KeyConfig, ...] = ()
    markets: tuple[MarketConfig, ...] = Field(min_length=1)
    faults: tuple[FaultSpec, ...] = ()

    @model_validator(mode="after")
    def _refs(self) -> Scenario:
        users = {u.id for u in self.users}
        if len(users) != len(self.users):
            raise ValueError("users: duplicate id")
        seen_names: set[str] = set()
        seen_keys: set[str] = set()
        for k in self.keys:
            if k.user not in users:
                raise ValueError(f"key {k.name!r} names unknown user {k.user!r}")
            if k.name in seen_names:
                raise ValueError(f"duplicate key name {k.name!r}")
            if k.api_key in seen_keys:
                raise ValueError(f"key {k.name!r} repeats another key's api_key")
            seen_names.add(k.name)
            seen_keys.add(k.api_key)
        ids = [m.id for m in self.markets]
        if len(set(ids)) != len(ids):
            raise ValueError("markets: duplicate id")
        return self

    def tier_limits(self, tier: str) -> TierLimits:
        base = TIER_DEFAULTS[tier]
        over = self.tiers.get(tier)  # type: ignore[call-overload]
        if over is None:
            return base
        return base.model_copy(update=over.model_dump(exclude_none=True))


# --------------------------------------------------------------------------- loading


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Walk a composed YAML node along a pydantic error location; 1-based line or None."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            nxt = node.value[part] if part < len(node.value) else None
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def parse_scenario(data: dict[str, Any], *, source: str = "<dict>", root: Any = None) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
            line = _line_of(root, loc) if root is not None else None
            where = f"{source}: {_path(loc)}" + (f" (line {line})" if line else "")
            msg = err["msg"]
            lines.append(f"{where}: {msg}")
        raise ScenarioError("invalid scenario\n  " + "\n  ".join(lines)) from None


def load_scenario(src: str | Path | dict[str, Any] | Scenario | None = None) -> Scenario:
    """Load a scenario from a file path, a dict or None (the bundled default)."""
    if isinstance(src, Scenario):
        return src
    if isinstance(src, dict):
        return parse_scenario(src)
    path = Path(src) if src is not None else DEFAULT_SCENARIO
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping at the top level")
    return parse_scenario(data, source=str(path), root=root)
