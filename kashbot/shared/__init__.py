"""State shared by several kashbot daemons through Redis: a user's request budget, a key's
spend ledger, the fleet of daemons sharing them.

Its own package, not a file in ``risk/`` or ``client/``: it is the only code that speaks to
Redis (an I/O boundary with its own failure mode, :class:`SharedStateUnavailable`), and both the
gate's ledger and the client's budget draw on it. The in-process ``SpendLedger`` and
``UserBudget`` stay the embedded default; see docs/shared-state.md.

The names below load on first use: the config imports :mod:`kashbot.shared.settings`, and a
daemon on the embedded default never needs the Redis client library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kashbot.shared.redis_budget import RedisUserBudget
    from kashbot.shared.redis_client import (
        SharedRedis,
        SharedStateUnavailable,
        connect,
        scope_id,
    )
    from kashbot.shared.redis_ledger import RedisSpendLedger
    from kashbot.shared.settings import SharedStateConfig, allow_while_unavailable

_WHERE = {
    "RedisSpendLedger": "redis_ledger",
    "RedisUserBudget": "redis_budget",
    "SharedRedis": "redis_client",
    "SharedStateConfig": "settings",
    "SharedStateUnavailable": "redis_client",
    "allow_while_unavailable": "settings",
    "connect": "redis_client",
    "scope_id": "redis_client",
}

__all__ = [
    "RedisSpendLedger",
    "RedisUserBudget",
    "SharedRedis",
    "SharedStateConfig",
    "SharedStateUnavailable",
    "allow_while_unavailable",
    "connect",
    "scope_id",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'kashbot.shared' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kashbot.shared.{module}"), name)
