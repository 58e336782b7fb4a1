"""The rolling-24h spend ledger of one Kash key, shared by every daemon trading that key.

Same entries and rules as :class:`kashbot.risk.ledger.SpendLedger` (reserve -> commit | release,
committed draws live ``window_s`` from acceptance), but held in Redis and changed only by the
scripts in :mod:`kashbot.shared.ledger_lua`, so N daemons checking and reserving against one cap
can never overspend it. Differences that sharing forces:

* the cap check and the reservation are one call, :meth:`reserve_within_cap`;
* an open reservation carries a lease on the Redis clock: a live daemon renews it
  (:meth:`renew` / :meth:`keep_alive`), a crashed one's lapses and its headroom comes back;
* every failure to reach Redis raises :class:`SharedStateUnavailable`: the caller denies buys;
* each instance mirrors its own open and in-window entries, so a commit still records a
  trade whose lease lapsed, and after Redis comes back empty (:meth:`join`) the daemon puts
  its entries back; new reservations wait ``rejoin_grace_s`` so the others can too.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import structlog

from kashbot.money import Atomic
from kashbot.risk.ledger import DAY_S, LedgerError, SpendEntry
from kashbot.shared import ledger_lua
from kashbot.shared.redis_client import (
    Arg,
    LuaScript,
    SharedRedis,
    SharedStateUnavailable,
    scope_id,
)

log = structlog.get_logger(__name__)

MAX_AMOUNT = 2**52  # Lua compares amounts as doubles: exact far beyond any real cap
_SCRIPTS = {
    name: LuaScript(getattr(ledger_lua, name))
    for name in ("RESERVE", "COMMIT", "RELEASE", "TIDY", "RENEW", "JOIN")
}


def _check_amount(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"{name}: must be an int of atomic units in [0, 2^52], got {value!r}")


class RedisSpendLedger:
    """One key's shared ledger; ``key_ref`` (API key or key id) is only ever used hashed."""

    def __init__(
        self,
        redis: SharedRedis,
        key_ref: str,
        *,
        window_s: float = DAY_S,
        lease_s: float = 30.0,
        rejoin_grace_s: float = 10.0,
    ) -> None:
        if window_s <= 0 or lease_s <= 0 or rejoin_grace_s < 0:
            raise ValueError("window_s and lease_s must be > 0, rejoin_grace_s >= 0")
        self.redis = redis
        self.window_s = window_s
        self.lease_s = lease_s
        self.rejoin_grace_s = rejoin_grace_s
        self._keys = redis.keys("ledger", scope_id(key_ref), "amount", "ts", "com", "lease", "meta")
        self._epoch: str | None = None
        self._own: dict[str, SpendEntry] = {}  # this daemon's open and in-window entries

    # -- plumbing ---------------------------------------------------------------------------

    async def join(self) -> str:
        """Attach to the shared ledger, bringing this instance's own entries back if it was lost.

        Called before the first operation and again whenever a script answers ``lost``.
        """
        args: list[Arg] = [secrets.token_hex(8), self.rejoin_grace_s, self.lease_s]
        for e in self._own.values():
            args += [e.entry_id, e.amount, repr(e.ts), int(e.committed)]
        reply = await self.redis.script("ledger join", _SCRIPTS["JOIN"], self._keys, args)
        epoch = str(reply[1])
        if self._epoch is not None and epoch != self._epoch:
            log.warning("shared_ledger_rejoined", entries=len(self._own), epoch=epoch)
        self._epoch = epoch
        return epoch

    async def _call(self, name: str, *args: Arg) -> list[Any]:
        """Run a script under the joined epoch; join again once if the ledger was lost."""
        for _ in range(2):
            if self._epoch is None:
                await self.join()
            reply: list[Any] = await self.redis.script(
                f"ledger {name.lower()}", _SCRIPTS[name], self._keys, [str(self._epoch), *args]
            )
            if reply[0] != "lost":
                return reply
            self._epoch = None
        raise SharedStateUnavailable("shared ledger: lost its state twice in a row")

    def _forget_expired(self, now: float) -> None:
        horizon = now - self.window_s
        for k in [k for k, e in self._own.items() if e.committed and e.ts <= horizon]:
            del self._own[k]

    # -- the ledger -------------------------------------------------------------------------

    async def reserve_within_cap(
        self, entry_id: str, amount: Atomic, cap: Atomic, now: float, lease_s: float | None = None
    ) -> bool:
        """Reserve ``amount`` if committed + reserved + amount <= ``cap``; one atomic step.

        Repeating a granted call (same id and amount, e.g. after a lost reply) renews it and
        answers True again; another reuse of an id raises :class:`LedgerError`. While the
        ledger is rejoining after a reset, raises :class:`SharedStateUnavailable`.
        """
        _check_amount("amount", amount)
        _check_amount("cap", cap)
        self._forget_expired(now)
        lease = self.lease_s if lease_s is None else lease_s
        horizon = repr(now - self.window_s)
        reply = await self._call("RESERVE", entry_id, amount, cap, repr(now), horizon, lease)
        if reply[0] == "hold":
            raise SharedStateUnavailable("shared ledger: holding reservations while daemons rejoin")
        if reply[0] == "dup":
            raise LedgerError(f"entry {entry_id} already exists")
        if reply[0] != "ok":
            return False
        self._own.setdefault(entry_id, SpendEntry(entry_id, amount, now, committed=False))
        return True

    async def commit(self, entry_id: str, now: float, amount: Atomic | None = None) -> SpendEntry:
        """The venue accepted the trade: the draw lives ``window_s`` from max(reserve, now).

        If the reservation is gone (its lease lapsed while this daemon stalled) the trade still
        happened, so it is recorded anyway with ``amount`` or this instance's own record of it.
        """
        self._forget_expired(now)
        mine = self._own.get(entry_id)
        if amount is None and mine is not None and not mine.committed:
            amount = mine.amount  # our own reservation, even if its lease lapsed
        if amount is not None:
            _check_amount("amount", amount)
        horizon = repr(now - self.window_s)
        reply = await self._call(
            "COMMIT", entry_id, repr(now), horizon, "" if amount is None else amount
        )
        if reply[0] == "unknown":
            raise LedgerError(f"unknown entry {entry_id}")
        if reply[0] == "recorded":
            log.warning("shared_ledger_commit_without_reservation", entry_id=entry_id)
        entry = SpendEntry(entry_id, int(reply[2]), float(reply[1]), committed=True)
        self._own[entry_id] = entry
        return entry

    async def release(self, entry_id: str) -> Atomic:
        """The trade never counted on the server: give the headroom back exactly.

        Releasing one of this instance's reservations that Redis no longer holds (its lease
        lapsed, or a first release's reply was lost) answers its amount instead of failing.
        """
        reply = await self._call("RELEASE", entry_id)
        mine = self._own.pop(entry_id, None)
        if reply[0] == "ok":
            return int(reply[1])
        if mine is not None and not mine.committed:  # lapsed, or released by a lost call
            return mine.amount
        raise LedgerError(f"unknown entry {entry_id}")

    async def renew(self, entry_ids: list[str], lease_s: float | None = None) -> set[str]:
        """Push the leases of open reservations out by ``lease_s`` (Redis clock); returns the
        ids renewed. A lapsed lease is not revived: its headroom may already be reused."""
        if not entry_ids:
            return set()
        lease = self.lease_s if lease_s is None else lease_s
        reply = await self._call("RENEW", lease, *entry_ids)
        return {str(x) for x in reply[1:]}

    def held(self) -> list[str]:
        """This instance's open reservations (what :meth:`keep_alive` renews)."""
        return [k for k, e in self._own.items() if not e.committed]

    async def heartbeat(self) -> set[str]:
        """Renew this instance's reservations; the ids whose lease had lapsed.

        With none open but committed entries in the window it still calls Redis: a ledger
        that came back empty gets them back (the call answers ``lost`` and :meth:`join` runs).
        """
        held = self.held()
        if not self._own:
            return set()
        reply = await self._call("RENEW", self.lease_s, *held)
        return set(held) - {str(x) for x in reply[1:]}

    async def keep_alive(self, every_s: float | None = None) -> None:
        """:meth:`heartbeat` forever (a supervised task); survives outages."""
        every = self.lease_s / 3 if every_s is None else every_s
        while True:
            try:
                lost = await self.heartbeat()
                if lost:
                    log.warning("shared_ledger_leases_lapsed", entry_ids=sorted(lost))
            except SharedStateUnavailable as exc:
                log.debug("shared_ledger_unavailable", error=str(exc))  # Outage logs it once
            await asyncio.sleep(every)

    async def used(self, now: float) -> Atomic:
        """Committed draws inside the window plus every open (unexpired) reservation."""
        reply = await self._call("TIDY", repr(now - self.window_s))
        self._forget_expired(now)
        return int(reply[1]) + int(reply[2])

    async def prune(self, now: float) -> list[str]:
        """Drop committed entries that left the window; returns the ids this call removed."""
        reply = await self._call("TIDY", repr(now - self.window_s))
        self._forget_expired(now)
        return [str(x) for x in reply[3:]]

    async def headroom(self, cap: Atomic, now: float) -> Atomic:
        return max(0, cap - await self.used(now))

    async def get(self, entry_id: str) -> SpendEntry | None:
        amt, ts, com = self._keys[0], self._keys[1], self._keys[2]
        pipe = self.redis.client.pipeline(transaction=True)
        pipe.hget(amt, entry_id)
        pipe.hget(ts, entry_id)
        pipe.zscore(com, entry_id)
        amount, stamp, score = await self.redis.run("ledger get", pipe.execute())
        if amount is None or stamp is None:
            return None
        return SpendEntry(entry_id, int(amount), float(stamp), committed=score is not None)

    async def entries(self) -> list[SpendEntry]:
        """Every entry of every daemon, as of one atomic snapshot."""
        amt, ts, com = self._keys[0], self._keys[1], self._keys[2]
        pipe = self.redis.client.pipeline(transaction=True)
        pipe.hgetall(amt)
        pipe.hgetall(ts)
        pipe.zrange(com, 0, -1)
        amounts, stamps, committed = await self.redis.run("ledger entries", pipe.execute())
        done = set(committed)
        return [
            SpendEntry(k, int(a), float(stamps[k]), committed=k in done)
            for k, a in amounts.items()
            if k in stamps
        ]

    async def next_expiry(self, now: float) -> float | None:
        """When the oldest committed draw still in the window leaves it, or None."""
        first = await self.redis.run(
            "ledger next_expiry",
            self.redis.client.zrangebyscore(
                self._keys[2], f"({now - self.window_s!r}", "+inf", start=0, num=1, withscores=True
            ),
        )
        return float(first[0][1]) + self.window_s if first else None
