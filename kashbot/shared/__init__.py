"""State shared by several kashbot daemons through Redis: a user's request budget, a key's
spend ledger.

Its own package, not a file in ``risk/`` or ``client/``: it is the only code that speaks to
Redis (an I/O boundary with its own failure mode, :class:`SharedStateUnavailable`), and both the
gate's ledger and the client's budget draw on it. The in-process ``SpendLedger`` and
``UserBudget`` stay the embedded default; see docs/shared-state.md.
"""

from kashbot.shared.redis_budget import RedisUserBudget
from kashbot.shared.redis_client import SharedRedis, SharedStateUnavailable, connect, scope_id
from kashbot.shared.redis_ledger import RedisSpendLedger
from kashbot.shared.settings import SharedStateConfig, allow_while_unavailable

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
