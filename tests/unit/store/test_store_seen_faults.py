"""Faults around the webhook dedupe (review findings): a transaction cancelled while its BEGIN
waits, an id SQLite cannot store, a failing fold under a flood of deliveries, a journal held by
another opener, and the journal's name only appearing once it is locked."""

from __future__ import annotations

import asyncio
import fcntl
import glob
import os
import sqlite3
from pathlib import Path

import pytest
import structlog

import kashbot.store.seen as seen_mod
from kashbot.store import Store
from kashbot.store.seen import journal_pattern, parse_journal


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def read(path: Path) -> bytes:
    return path.read_bytes()


def exists(path: Path) -> bool:
    return path.exists()


async def test_a_cancelled_begin_does_not_wedge_the_store(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock, so BEGIN IMMEDIATE waits; the waiting task
    is cancelled (a request deadline). Every later transaction must still work."""
    db = tmp_path / "w.db"
    async with await Store.open(db) as s:
        other = sqlite3.connect(db, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")  # the write lock, as `kashbot redeem` might hold it
        try:
            task = asyncio.create_task(s.forget_seen_before(0.0))
            await asyncio.sleep(0.2)  # its BEGIN is queued on the worker thread, waiting
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await s.seen("evt_after", 1.0) is False
        assert await s.forget_seen_before(0.0) == 0  # a whole transaction goes through
    async with await Store.open(db) as s:
        assert await s.seen("evt_after", 2.0) is True


async def test_an_id_sqlite_cannot_store_is_refused_and_skipped_in_a_journal(
    tmp_path: Path,
) -> None:
    db = tmp_path / "u.db"
    async with await Store.open(db) as s:
        with pytest.raises(ValueError, match="UTF-8"):
            await s.seen("evt_\ud800", 1.0)
        assert await s.seen("evt_ok", 1.0) is False
    journal = Path(f"{db}-seen-999999-0.journal")
    write(journal, b'1.0 "evt_\\ud800"\n2.0 "evt_fine"\n')
    assert parse_journal(read(journal)) == [("evt_fine", 2.0)]
    async with await Store.open(db) as s:  # the replay is not stopped by the bad line
        assert await s.seen("evt_fine", 3.0) is True
    assert not exists(journal)


async def test_a_failing_fold_is_retried_on_a_timer_not_per_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_mod, "FOLD_IDS", 2)
    monkeypatch.setattr(seen_mod, "_RETRY_S", 3600.0)
    db = tmp_path / "r.db"
    tries = 0
    async with await Store.open(db) as s:
        window = s._seen_batch
        assert window is not None
        real_tx = window._tx

        class Broken:
            async def __aenter__(self) -> None:
                raise sqlite3.OperationalError("disk I/O error")

            async def __aexit__(self, *exc: object) -> None:
                return None

        def broken_tx() -> Broken:
            nonlocal tries
            tries += 1
            return Broken()

        window._tx = broken_tx
        with structlog.testing.capture_logs():
            for n in range(20):
                assert await s.seen(f"e{n}", 1.0) is False
                await asyncio.sleep(0)  # the folder runs between deliveries
            await asyncio.sleep(0.05)
        assert tries == 1  # one failed fold, then it waits for the retry timer
        assert len(glob.glob(journal_pattern(str(db)))) <= 2  # not a journal per delivery
        window._tx = real_tx  # the disk is back: close folds everything
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM seen_webhooks").fetchone() == (20,)
    assert glob.glob(journal_pattern(str(db))) == []


async def test_a_journal_held_at_open_makes_misses_look_on_disk(tmp_path: Path) -> None:
    """Another opener holds a dead process's journal while replaying it: its ids may reach
    SQLite only after this store loaded its window, so they must still be found."""
    db = tmp_path / "h.db"
    async with await Store.open(db):
        pass
    journal = Path(f"{db}-seen-999999-0.journal")
    write(journal, b'1.0 "evt_acked"\n')
    fd = os.open(journal, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        async with await Store.open(db) as s:
            assert s._seen_batch is not None and s._seen_batch._partial
            with sqlite3.connect(db) as c:  # the other opener's replay commits now
                c.execute("INSERT INTO seen_webhooks(event_id, seen_ts) VALUES('evt_acked', 1)")
            assert await s.seen("evt_acked", 2.0) is True
    finally:
        os.close(fd)


async def test_a_journal_gets_its_name_only_once_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "n.db"
    seen_names: list[list[str]] = []
    real_flock = fcntl.flock

    def spy(fd: int, op: int) -> None:
        seen_names.append(glob.glob(journal_pattern(str(db))))
        real_flock(fd, op)

    async with await Store.open(db) as s:
        monkeypatch.setattr(seen_mod.fcntl, "flock", spy)
        assert await s.seen("evt_1", 1.0) is False
        monkeypatch.setattr(seen_mod.fcntl, "flock", real_flock)
        (journal,) = glob.glob(journal_pattern(str(db)))
        assert seen_names == [[]]  # locked while openers could not find it yet
        # the rename kept the lock: another opener cannot take it
        fd = os.open(journal, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)


async def test_forgetting_old_ids_while_a_fold_is_in_flight_keeps_the_folding_ids(
    tmp_path: Path,
) -> None:
    """The fold has taken its batch out of the pending list and waits for its transaction
    when a prune reloads the window: the batch's ids must still be duplicates afterwards."""
    db = tmp_path / "race.db"
    async with await Store.open(db) as s:
        window = s._seen_batch
        assert window is not None
        real_tx, gate, first = window._tx, asyncio.Event(), [True]

        class HeldOnce:
            def __init__(self) -> None:
                self.inner = real_tx()

            async def __aenter__(self) -> None:
                if first[0]:  # the fold's transaction waits until the prune has started
                    first[0] = False
                    await gate.wait()
                await self.inner.__aenter__()

            async def __aexit__(self, *exc: object) -> None:
                await self.inner.__aexit__(*exc)

        window._tx = HeldOnce
        assert await s.seen("evt_a", 100.0) is False
        fold = asyncio.create_task(window._fold())
        await asyncio.sleep(0.05)  # the fold holds the batch, waiting
        prune = asyncio.create_task(s.forget_seen_before(50.0))
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(fold, prune)
        assert await s.seen("evt_a", 101.0) is True
