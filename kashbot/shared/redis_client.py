"""The one door to Redis for the shared backends: connection, key names, scripts, failure mapping.

Every call goes through :meth:`SharedRedis.run`, which bounds it with ``asyncio.timeout`` and turns
any Redis or socket failure into :class:`SharedStateUnavailable`, so callers have one exception to
fail closed on. An unknown outcome (a timeout after the command was sent) is reported the same
way: the ledger's leases, not the caller, clean up whatever the lost call may have left.

The same door keeps the outage log (:class:`Outage`): one warning when a client's calls start
failing, one line when they succeed again, a count of the calls that failed in between, so a
Redis that is down for an hour costs two log lines, not one per retry of every waiting caller
(callers that retry log their own retries at debug level only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from kashbot.shared.settings import DEFAULT_PREFIX

Arg = str | int | float

log = structlog.get_logger("kashbot.shared")


class SharedStateUnavailable(RuntimeError):
    """Redis could not be reached, did not answer in time, or lost its state: fail closed."""


def scope_id(name: str) -> str:
    """An opaque, stable id for a key or user in Redis key names.

    Key names are visible to anyone who can ``SCAN`` the server, so an API key (or anything
    else) never appears in them; 20 hex digits of SHA-256 keep distinct scopes apart.
    """
    return hashlib.sha256(name.encode()).hexdigest()[:20]


def connect(url: str, *, timeout_s: float = 1.0) -> Redis:
    """A client for the shared backends: short socket timeouts, one retry on a dropped socket.

    The retry covers the stale pooled connection a Redis restart leaves behind (the command
    never reached the new server). Every script here is idempotent under one repeat (same
    reservation id, same commit, renewals), so a retry after a drop that did land is harmless.
    Timeouts are not retried: those are reported, not repeated.

    The URL may hold the server's password: whoever reads it from the config registers it for
    masking first (``SharedStateConfig.secrets()``; the daemon's ``app.fleet.open_redis``).
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        decode_responses=True,
    )


@dataclass(slots=True)
class Outage:
    """One client's view of Redis: up or down since when, and what failed (see the module).

    ``failed_calls`` and ``outages`` count since the client was made (for status and metrics);
    a single failed call between successes is an outage of its own (two lines, then quiet)."""

    name: str
    down_since: float | None = None  # time.monotonic() of the first failure, None while up
    outages: int = 0
    failed_calls: int = 0
    _failed_now: int = 0  # calls failed in the current outage

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, what: str, error: str) -> None:
        self.failed_calls += 1
        self._failed_now += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning("shared_state_down", client=self.name, call=what, error=error)

    def succeeded(self) -> None:
        if self.down_since is not None:
            down_s = round(time.monotonic() - self.down_since, 3)
            log.info(
                "shared_state_up", client=self.name, down_s=down_s, failed_calls=self._failed_now
            )
            self.down_since, self._failed_now = None, 0


class LuaScript:
    """A server-side script run by SHA, loaded again after a restart emptied the script cache."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class SharedRedis:
    """A Redis client plus the namespace (prefix) and the per-call deadline.

    The client must decode replies to ``str`` (``decode_responses=True``, as :func:`connect`).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        op_timeout_s: float = 1.0,
        name: str = "redis",
    ) -> None:
        """``name`` labels this client's outage lines (a daemon has one for its budget and
        fleet view, one for its key's ledger)."""
        if not prefix or any(c in prefix for c in "{} "):
            raise ValueError("prefix: must be non-empty, without braces or spaces")
        if op_timeout_s <= 0:
            raise ValueError("op_timeout_s: must be > 0")
        self.client = client
        self.prefix = prefix
        self.op_timeout_s = op_timeout_s
        self.outage = Outage(name)
        # redis-py leaves execute_command unannotated; this is its one typed entry point here
        self._cmd: Callable[..., Awaitable[Any]] = client.execute_command

    def keys(self, kind: str, scope: str, *parts: str) -> list[str]:
        """Key names ``prefix:kind:{scope}:part``; the braces keep one scope in one cluster slot."""
        return [f"{self.prefix}:{kind}:{{{scope}}}:{p}" for p in parts]

    async def run(self, what: str, call: Awaitable[Any]) -> Any:
        """Await ``call`` within the deadline; any failure -> :class:`SharedStateUnavailable`."""
        try:
            async with asyncio.timeout(self.op_timeout_s):
                result = await call
        except (RedisError, OSError, TimeoutError) as exc:
            error = f"redis {what}: {type(exc).__name__}: {exc}"
            self.outage.failed(what, error)
            raise SharedStateUnavailable(error) from exc
        self.outage.succeeded()
        return result

    async def command(self, what: str, *args: Arg) -> Any:
        return await self.run(what, self._cmd(*args))

    async def script(
        self, what: str, script: LuaScript, keys: Sequence[str], args: Sequence[Arg]
    ) -> Any:
        """EVALSHA, or EVAL once when the server does not know the script (first use, restart)."""

        async def go() -> Any:
            try:
                return await self._cmd("EVALSHA", script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._cmd("EVAL", script.source, len(keys), *keys, *args)

        return await self.run(what, go())

    async def server_time(self) -> float:
        """Redis's clock in seconds (what leases and the shared bucket run on)."""
        sec, usec = await self.command("TIME", "TIME")
        return int(sec) + int(usec) / 1_000_000

    async def aclose(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()
