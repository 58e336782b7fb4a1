"""The ``alerts:`` config section: notification channels (apprise URLs) and their limits.

A channel's URL names the secret (a bot token, a webhook path), so it never sits in the YAML:
``url_env`` names the environment variable that holds it, ``url_file`` a file (first line).
There is no ``url:`` key at all, so a literal URL in the config is an unknown-key error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EventName = Literal[
    "halt",
    "reduce",
    "resume",
    "cap_reached",
    "stale_data",
    "outcome_unknown",
    "recovery_failed",
    "redemption",
    "daily_summary",
    "strategy_paused",
]
Level = Literal["info", "warning", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertChannelConfig(_Model):
    """One apprise URL (``tgram://``, ``slack://``, ``discord://``, ``mailto://``, ``json://``...)."""

    name: str | None = Field(None, description="shown in logs instead of the URL")
    url_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="env variable holding the URL"
    )
    url_file: str | None = Field(None, description="file whose first line is the URL")
    events: list[EventName] | Literal["all"] = "all"
    min_level: Level = "info"

    @model_validator(mode="after")
    def _one_source(self) -> AlertChannelConfig:
        if (self.url_env is None) == (self.url_file is None):
            raise ValueError("give exactly one of url_env (e.g. KASH_ALERT_URL) or url_file")
        return self


class AlertsConfig(_Model):
    """Where alerts go and how often. Dedup: one notification per key (event and subject, e.g.
    ``halt:<reason>``) per ``dedup_window_s``; at most ``max_per_minute`` per channel; at most
    ``queue_size`` waiting (the oldest is dropped); a send that takes ``send_timeout_s`` is
    given up (trading never waits for it)."""

    enabled: bool = True
    channels: list[AlertChannelConfig] = Field(default_factory=list)
    dedup_window_s: float = Field(300.0, ge=0)
    max_per_minute: int = Field(20, ge=1)
    queue_size: int = Field(100, ge=1)
    send_timeout_s: float = Field(15.0, gt=0)
    watch_interval_s: float = Field(5.0, gt=0, description="how often unknown outcomes are read")
    daily_summary_utc: str | None = Field(
        "00:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM UTC; null = none"
    )

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.channels)
