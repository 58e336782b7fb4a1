"""The shared spend ledger in the order path: the one seam between the gate and Redis (issue 14).

The gate's own ledger stays this daemon's view (its check is synchronous, so intents on one loop
never overspend it). A :class:`SharedSpend` adds the fleet's view of the key's daily cap, a
:class:`~kashbot.shared.RedisSpendLedger` every daemon on the key reserves against:

* :meth:`admit` — the router calls it after the gate approved, before anything is persisted or
  sent: a buy's draw is reserved within the cap on Redis (one Lua script for every daemon). A
  refusal, or Redis out of reach, is a reason to deny (the router releases the local
  reservation): buys fail closed; sells draw no cap and need no reservation, but are held too
  while Redis is down unless ``sells_when_unavailable``.
* the gate's :class:`~kashbot.risk.ledger.SpendMirror` hook — whatever the gate commits or
  releases (submit, finish, recovery) is queued and replayed on Redis in order by one worker,
  retried while Redis is down: a commit is a trade the venue took, it must land however late.
* :meth:`start` / :meth:`close` — that worker and the lease heartbeat (``keep_alive``): a
  daemon that dies stops renewing, and its open reservations lapse by their lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog

from kashbot.money import Atomic
from kashbot.risk.approval import Approval
from kashbot.risk.ledger import LedgerError, SpendEntry
from kashbot.risk.rules import Reason
from kashbot.shared.redis_client import SharedRedis, SharedStateUnavailable, connect
from kashbot.shared.redis_ledger import RedisSpendLedger
from kashbot.shared.settings import SharedStateConfig, allow_while_unavailable

# Entry ids of spend adopted from the venue's trade list (execution/adoption.py, recovery.py).
ADOPTED_PREFIX = "v-"

log = structlog.get_logger("kashbot.execution")


@dataclass(frozen=True, slots=True)
class _Op:
    """One replay on Redis: a commit (``entry``) or a release (``entry_id`` only)."""

    entry_id: str
    entry: SpendEntry | None = None


class SharedSpend:
    """One key's shared ledger, as the order path uses it; see the module docstring."""

    def __init__(
        self,
        ledger: RedisSpendLedger,
        cfg: SharedStateConfig,
        *,
        retry_s: float = 0.2,
        owns_redis: bool = False,
    ) -> None:
        """``owns_redis``: :meth:`close` closes the ledger's Redis client too."""
        self.ledger = ledger
        self.cfg = cfg
        self.retry_s = retry_s
        self.owns_redis = owns_redis
        self._ops: asyncio.Queue[_Op] = asyncio.Queue()
        self._mine: dict[str, float] = {}  # ids this daemon holds on Redis -> their ts
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def connect(cls, cfg: SharedStateConfig, key_ref: str) -> SharedSpend:
        """The daemon's: one Redis client for this key's ledger, closed with it. ``key_ref``:
        the API key (only ever used hashed). No I/O here; recovery makes the first call."""
        s = cfg.op_timeout_s
        redis = SharedRedis(
            connect(cfg.redis_url(), timeout_s=s), prefix=cfg.prefix, op_timeout_s=s, name="ledger"
        )
        ledger = RedisSpendLedger(
            redis, key_ref, lease_s=cfg.lease_s, rejoin_grace_s=cfg.rejoin_grace_s
        )
        return cls(ledger, cfg, owns_redis=True)

    # ---- the door ----------------------------------------------------------------------------

    async def admit(self, approval: Approval, cap: Atomic) -> tuple[Reason, str] | None:
        """None if the approved intent may go; else why not (the caller releases and denies)."""
        draw, rid = approval.daily_draw, approval.reservation_id
        try:
            if draw == 0:  # a sell or a close: nothing to reserve, only the fail-closed rule
                if not allow_while_unavailable(draws_cap=False, cfg=self.cfg):
                    await self.ledger.redis.command("ping", "PING")
                return None
            ok = await self.ledger.reserve_within_cap(
                rid, draw, cap, approval.approved_at, self.cfg.lease_s
            )
        except SharedStateUnavailable as exc:
            return Reason.SHARED_STATE_UNAVAILABLE, str(exc)
        except LedgerError as exc:  # the id is on the shared ledger already (another daemon's)
            return Reason.DUPLICATE_INTENT, f"shared ledger: {exc}"
        if not ok:
            return Reason.DAILY_CAP_SHARED, f"the key's daily cap {cap} is spent or reserved"
        self._mine[rid] = approval.approved_at
        return None

    # ---- the gate's SpendMirror --------------------------------------------------------------

    def committed(self, entry: SpendEntry) -> None:
        if entry.amount > 0:  # sells draw nothing; only buys are on the shared ledger
            self._prune(entry.ts)
            self._mine[entry.entry_id] = entry.ts
            self._ops.put_nowait(_Op(entry.entry_id, entry))

    def released(self, entry_id: str) -> None:
        if self._mine.pop(entry_id, None) is not None:
            self._ops.put_nowait(_Op(entry_id))

    def restored(self, entries: list[SpendEntry]) -> None:
        """At recovery: put our committed draws back (a no-op if Redis has them); remember the
        open ones, which recovery commits or releases next."""
        for e in entries:
            if e.entry_id.startswith(ADOPTED_PREFIX):
                continue  # a buy adopted from the venue: its maker put it on the shared ledger
            if e.committed:
                self.committed(e)
            elif e.amount > 0:
                self._mine[e.entry_id] = e.ts

    def _prune(self, now: float) -> None:
        horizon = now - self.ledger.window_s
        for k in [k for k, ts in self._mine.items() if ts <= horizon]:
            del self._mine[k]

    # ---- the tasks ---------------------------------------------------------------------------

    @property
    def tasks(self) -> tuple[asyncio.Task[None], ...]:
        return tuple(self._tasks)

    def start(self) -> None:
        """Start the replay worker and the lease heartbeat (idempotent)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._replay(), name="shared-spend-replay"),
            asyncio.create_task(
                self.ledger.keep_alive(self.cfg.renew_every_s), name="shared-spend-keep-alive"
            ),
        ]

    async def flush(self) -> None:
        """Wait until every queued commit and release has landed on Redis."""
        await self._ops.join()

    async def close(self, drain_s: float | None = None) -> None:
        """Let queued commits and releases land (up to ``drain_s``), then stop both tasks."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_s or 2 * self.cfg.op_timeout_s):
                    await self.flush()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.owns_redis:
            await self.ledger.redis.aclose()

    async def _replay(self) -> None:
        with contextlib.suppress(SharedStateUnavailable):  # a fresh ledger's grace starts now
            await self.ledger.join()
        while True:
            op = await self._ops.get()
            try:
                await self._apply(op)
            finally:
                self._ops.task_done()

    async def _apply(self, op: _Op) -> None:
        """Apply one op, retrying while Redis is out of reach (every script takes a repeat)."""
        while True:
            try:
                if op.entry is None:
                    await self.ledger.release(op.entry_id)
                else:
                    e = op.entry
                    await self.ledger.commit(e.entry_id, e.ts, e.amount)
                return
            except SharedStateUnavailable as exc:
                log.debug("shared_spend_retry", entry_id=op.entry_id, error=str(exc))
                await asyncio.sleep(self.retry_s)
            except LedgerError as exc:  # released a reservation Redis no longer knows: done
                log.info("shared_spend_skipped", entry_id=op.entry_id, error=str(exc))
                return
