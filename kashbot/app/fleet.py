"""A daemon's side of the shared state (issue 14): its Redis budget, its fleet membership, the
shared view in its status and metrics, and ``kashbot status --all``.

With ``shared_state.backend: redis`` a daemon builds, from one :class:`SharedState`:

* the user's request budget, a :class:`~kashbot.shared.RedisUserBudget` (every daemon of the
  user draws on one bucket and honours one pause from ``Retry-After`` / ``X-RateLimit-*``);
* a heartbeat task that registers the daemon in the user's fleet
  (:class:`~kashbot.shared.fleet_registry.FleetRegistry`: id, host, pid, strategies, markets,
  state, spend, requests) every ``heartbeat_s``, and reads back what the status view shows of
  the shared state: the key's ledger used on Redis, the shared bucket, the fleet's size.

The status view and metrics read that cached view (they never wait on Redis). The key's shared
ledger itself is :class:`~kashbot.execution.shared_spend.SharedSpend`, in the order path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from rich.console import Group, RenderableType
from rich.text import Text

from kashbot.client.request_budget import UserBudget, tier_requests_per_min
from kashbot.clock import Clock
from kashbot.execution.adoption import SpendAdopter
from kashbot.execution.shared_spend import SharedSpend
from kashbot.money import Atomic, fmt_usdc
from kashbot.obs.logging import register_secret
from kashbot.retry import Backoff, retrying
from kashbot.shared.fleet_registry import FleetRegistry
from kashbot.shared.redis_budget import RedisUserBudget
from kashbot.shared.redis_client import SharedRedis, SharedStateUnavailable, connect, scope_id
from kashbot.shared.settings import SharedStateConfig

if TYPE_CHECKING:
    from kashbot.app.daemon import Daemon

log = structlog.get_logger("kashbot.fleet")

# leaving the fleet at a clean stop: three tries, 0.1 s then 0.2 s apart
LEAVE_ATTEMPTS = 3
LEAVE_BACKOFF = Backoff(0.1, 0.5)

Info = Callable[[], dict[str, Any]]


def member_id() -> str:
    """``host:pid:random``: unique per process start, readable in the fleet list."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def open_redis(cfg: SharedStateConfig) -> SharedRedis:
    """A Redis client for the shared state (no I/O until the first call). Registers the URL
    and its password for masking first: every daemon and ``status --all`` comes through here
    before any other Redis client is made."""
    for secret in cfg.secrets():
        register_secret(secret)
    s = cfg.op_timeout_s
    client = connect(cfg.redis_url(), timeout_s=s)
    return SharedRedis(client, prefix=cfg.prefix, op_timeout_s=s, name="budget")


