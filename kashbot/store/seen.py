"""Webhook dedupe: an in-memory window of ids in front of SQLite, each new id journalled first.

Every delivery used to wait for a SQLite transaction on the store's worker thread (group commit,
four to six thread hand-offs per batch); at loopback rates the hand-offs, not the disk, made the
receiver a third as fast as a bare server. Now ``seen(event_id)`` is answered from memory and
does not suspend:

- the ids seen so far (up to :data:`WINDOW_IDS`, newest kept) are in a set; a hit is a duplicate;
- a new id is first appended to this process's **journal** file with one ``os.write`` (``O_APPEND``;
  one line, ``<seen_ts> <id as a JSON string>``), then added to the set, and only then does
  ``seen`` return False -- so the receiver's 200 always follows the write;
- a background fold moves the journalled ids into ``seen_webhooks`` in one transaction (the
  store's ordinary ``synchronous=FULL`` commit, so folded ids survive a power loss too) every
  :data:`FOLD_AFTER_S` or :data:`FOLD_IDS` ids, then deletes the journal it has folded (writes
  go on in a fresh journal file meanwhile);
- on open, journals left by a dead process are replayed into SQLite (``INSERT OR IGNORE``), then
  the newest ids are loaded into the set.

Why an acked id survives ``kill -9``: ``os.write`` returns once the bytes are in the kernel's page
cache, which belongs to the file, not to the process; a killed process loses nothing it wrote.
The next ``Store.open`` replays the journal. A line cut short (the write never returned, so the
id was never acked) is skipped. As with the group commit before, only a power loss or kernel
crash before the fold (at most ~:data:`FOLD_AFTER_S` later) can lose an acked id, and then
Kash's redelivery is processed again (the executor treats a repeated trade update as any
redelivery). Each journal is held with ``flock`` by its writer, so another process opening the
same store (``kashbot redeem``) never replays -- and deletes -- a live process's journal.

The window is exact while every id in SQLite fits in it. With more (a store that has seen more
than :data:`WINDOW_IDS` events), a miss is looked up in SQLite before it is called new, in
arrival order. Within one process calls are answered in the order they arrive: the first of two
concurrent calls with one id is new, the second a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import itertools
import json
import os
from collections import deque
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

import structlog

from kashbot.store.connection import Connection

log = structlog.get_logger("kashbot.store.seen")

WINDOW_IDS = 200_000  # ids kept in memory (~130 B each); beyond it a miss is looked up on disk
FOLD_IDS = 2_048  # fold into SQLite once this many ids are journalled ...
FOLD_AFTER_S = 0.5  # ... or this long after the first of them
_RETRY_S = 5.0  # after a failed fold (the ids stay journalled and in memory)
_INSERT = "INSERT OR IGNORE INTO seen_webhooks(event_id, seen_ts) VALUES(?, ?)"
_SEQ = itertools.count()  # journal names are unique per process: <db>-seen-<pid>-<n>.journal


def journal_pattern(db_path: str) -> str:
    """Glob for the journal files of the store at ``db_path``."""
    return glob.escape(db_path) + "-seen-*.journal"


def parse_journal(data: bytes) -> list[tuple[str, float]]:
    """``(event_id, seen_ts)`` of every complete line; a torn or garbled line is skipped."""
    rows: list[tuple[str, float]] = []
    for line in data.split(b"\n"):
        ts, sep, raw = line.partition(b" ")
        if not sep:
            continue
        try:
            event_id = json.loads(raw)
            seen_ts = float(ts)
        except ValueError:
            continue
        if isinstance(event_id, str) and storable(event_id):
            rows.append((event_id, seen_ts))
    return rows


def storable(event_id: str) -> bool:
    """False for an id SQLite cannot store (a lone UTF-16 surrogate is not UTF-8): one such row
    would fail every fold, and every replay at open, with it."""
    try:
        event_id.encode()
    except UnicodeEncodeError:
        return False
    return True


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


class SeenWindow:
    """Dedupe of webhook event ids for an on-disk store (the :class:`Store` creates it)."""

    def __init__(self, db: Connection, tx: Callable[[], Any]) -> None:
        self._db = db
        self._tx = tx  # the store's locked transaction (BEGIN IMMEDIATE ... COMMIT)
        self._capacity = WINDOW_IDS
        self._ids: set[str] = set()
        self._order: deque[str] = deque()  # the same ids, oldest first (for eviction)
        self._partial = False  # SQLite may hold ids that are not in the window
        self._pending: list[tuple[str, float]] = []  # journalled, not yet folded
        self._base: str | None = None  # db path; None: no journal (":memory:")
        self._fd: int | None = None  # the journal being written
        self._path: str | None = None
        self._sealed: list[str] = []  # written journals whose ids are not yet folded
        self._full = asyncio.Event()
        self._closing = asyncio.Event()  # set by drain(): no more retries, a retry wait ends
        self._skipped = False  # a journal held by a live process was not replayed at open
        self._folder: asyncio.Task[None] | None = None
        self._lookup = asyncio.Lock()  # partial window: misses go to SQLite one at a time
        # a fold and a rebuild of the window (forget_before) never interleave: a batch taken
        # out of _pending while the window is reloaded would be in neither
        self._rebuild = asyncio.Lock()

    # ---- open / close

    async def open(self, db_path: str) -> None:
        """Replay journals of dead processes into SQLite, then load the newest ids."""
        self._base = None if db_path == ":memory:" else str(db_path)
        if self._base is not None:
            for path in sorted(glob.glob(journal_pattern(self._base))):
                await self._replay(path)
        await self._load()

    async def _replay(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # a live process writes it (its ids are its own to fold), or another opener
                # is replaying a dead one: its ids may reach SQLite after the load below, so
                # misses are looked up there
                self._skipped = True
                return
            rows = parse_journal(_read_all(fd))  # at open, before anything is served
            if rows:
                async with self._tx():
                    await self._db.executemany(_INSERT, rows)
            log.info("seen_journal_replayed", path=path, ids=len(rows))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        finally:
            os.close(fd)

    async def _load(self) -> None:
        async with self._tx():
            rows = await self._db.fetchall(
                "SELECT event_id FROM seen_webhooks ORDER BY seen_ts DESC, rowid DESC LIMIT ?",
                (self._capacity + 1,),
            )
        self._partial = len(rows) > self._capacity or self._skipped
        newest_last = [str(r[0]) for r in reversed(rows[: self._capacity])]
        self._ids = set(newest_last)
        self._order = deque(newest_last)
        for eid, _ in self._pending:  # journalled meanwhile, not folded yet
            if eid not in self._ids:
                self._ids.add(eid)
                self._order.append(eid)

    async def drain(self) -> None:
        """Fold what is journalled and close the journal (the store is closing).

        A fold in flight is waited for, not cancelled: a transaction cut between its statements
        would leave the store's connection inside it."""
        self._closing.set()
        self._full.set()
        if self._folder is not None:
            await asyncio.gather(self._folder, return_exceptions=True)
        try:
            await self._fold()
        except Exception:  # the journals stay; the next open replays them
            log.exception("seen_fold_failed_at_close", pending=len(self._pending))
        finally:
            self._close_journal()

    # ---- the hot path

    async def seen(self, event_id: str, now: float) -> bool:
        """True if ``event_id`` was recorded before; a new id is journalled before this returns.

        Raises ``ValueError`` for an id SQLite cannot store (the receiver refuses such a body
        before it gets here: :func:`kashbot.client.webhooks.construct_event`)."""
        if event_id in self._ids:
            return True
        if not storable(event_id):
            raise ValueError(f"webhook event id {event_id!r} is not valid UTF-8")
        if self._partial:
            return await self._seen_on_disk(event_id, now)
        self._record(event_id, now)
        return False

    def _record(self, event_id: str, now: float) -> None:
        if self._base is not None:
            line = f"{now!r} {encode_basestring_ascii(event_id)}\n".encode()
            fd = self._journal()
            if os.write(fd, line) != len(line):  # a short write: never acked; start afresh
                self._seal()
                raise OSError(f"short write to the webhook dedupe journal {self._path}")
        self._ids.add(event_id)
        self._order.append(event_id)
        self._pending.append((event_id, now))
        if len(self._pending) >= FOLD_IDS:
            self._full.set()
        if self._folder is None:
            self._folder = asyncio.create_task(self._fold_soon(), name="store-seen-fold")

    async def _seen_on_disk(self, event_id: str, now: float) -> bool:
        async with self._lookup:  # FIFO: calls are answered in arrival order
            if event_id in self._ids:
                return True
            async with self._tx():
                rows = await self._db.fetchall(
                    "SELECT 1 FROM seen_webhooks WHERE event_id = ?", (event_id,)
                )
            if rows:
                self._ids.add(event_id)
                self._order.append(event_id)
                return True
            self._record(event_id, now)
            return False

    def _journal(self) -> int:
        if self._fd is None:
            assert self._base is not None
            path = f"{self._base}-seen-{os.getpid()}-{next(_SEQ)}.journal"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            # locked before it has the name openers look for, so none can take it for a dead
            # process's journal in between (the rename keeps the open file and its lock)
            fd = os.open(path + ".tmp", flags, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.rename(path + ".tmp", path)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path + ".tmp")
                raise
            self._fd, self._path = fd, path
        return self._fd

    def _seal(self) -> None:
        """Stop writing the current journal; it is deleted once its ids are folded."""
        if self._fd is not None and self._path is not None:
            os.close(self._fd)
            self._sealed.append(self._path)
        self._fd = self._path = None

    def _close_journal(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            if not self._pending and self._path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._path)
        self._fd = self._path = None

    # ---- folding into SQLite

    async def _fold_soon(self) -> None:
        try:
            wait = FOLD_AFTER_S
            while self._pending:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._full.wait()
                try:
                    await self._fold()
                    wait = FOLD_AFTER_S
                except Exception:
                    log.exception("seen_fold_failed", pending=len(self._pending))
                    if self._closing.is_set():
                        return  # drain tries once more, then leaves the journals
                    # not woken by _full: a failing disk is retried every _RETRY_S, not on
                    # every delivery (each try seals a journal and logs a traceback)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(_RETRY_S):
                            await self._closing.wait()
                    wait = 0.0
        finally:
            self._folder = None

    async def _fold(self) -> None:
        async with self._rebuild:
            await self._fold_now()

    async def _fold_now(self) -> None:
        self._full.clear()
        if not self._pending:
            return
        self._seal()
        batch, self._pending = self._pending, []
        sealed, self._sealed = self._sealed, []
        try:
            async with self._tx():
                await self._db.executemany(_INSERT, batch)
        except BaseException:
            self._pending = batch + self._pending
            self._sealed = sealed + self._sealed
            raise
        for path in sealed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        while len(self._order) > self._capacity:  # only folded ids leave the window
            self._ids.discard(self._order.popleft())
            self._partial = True

    async def forget_before(self, ts: float) -> int:
        """Drop ids first seen before ``ts`` from SQLite and from the window."""
        async with self._rebuild:
            await self._fold_now()
            async with self._tx():
                n = await self._db.execute_count(
                    "DELETE FROM seen_webhooks WHERE seen_ts < ?", (ts,)
                )
            await self._load()
        return n
