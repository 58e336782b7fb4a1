"""The config's sections: frozen pydantic models that reject unknown keys.

Each section says what it configures and its defaults; :mod:`kashbot.config.loader` turns the
YAML into data for them and :mod:`kashbot.config.check` adds what the models alone cannot know
(strategy params, the tier's limits, a live key's shape). Money is ``UsdcDecimal`` here and
atomic ints from the moment it is used. Sections a component takes whole live beside it
(``sources.poller``, ``sources.stream``, ``fair_values``, ``alerts``, ``shared_state``).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from kashbot.alerts.config import AlertsConfig
from kashbot.config.loader import KeyPath, line_for
from kashbot.engine.protections import ProtectionsConfig
from kashbot.fairvalue.loader import FairValuesConfig
from kashbot.shared.settings import SharedStateConfig
from kashbot.sources.poller import PollerConfig
from kashbot.sources.stream import StreamConfig
from kashbot.sources.timer import MIN_INTERVAL_S
from kashbot.units import UsdcDecimal

Tier = Literal["free", "developer", "enterprise", "mm"]


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
    api_version: str | None = "2026-08-19"
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
    freeze_margin_s: float = Field(
        60.0, ge=0, description="no buys this long before a market's freezeAt (sells go on)"
    )


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
    # inbound limits (kashbot.inbound.InboundLimits, docs/operations.md "Hostile input")
    header_timeout_s: float = Field(5.0, gt=0, description="request head must arrive within")
    body_timeout_s: float = Field(5.0, gt=0, description="body must arrive within (else 408)")
    request_timeout_s: float = Field(8.0, gt=0, description="answer within (else 503)")
    max_concurrent: int = Field(64, ge=1, description="deliveries at once (more: 503)")
    dedupe_retention_days: float = Field(90.0, gt=0, description="forget seen event ids after")

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
    name: str = Field(description="built-in or entry-point name, or a dotted path")
    id: str | None = None
    markets: list[str] | None = Field(None, description="None = every configured market")
    params: dict[str, Any] = Field(default_factory=dict)
    protections: ProtectionsConfig | None = Field(
        None,
        description="cooldown / backoff / pause (kashbot.engine.protections); a key left out keeps"
        " the strategy's own default",
    )
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


class RedemptionConfig(_Model):
    """Claiming settled positions (``kashbot.execution.redeem.RedeemSettings``)."""

    enabled: bool = Field(True, description="claim winnings/refunds with POST /v1/redemptions")
    interval_s: float = Field(30.0, gt=0, description="how often settled positions are claimed")
    write_off_not_claimable: bool = Field(
        True,
        description="409 POSITION_NOT_CLAIMABLE on a first claim: book the position at 0 "
        "(frees its exposure); false keeps it on the book",
    )


class MarketSelection(_Model):
    """``markets: {chains: [...]}``: every ACTIVE market on these chains (``chainRef``), found at
    startup and while running."""

    chains: list[str] = Field(min_length=1, description="chainRef values, e.g. solana:mainnet-beta")


class MarketFees(_Model):
    """A market's fees, overriding what the venue publishes (and the 100/100 bps default)."""

    protocol_bps: int = Field(ge=0, lt=10_000)
    amm_sell_bps: int = Field(ge=0, lt=10_000)


class EngineConfig(_Model):
    shutdown_grace_s: float = Field(10.0, ge=0)
    max_inflight_intents: int = Field(64, ge=1)
    pause_strategy_after_errors: int = Field(
        20, ge=0, description="a strategy raising this many times in a row is paused; 0: never"
    )


class KashbotConfig(_Model):
    venue: VenueConfig = VenueConfig()
    account: AccountConfig = AccountConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    sources: SourcesConfig = SourcesConfig()
    markets: list[str] | Literal["all"] | MarketSelection = "all"
    market_fees: dict[str, MarketFees] = Field(
        default_factory=dict, description="market id -> fees overriding the venue's"
    )
    redemption: RedemptionConfig = RedemptionConfig()
    strategies: list[StrategyConfig] = Field(default_factory=list)
    store: StoreConfig = StoreConfig()
    logging: LoggingConfig = LoggingConfig()
    alerts: AlertsConfig = AlertsConfig()  # notifications: kashbot.alerts, docs/operations.md
    status: StatusConfig = StatusConfig()
    control: ControlConfig = ControlConfig()
    metrics: MetricsConfig = MetricsConfig()
    engine: EngineConfig = EngineConfig()
    fair_values: FairValuesConfig = Field(
        default_factory=FairValuesConfig,
        description="live fair-value sources (docs/fair-values.md); none: the strategies' own",
    )
    shared_state: SharedStateConfig = Field(
        default_factory=SharedStateConfig,
        description="request budget and spend ledger: this process only, or shared on Redis"
        " with every daemon of the user (docs/shared-state.md)",
    )

    # where the config came from, for errors found after loading (``file:line``)
    _source: str = PrivateAttr("<config>")
    _lines: dict[KeyPath, int] = PrivateAttr(default_factory=dict)

    def where(self, key: str) -> str:
        """``file:line`` of a dotted key (its nearest written parent), or just ``file``."""
        path: KeyPath = tuple(key.split(".")) if key else ()
        line = line_for(self._lines, path) if path else None
        return self._source if line is None else f"{self._source}:{line}"

    @property
    def discovers_markets(self) -> bool:
        """``all`` or a chain selection: the set of markets follows the venue while running."""
        return not isinstance(self.markets, list)

    def selects(self, chain: str | None) -> bool:
        """Does the market selection take a market on ``chain``?"""
        if isinstance(self.markets, MarketSelection):
            return chain in self.markets.chains
        return self.markets == "all"

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
