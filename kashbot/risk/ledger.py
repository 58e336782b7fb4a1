"""Rolling-24h buy-volume ledger, the client-side mirror of the server's daily spend cap.

The server counts buy volume per key over a rolling 24 h window (sells and close-position intents
do not draw it, §4). We mirror it with entries of USDC atomic ints: a *reservation* is taken when
the gate approves an intent (so concurrent intents see each other's spend before any request
leaves), turned into a *commitment* when the venue accepts the trade (201/202), or *released*
when it was refused or never reached the venue. Pure: no I/O, time is passed in; the store
persists entries and ``restore`` rebuilds the ledger after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

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


class SpendLedger:
    """Reserve → commit | release, and the rolling sum of what is drawn."""

    def __init__(self, window_s: float = DAY_S, entries: Iterable[SpendEntry] = ()) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._entries: dict[str, SpendEntry] = {}
        self.restore(entries)

    def restore(self, entries: Iterable[SpendEntry]) -> None:
        """Replace the ledger's content with persisted entries (startup recovery)."""
        self._entries = {}
        for e in entries:
            if e.amount < 0:
                raise LedgerError(f"negative amount in entry {e.entry_id}")
            self._entries[e.entry_id] = e

    def reserve(self, entry_id: str, amount: Atomic, now: float) -> SpendEntry:
        """Hold ``amount`` of headroom; the caller has already checked it fits."""
        if amount < 0:
            raise LedgerError("amount must be >= 0")
        if entry_id in self._entries:
            raise LedgerError(f"entry {entry_id} already exists")
        entry = SpendEntry(entry_id, amount, now, committed=False)
        self._entries[entry_id] = entry
        return entry

    def commit(self, entry_id: str, now: float) -> SpendEntry:
        """The venue accepted the trade: the draw now lives 24 h from acceptance.

        The later of reservation and acceptance time is kept so our window never ends before
        the server's does.
        """
        entry = self._entries.get(entry_id)
        if entry is None:
            raise LedgerError(f"unknown entry {entry_id}")
        done = replace(entry, committed=True, ts=max(entry.ts, now))
        self._entries[entry_id] = done
        return done

    def release(self, entry_id: str) -> Atomic:
        """The trade never counted on the server: give the headroom back exactly."""
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            raise LedgerError(f"unknown entry {entry_id}")
        return entry.amount

    def get(self, entry_id: str) -> SpendEntry | None:
        return self._entries.get(entry_id)

    def used(self, now: float) -> Atomic:
        """Committed draws still inside the window plus every open reservation."""
        horizon = now - self.window_s
        return sum(e.amount for e in self._entries.values() if not e.committed or e.ts > horizon)

    def reserved(self) -> Atomic:
        return sum(e.amount for e in self._entries.values() if not e.committed)

    def headroom(self, cap: Atomic, now: float) -> Atomic:
        return max(0, cap - self.used(now))

    def prune(self, now: float) -> list[str]:
        """Drop committed entries that left the window; returns their ids (for the store)."""
        horizon = now - self.window_s
        gone = [k for k, e in self._entries.items() if e.committed and e.ts <= horizon]
        for k in gone:
            del self._entries[k]
        return gone

    def entries(self) -> list[SpendEntry]:
        return list(self._entries.values())

    def next_expiry(self, now: float) -> float | None:
        """When the oldest committed draw leaves the window (headroom grows then), or None."""
        ts = [e.ts for e in self._entries.values() if e.committed and e.ts > now - self.window_s]
        return min(ts) + self.window_s if ts else None
