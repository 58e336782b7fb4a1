"""Helpers for the shared-state tests: separate clients (own connection pools) to one server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kashbot.shared.redis_client import SharedRedis, connect


@asynccontextmanager
async def clients(
    url: str, prefix: str, n: int, timeout_s: float = 2.0
) -> AsyncIterator[list[SharedRedis]]:
    """``n`` independent clients, as ``n`` daemons would hold; closed on exit."""
    made = [
        SharedRedis(connect(url, timeout_s=timeout_s), prefix=prefix, op_timeout_s=timeout_s)
        for _ in range(n)
    ]
    try:
        yield made
    finally:
        for r in made:
            await r.aclose()