class SharedState:
    """One daemon's budget, fleet membership and shared view on Redis; see the module."""

    def __init__(
        self,
        cfg: SharedStateConfig,
        user_id: str,
        *,
        clock: Clock,
        redis: SharedRedis | None = None,
    ) -> None:
        self.cfg = cfg
        self.user_id = user_id
        self.clock = clock
        self.redis = redis or open_redis(cfg)
        self.fleet = FleetRegistry(self.redis, user_id)
        self.member_id = member_id()
        self.budget: RedisUserBudget | None = None
        self.spend: SharedSpend | None = None
        self.spend_cap: Atomic | None = None
        self._view: dict[str, Any] = {"backend": "redis", "member_id": self.member_id}
        self._task: asyncio.Task[None] | None = None

    def request_budget(
        self, *, tier: str, requests_per_min: int | None, share: float
    ) -> RedisUserBudget:
        """The user's budget on Redis (with an in-process fallback if configured)."""
        limit = tier_requests_per_min(tier, requests_per_min)
        fb = self.cfg.budget_fallback_share
        self.budget = RedisUserBudget(
            self.redis,
            self.user_id,
            limit,
            share=share,
            fallback=UserBudget(limit, share=fb) if fb is not None else None,
            wait_unavailable_s=max(0.1, self.cfg.op_timeout_s),
        )
        return self.budget

    def start(self, info: Info) -> None:
        """Start the heartbeat: register ``info()`` and refresh the shared view."""
        if self._task is None:
            self._task = asyncio.create_task(self._heartbeat(info), name="fleet-heartbeat")

    async def beat(self, info: Info) -> None:
        """One heartbeat: register, then read the ledger, the bucket and the fleet."""
        view: dict[str, Any] = {"backend": "redis", "member_id": self.member_id}
        try:
            await self.fleet.register(self.member_id, info(), self.cfg.member_ttl_s)
            members = await self.fleet.members()
            view["fleet_members"] = len(members)
            view["fleet_requests_last_minute"] = sum(
                int(m.get("requests_last_minute") or 0) for m in members
            )
            if self.spend is not None:
                used = await self.spend.ledger.used(self.clock.now())
                view["ledger_used"] = used
                view["ledger_used_usdc"] = fmt_usdc(used)
                if self.spend_cap is not None:
                    view["ledger_cap_usdc"] = fmt_usdc(self.spend_cap)
            if self.budget is not None:
                view["budget"] = await self.budget.shared_view()
            view["reachable"] = True
        except SharedStateUnavailable as exc:
            view = {**self._view, "reachable": False, "error": str(exc)}
        view["updated_at"] = self.clock.now()
        self._view = view

    async def _heartbeat(self, info: Info) -> None:
        while True:
            try:
                await self.beat(info)
            except Exception:  # a bug in one beat must not end the membership
                log.exception("fleet_heartbeat_failed")
            await asyncio.sleep(self.cfg.heartbeat_s)

    @property
    def view(self) -> dict[str, Any]:
        """The last heartbeat's raw view (``ledger_used`` in atomic units too)."""
        return self._view

    def status(self) -> dict[str, Any]:
        """The last heartbeat's view (for ``kashbot status`` and the status screen), plus the
        Redis calls that failed since start (every client of this daemon)."""
        view = {k: v for k, v in self._view.items() if k != "ledger_used"}
        return {**view, "failed_calls": self.failed_calls()}

    def failed_calls(self) -> int:
        """Redis calls of this daemon (budget, fleet view, the key's ledger) that failed."""
        n = self.redis.outage.failed_calls
        return n + (self.spend.ledger.redis.outage.failed_calls if self.spend is not None else 0)

    def collector(self) -> SharedStateCollector:
        return SharedStateCollector(self)

    async def close(self) -> None:
        """Stop the heartbeat, leave the fleet (best effort), close the client."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.budget is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2 * self.cfg.op_timeout_s):
                    await self.budget.flush()
        await self._leave()
        await self.redis.aclose()

    async def _leave(self) -> None:
        """Leave the fleet, retried: one slow Redis reply (a loaded host) must not leave this
        daemon listed as a member until its TTL runs out. Best effort; a failure is logged."""

        def failed(attempt: int, exc: BaseException) -> None:
            log.warning("fleet_leave_failed", attempt=attempt, of=LEAVE_ATTEMPTS, error=str(exc))

        with contextlib.suppress(SharedStateUnavailable):
            await retrying(
                lambda: self.fleet.leave(self.member_id),
                LEAVE_BACKOFF,
                self.clock,
                LEAVE_ATTEMPTS,
                retry_on=SharedStateUnavailable,
                on_failure=failed,
            )


def member_info(d: Daemon) -> dict[str, Any]:
    """What a daemon tells the fleet at each heartbeat (no secrets: the key only hashed)."""
    status = d.router.status()
    used, cap = status.get("daily_used"), status.get("daily_cap")
    adopter = d.core.adopter
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "key": scope_id(d.access.api_key)[:12],
        "strategies": [s.strategy_id for s in d.core.strategies],
        "markets": list(d.markets),
        "state": str(d.gate.state),
        "ready": bool(status.get("ready")),
        "spend_used_usdc": fmt_usdc(used) if isinstance(used, int) else None,
        "spend_cap_usdc": fmt_usdc(cap) if isinstance(cap, int) else None,
        "adopted_spend_usdc": adopter.status()["adopted_spend_usdc"] if adopter else None,
        "requests_last_minute": d.budget.stats().used_last_window,
        "uptime_s": round(time.monotonic() - d.started_at, 1),
    }


def shared_line(
    view: RenderableType, shared: SharedState | None, adopter: SpendAdopter | None
) -> RenderableType:
    """The status screen plus one line: the shared ledger and bucket, the adopted spend."""
    parts: list[str] = []
    if shared is not None:
        v = shared.status()
        if not v.get("reachable", False):
            parts.append(f"shared state UNREACHABLE ({v.get('error', 'no heartbeat yet')})")
        else:
            b = v.get("budget") or {}
            parts.append(
                f"shared: ledger {v.get('ledger_used_usdc', '?')}"
                f" of {v.get('ledger_cap_usdc', '?')} USDC,"
                f" bucket {b.get('tokens', '?')}/{b.get('burst', '?')},"
                f" fleet {v.get('fleet_members', '?')} daemon(s)"
                f" ({v.get('fleet_requests_last_minute', '?')} req/min)"
            )
    if adopter is not None and adopter.stats.adopted_trades:
        a = adopter.status()
        parts.append(f"adopted {a['adopted_spend_usdc']} USDC in {a['adopted_trades']} buy(s)")
    return Group(view, Text("; ".join(parts), style="cyan")) if parts else view


class SharedStateCollector:
    """Prometheus gauges of the shared view (registered on the daemon's own registry)."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared

    def collect(self) -> Iterable[Metric]:
        view = self.shared.view
        yield GaugeMetricFamily(
            "kashbot_shared_state_up",
            "1 if the last heartbeat reached Redis (shared budget and ledger)",
            value=1.0 if view.get("reachable") else 0.0,
        )
        yield CounterMetricFamily(
            "kashbot_shared_state_failed_calls",
            "Redis calls that failed (budget, fleet view, ledger); the outage is logged once",
            value=self.shared.failed_calls(),
        )
        if "ledger_used" in view:
            yield GaugeMetricFamily(
                "kashbot_shared_spend_used_usdc",
                "The key's rolling-24h buys and open reservations on the shared ledger",
                value=int(view["ledger_used"]) / 1_000_000,
            )
        if "fleet_members" in view:
            yield GaugeMetricFamily(
                "kashbot_fleet_members",
                "Daemons sharing the user's budget",
                value=view["fleet_members"],
            )
        budget = view.get("budget")
        if isinstance(budget, dict):
            yield GaugeMetricFamily(
                "kashbot_shared_budget_tokens",
                "Requests the user's shared bucket holds now",
                value=float(budget.get("tokens", 0.0)),
            )
            yield GaugeMetricFamily(
                "kashbot_shared_budget_paused_seconds",
                "Seconds left of the user's shared pause (429 / Retry-After)",
                value=float(budget.get("paused_for_s", 0.0)),
            )
