"""Group commit for webhook dedupe: every delivery waiting at once shares one transaction.

A delivery's ``seen(event_id)`` used to be its own ``BEGIN IMMEDIATE`` / ``INSERT`` / ``COMMIT``
(an fsync each under ``synchronous=FULL``, ~0.5 ms, so ingest ran at a tenth of a bare server).
Here the ids that arrive while a commit is in flight wait for the next one, which writes them all:
one ``SELECT`` for the ids already recorded, one ``executemany`` for the new ones, one commit.

A batch commits with ``synchronous=NORMAL`` (the rest of the store keeps ``FULL``): in WAL mode
that skips the fsync of the WAL at commit, yet ``COMMIT`` returns only after the frames are
written into the WAL file -- the OS page cache -- so they survive ``kill -9`` of the process; only
a power loss or kernel crash before the next fsync (any ``FULL`` commit or checkpoint) can lose
them, and then the venue's retry is processed again (the executor's handling of a trade update is
idempotent, as for any redelivery). The guarantee, including across ``kill -9``: a caller's
``seen`` returns only after the transaction holding its id has committed, and the receiver
answers 200 only after ``seen`` returns. So an acked id is on disk; an id whose commit had not
finished when the process died was never acked, and Kash's retry is then a first delivery (or a
duplicate, if the commit did land: the event's effects are re-derived by the executor's poll
fallback, as before). Within one batch the first occurrence of an id is new and any later one is
a duplicate, the order the callers arrived in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kashbot.store.connection import Connection

_Waiter = tuple[str, float, "asyncio.Future[bool]"]
_CHUNK = 500  # ids per SELECT ... IN (...) (SQLite's default limit is 32,766 variables)


class SeenBatch:
    """Collects ``seen`` calls and commits them together (one flush task at a time)."""

    def __init__(self, db: Connection, tx: Callable[[], Any]) -> None:
        self._db = db
        self._tx = tx  # the store's locked transaction (BEGIN IMMEDIATE ... COMMIT), no fsync
        self._waiting: list[_Waiter] = []
        self._flusher: asyncio.Task[None] | None = None

    async def seen(self, event_id: str, now: float) -> bool:
        """True if ``event_id`` was recorded before; returns once this call's row is committed."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((event_id, now, fut))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="store-seen-commit")
        return await fut  # a cancelled caller leaves the flush running for the others

    async def drain(self) -> None:
        """Wait for the commit in flight, if any (closing the store must not cut it)."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    duplicates = await self._commit(batch)
                except Exception as exc:  # every waiter of this batch sees the failure
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), dup in zip(batch, duplicates, strict=True):
                    if not fut.done():
                        fut.set_result(dup)
        finally:
            self._flusher = None
            for _, _, fut in self._waiting:  # only when the flush itself was cancelled
                if not fut.done():
                    fut.cancel()

    async def _commit(self, batch: list[_Waiter]) -> list[bool]:
        ids = list(dict.fromkeys(eid for eid, _, _ in batch))
        async with self._tx():  # the store's relaxed transaction: synchronous=NORMAL
            known: set[str] = set()
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                marks = ",".join("?" * len(part))
                rows = await self._db.fetchall(
                    f"SELECT event_id FROM seen_webhooks WHERE event_id IN ({marks})", part
                )
                known.update(str(r[0]) for r in rows)
            duplicates: list[bool] = []
            new: dict[str, float] = {}
            for eid, now, _ in batch:
                dup = eid in known or eid in new
                duplicates.append(dup)
                if not dup:
                    new[eid] = now
            if new:
                await self._db.executemany(
                    "INSERT INTO seen_webhooks(event_id, seen_ts) VALUES(?, ?)", list(new.items())
                )
        return duplicates
