"""The ``shared_state:`` config section: where the request budget and spend ledger live.

Kept beside the backends (``kashbot.config.models`` embeds it as ``KashbotConfig.shared_state``).
Same conventions as kashbot.config: frozen, unknown keys rejected; the URL may hold a password,
so it is a ``SecretStr`` that the loader only accepts as ``${ENV_VAR}`` (never a literal).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

DEFAULT_PREFIX = "kashbot"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class SharedStateConfig(BaseModel):
    """Where the shared request budget and spend ledger live, and how they fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["embedded", "redis"] = Field(
        "embedded", description="embedded: this process only; redis: every daemon on the url"
    )
    url: SecretStr | None = Field(None, description="redis://host:port/db from ${KASH_REDIS_URL}")
    prefix: str = Field(DEFAULT_PREFIX, pattern=r"^[^{}\s]+$", description="key namespace")
    op_timeout_s: float = Field(1.0, gt=0, description="deadline of one Redis call")
    lease_s: float = Field(30.0, gt=0, description="an open reservation's life without renewal")
    renew_every_s: float | None = Field(None, gt=0, description="heartbeat; None = lease_s / 3")
    rejoin_grace_s: float = Field(10.0, ge=0, description="buys held after the ledger was lost")
    sells_when_unavailable: bool = Field(
        False,
        description="let sells and closes through while Redis is unreachable "
        "(needs budget_fallback_share: their requests need a budget too)",
    )
    budget_fallback_share: float | None = Field(
        None, gt=0, lt=1, description="in-process budget share while Redis is down; None = wait"
    )
    heartbeat_s: float = Field(
        2.0, gt=0, description="fleet view: how often a daemon re-registers (and reads the ledger)"
    )
    member_ttl_s: float = Field(
        10.0, gt=0, description="fleet view: a daemon silent this long is gone from the list"
    )
    adopt_interval_s: float = Field(
        60.0,
        ge=0,
        description="read the key's trade list this often for buys this daemon did not make "
        "(0: at startup only); each scan is a GET /v1/trades or two from this daemon's request "
        "budget (see docs/shared-state.md)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SharedStateConfig:
        if self.renew_every_s is not None and self.renew_every_s >= self.lease_s:
            raise ValueError("renew_every_s: must be shorter than lease_s")
        if self.member_ttl_s <= self.heartbeat_s:
            raise ValueError("member_ttl_s: must be longer than heartbeat_s")
        if self.sells_when_unavailable and self.budget_fallback_share is None:
            raise ValueError(
                "sells_when_unavailable: true needs budget_fallback_share: while Redis is down "
                "every request waits for it, so no sell could be sent; give the in-process "
                "share of the quota this daemon may use meanwhile (e.g. 0.2)"
            )
        if self.backend == "redis":
            if self.url is None:
                raise ValueError("url: required with backend: redis (url: ${KASH_REDIS_URL})")
            scheme = urlsplit(self.url.get_secret_value()).scheme
            if scheme not in REDIS_SCHEMES:
                raise ValueError(
                    f"url: must be a redis://, rediss:// or unix:// URL, not {scheme!r}"
                )
        return self

    @property
    def shared(self) -> bool:
        """True when the budget and the ledger live on Redis."""
        return self.backend == "redis"

    def redis_url(self) -> str:
        if self.url is None:
            raise ValueError("shared_state.url is not set")
        return self.url.get_secret_value()

    def secrets(self) -> list[str]:
        """What log and alert masking must hide: the URL, and its password alone (as written
        and percent-decoded), which a Redis error or a traceback may quote."""
        if self.url is None:
            return []
        url = self.url.get_secret_value()
        password = urlsplit(url).password
        return [url, password, unquote(password)] if password else [url]


def allow_while_unavailable(*, draws_cap: bool, cfg: SharedStateConfig) -> bool:
    """Fail closed: with the ledger unreachable no buy passes; sells and closes only by config."""
    return not draws_cap and cfg.sells_when_unavailable
