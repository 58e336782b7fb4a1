"""The ``shared_state:`` settings the composition root will read (not yet in kashbot.config).

Kept beside the backends so they arrive as one piece; the lead moves or embeds this model when
wiring the daemon. Same model conventions as kashbot.config: frozen, unknown keys rejected, the
URL (it may hold a password) a ``SecretStr`` that comes from the environment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from kashbot.shared.redis_client import DEFAULT_PREFIX


class SharedStateConfig(BaseModel):
    """Where the shared request budget and spend ledger live, and how they fail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(description="redis://host:port/db, e.g. ${KASHBOT_REDIS_URL}")
    prefix: str = Field(DEFAULT_PREFIX, pattern=r"^[^{}\s]+$", description="key namespace")
    op_timeout_s: float = Field(1.0, gt=0, description="deadline of one Redis call")
    lease_s: float = Field(30.0, gt=0, description="an open reservation's life without renewal")
    renew_every_s: float | None = Field(None, gt=0, description="heartbeat; None = lease_s / 3")
    rejoin_grace_s: float = Field(10.0, ge=0, description="buys held after the ledger was lost")
    sells_when_unavailable: bool = Field(
        False, description="let sells and closes through while Redis is unreachable"
    )
    budget_fallback_share: float | None = Field(
        None, gt=0, lt=1, description="in-process budget share while Redis is down; None = wait"
    )

    @model_validator(mode="after")
    def _renew_within_lease(self) -> SharedStateConfig:
        if self.renew_every_s is not None and self.renew_every_s >= self.lease_s:
            raise ValueError("renew_every_s: must be shorter than lease_s")
        return self


def allow_while_unavailable(*, draws_cap: bool, cfg: SharedStateConfig) -> bool:
    """Fail closed: with the ledger unreachable no buy passes; sells and closes only by config."""
    return not draws_cap and cfg.sells_when_unavailable
