"""The server's view of our request budget, and the hook a limiter plugs into.

The client parses ``X-RateLimit-*`` / ``Retry-After`` into a :class:`RateLimitState` after every
response and hands it to a :class:`RequestBudget` (the risk package implements one per Kash user).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateLimitState:
    limit: int | None
    remaining: int | None
    reset_epoch_s: float | None  # X-RateLimit-Reset (epoch seconds; epoch ms is normalised)
    retry_after_s: float | None  # Retry-After on 429/503/504
    status: int  # HTTP status of the response this came from
    quota_exhausted: bool  # a real 429 RATE_LIMIT_EXCEEDED, not a 503 limiter blip
    observed_at: float  # local clock seconds


class RequestBudget(Protocol):
    """Called around every HTTP request the client makes."""

    async def acquire(self, route: str, *, write: bool) -> None:
        """Wait for permission to send one request (``route`` like ``GET /v1/markets``)."""
        ...

    def observe(self, state: RateLimitState) -> None:
        """Learn from the server's headers (pause on Retry-After or Remaining == 0)."""
        ...


class NoBudget:
    """No client-side limiting (tests, one-off scripts)."""

    async def acquire(self, route: str, *, write: bool) -> None:
        return None

    def observe(self, state: RateLimitState) -> None:
        return None
