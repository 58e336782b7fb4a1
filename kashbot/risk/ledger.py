"""Rolling-24h buy-volume ledger, the client-side mirror of the server's daily spend cap.

The server counts buy volume per key over a rolling 24 h window (sells and close-position intents
do not draw it, §4). We mirror it with entries of USDC atomic ints: a *reservation* is taken when
the gate approves an intent (so concurrent intents see each other's spend before any request
leaves), turned into a *commitment* when the venue accepts the trade (201/202), or *released*
when it was refused or never reached the venue. Pure: no I/O, time is passed in; the store
persists entries and ``restore`` rebuilds the ledger after a restart.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from kashbot.money import Atomic

DAY_S = 86_400.0


class LedgerError(ValueError):
    """A reservation id was unknown or reused."""


@dataclass(frozen=True, slots=True)
class SpendEntry:
    """One buy's draw on the daily cap; ``ts`` starts its 24 h life (reserve or commit time)."""

    entry_id: str
    amount: Atomic
    ts: float
    committed: bool


class SpendMirror(Protocol):
    """Told of every commit and release the gate makes (a shared ledger replays them).

    Synchronous, like the gate: an implementation queues the work (see
    :mod:`kashbot.execution.shared_spend`). Spend adopted from the venue is not mirrored: on a
    shared ledger the daemon that made the buy recorded it already.
    """

    def committed(self, entry: SpendEntry) -> None: ...

    def released(self, entry_id: str) -> None: ...

    def restored(self, entries: list[SpendEntry]) -> None: ...


class NoMirror:
    """The embedded default: nothing to tell."""

    def committed(self, entry: SpendEntry) -> None:
        pass

    def released(self, entry_id: str) -> None:
        pass

    def restored(self, entries: list[SpendEntry]) -> None:
        pass


class SpendLedger:
    """Reserve → commit | release, and the rolling sum of what is drawn.

    The gate asks ``used`` before every intent, so it is kept O(log n) amortised: a running sum
    of open reservations, and one of committed draws still in the window, whose expiry is
    driven by a min-heap of commit times. The heap is advanced as ``now`` moves forward, and a
    committed draw that leaves the window is forgotten then, so the ledger holds one window of
    buys however long the daemon runs. A caller asking about an earlier time gets the sum of
    what is still held, summed from scratch.
    """

    def __init__(self, window_s: float = DAY_S, entries: Iterable[SpendEntry] = ()) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._entries: dict[str, SpendEntry] = {}
        self._reserved: Atomic = 0  # open reservations
        self._live: Atomic = 0  # committed draws with ts > _horizon
        self._horizon = -math.inf  # how far expiry has been applied
        self._expiry: list[tuple[float, int, SpendEntry]] = []  # may hold released entries
        self._seq = itertools.count()  # heap tie-break: entries themselves do not compare
        self.restore(entries)

    def restore(self, entries: Iterable[SpendEntry]) -> None:
        """Replace the ledger's content with persisted entries (startup recovery)."""
        self._entries = {}
        for e in entries:
            if e.amount < 0:
                raise LedgerError(f"negative amount in entry {e.entry_id}")
            self._entries[e.entry_id] = e
        es = self._entries.values()
        self._reserved = sum(e.amount for e in es if not e.committed)
        self._live = sum(e.amount for e in es if e.committed)
        self._horizon = -math.inf
        self._expiry = [(e.ts, next(self._seq), e) for e in es if e.committed]
        heapq.heapify(self._expiry)

    def _count(self, e: SpendEntry) -> None:
        if not e.committed:
            self._reserved += e.amount
        elif e.ts > self._horizon:
            self._live += e.amount
            heapq.heappush(self._expiry, (e.ts, next(self._seq), e))
        else:  # committed with a time already out of the window: nothing to hold
            del self._entries[e.entry_id]

    def _uncount(self, e: SpendEntry) -> None:
        if not e.committed:
            self._reserved -= e.amount
        elif e.ts > self._horizon:
            self._live -= e.amount  # its heap item goes stale: no longer in _entries

    def _advance(self, horizon: float) -> None:
        """Expire committed draws with ts <= ``horizon`` (>= the last horizon)."""
        heap = self._expiry
        while heap and heap[0][0] <= horizon:
            e = heapq.heappop(heap)[2]
            if self._entries.get(e.entry_id) is e:
                self._live -= e.amount
                # out of the window for good: a long-running daemon does not keep it (the
                # store's row goes at the next restart's ``prune``)
                del self._entries[e.entry_id]
        self._horizon = horizon

    def reserve(self, entry_id: str, amount: Atomic, now: float) -> SpendEntry:
        """Hold ``amount`` of headroom; the caller has already checked it fits."""
        if amount < 0:
            raise LedgerError("amount must be >= 0")
        if entry_id in self._entries:
            raise LedgerError(f"entry {entry_id} already exists")
        entry = SpendEntry(entry_id, amount, now, committed=False)
        self._entries[entry_id] = entry
        self._count(entry)
        return entry

    def commit(self, entry_id: str, now: float) -> SpendEntry:
        """The venue accepted the trade: the draw now lives 24 h from acceptance.

        The later of reservation and acceptance time is kept so our window never ends before
        the server's does.
        """
        entry = self._entries.get(entry_id)
        if entry is None:
            raise LedgerError(f"unknown entry {entry_id}")
        done = SpendEntry(entry_id, entry.amount, max(entry.ts, now), committed=True)
        self._uncount(entry)
        self._entries[entry_id] = done
        self._count(done)
        return done

    def release(self, entry_id: str) -> Atomic:
        """The trade never counted on the server: give the headroom back exactly."""
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            raise LedgerError(f"unknown entry {entry_id}")
        self._uncount(entry)
        return entry.amount

    def get(self, entry_id: str) -> SpendEntry | None:
        return self._entries.get(entry_id)

    def used(self, now: float) -> Atomic:
        """Committed draws still inside the window plus every open reservation."""
        horizon = now - self.window_s
        if horizon < self._horizon:  # asked about the past: sum it directly
            return sum(
                e.amount for e in self._entries.values() if not e.committed or e.ts > horizon
            )
        self._advance(horizon)
        return self._reserved + self._live

    def reserved(self) -> Atomic:
        return self._reserved

    def headroom(self, cap: Atomic, now: float) -> Atomic:
        return max(0, cap - self.used(now))

    def prune(self, now: float) -> list[str]:
        """Drop committed entries that left the window; returns their ids (for the store)."""
        horizon = now - self.window_s
        gone = [k for k, e in self._entries.items() if e.committed and e.ts <= horizon]
        for k in gone:
            self._uncount(self._entries.pop(k))
        return gone

    def entries(self) -> list[SpendEntry]:
        return list(self._entries.values())

    def next_expiry(self, now: float) -> float | None:
        """When the oldest committed draw leaves the window (headroom grows then), or None."""
        horizon = now - self.window_s
        if horizon < self._horizon:
            ts = [e.ts for e in self._entries.values() if e.committed and e.ts > horizon]
            return min(ts) + self.window_s if ts else None
        self._advance(horizon)
        heap = self._expiry
        while heap and self._entries.get(heap[0][2].entry_id) is not heap[0][2]:
            heapq.heappop(heap)  # released or re-committed since it was pushed
        return heap[0][0] + self.window_s if heap else None
