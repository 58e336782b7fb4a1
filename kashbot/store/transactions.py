"""The store's transactions: one per call (:class:`Tx`), or one per order in backtests
(:class:`PerOrderTx`, see :mod:`kashbot.store.store`)."""

from __future__ import annotations

import asyncio

from kashbot.store.connection import Connection, LoggedConnection
from kashbot.store.records import ABANDONED, DONE, REFUSED

ORDER_ENDS = frozenset((DONE, REFUSED, ABANDONED))  # an intent's last statuses: its order ended


class PerOrderTx:
    """The open transaction of per-order mode: begun by the first write after a commit,
    committed when a call ended an order (``order_ended``) or the store closes."""

    def __init__(self, db: LoggedConnection) -> None:
        self.db = db
        self.open = False
        self.order_ended = False
        self.transactions = 0  # committed so far

    def commit(self) -> None:
        if self.open:
            self.db.control("COMMIT")
            self.db.writes.clear()
            self.open = False
            self.transactions += 1
        self.order_ended = False


class OrderCall:
    """One store call in per-order mode: join (or begin) the open transaction; commit it if the
    call ended an order; on error undo this call's writes alone (roll back, run the earlier
    writes again). No lock: the connection is inline and never suspends between statements."""

    def __init__(self, tx: PerOrderTx) -> None:
        self._tx = tx
        self._mark = 0

    async def __aenter__(self) -> None:
        tx = self._tx
        if not tx.open:
            tx.db.control("BEGIN IMMEDIATE")
            tx.open = True
        self._mark = len(tx.db.writes)

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        tx = self._tx
        if exc_type is not None:
            tx.order_ended = False
            tx.db.control("ROLLBACK")
            tx.db.control("BEGIN IMMEDIATE")
            tx.db.redo(self._mark)
        elif tx.order_ended:
            tx.commit()


class Tx:
    """Under the store's lock: BEGIN IMMEDIATE … COMMIT (ROLLBACK on error).

    One connection serves every coroutine, so transactions must not interleave: a statement
    from another task would otherwise land inside (and roll back with) someone else's.
    """

    def __init__(self, db: Connection, lock: asyncio.Lock) -> None:
        self._db = db
        self._lock = lock

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except asyncio.CancelledError:
            # aiosqlite queued the BEGIN before the cancel reached us, and its thread still
            # runs it: queue a ROLLBACK behind it and keep the lock until that ran, or the
            # next transaction would find the connection inside this one (and fail forever)
            rollback = asyncio.ensure_future(self._db.execute("ROLLBACK"))
            rollback.add_done_callback(self._release_after_rollback)
            raise
        except BaseException:
            self._lock.release()
            raise

    def _release_after_rollback(self, rollback: asyncio.Future[None]) -> None:
        if not rollback.cancelled():
            rollback.exception()  # "no transaction is active" when the BEGIN itself failed
        self._lock.release()

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                await self._db.execute("COMMIT")
            else:
                await self._db.execute("ROLLBACK")
        finally:
            self._lock.release()
