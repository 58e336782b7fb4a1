"""The store's two SQLite connections: aiosqlite (a worker thread) and plain ``sqlite3`` (inline).

Both run the same SQL through the same five calls, so :class:`~kashbot.store.store.Store` is one
class whatever it runs on. Live trading uses :class:`AioConnection`: a commit may wait for the
disk, and the event loop must keep serving webhooks and timers meanwhile. A backtest has no disk
to wait for (``:memory:``) and one task at a time; there the worker thread's hand-offs cost
more than the SQL itself, so :class:`SyncConnection` runs each statement inline.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import aiosqlite

Row = tuple[Any, ...]  # column values as sqlite3 returns them


class Connection(Protocol):
    async def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...

    async def execute_count(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement and return its rowcount."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...

    async def executescript(self, sql: str) -> None: ...

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    async def close(self) -> None: ...


class AioConnection:
    """aiosqlite: every statement runs on the connection's worker thread."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def connect(cls, path: str) -> AioConnection:
        return cls(await aiosqlite.connect(path, isolation_level=None))

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._db.execute(sql, params)

    async def execute_count(self, sql: str, params: Sequence[object] = ()) -> int:
        cur = await self._db.execute(sql, params)
        n = cur.rowcount
        await cur.close()
        return n

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._db.executemany(sql, rows)

    async def executescript(self, sql: str) -> None:
        await self._db.executescript(sql)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        async with self._db.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def close(self) -> None:
        await self._db.close()


class SyncConnection:
    """``sqlite3`` on the caller's thread: no hand-off, the coroutines never suspend."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def connect(cls, path: str) -> SyncConnection:
        return cls(sqlite3.connect(path, isolation_level=None))

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self._db.execute(sql, params)

    async def execute_count(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._db.executemany(sql, rows)

    async def executescript(self, sql: str) -> None:
        self._db.executescript(sql)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._db.execute(sql, params).fetchall()

    async def close(self) -> None:
        self._db.close()


class LoggedConnection(SyncConnection):
    """A :class:`SyncConnection` that remembers the writes since :meth:`mark_committed`, so the
    store's per-order transaction (:mod:`kashbot.store.store`) can undo one failed call alone:
    roll the whole transaction back, then run the remembered writes again."""

    def __init__(self, db: sqlite3.Connection) -> None:
        super().__init__(db)
        self.writes: list[tuple[str, Sequence[object] | list[Sequence[object]], bool]] = []

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        self._db.execute(sql, params)
        self.writes.append((sql, params, False))

    async def execute_count(self, sql: str, params: Sequence[object] = ()) -> int:
        n = self._db.execute(sql, params).rowcount
        self.writes.append((sql, params, False))
        return n

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        kept = list(rows)
        self._db.executemany(sql, kept)
        self.writes.append((sql, kept, True))

    def control(self, sql: str) -> None:
        """BEGIN / COMMIT / ROLLBACK: not a write to remember."""
        self._db.execute(sql)

    def redo(self, upto: int) -> None:
        """Forget the writes from ``upto`` on and run the earlier ones again (after a ROLLBACK)."""
        del self.writes[upto:]
        for sql, params, many in self.writes:
            if many:
                self._db.executemany(sql, params)  # type: ignore[arg-type]
            else:
                self._db.execute(sql, params)
