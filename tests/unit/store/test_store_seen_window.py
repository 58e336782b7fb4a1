"""Webhook dedupe on an on-disk store (kashbot.store.seen): answers in arrival order from an
in-memory window without suspending, each new id journalled before it is answered, folded into
SQLite in batches, journals of dead processes replayed and live ones left alone, and ids beyond
the window looked up on disk."""

from __future__ import annotations

import asyncio
import fcntl
import glob
import os
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import kashbot.store.seen as seen_mod
from kashbot.store import Store
from kashbot.store.seen import journal_pattern, parse_journal


def answered_without_suspending(coro: Coroutine[Any, Any, bool]) -> bool:
    try:
        coro.send(None)
    except StopIteration as done:
        return bool(done.value)
    coro.close()
    raise AssertionError("seen() suspended")


def read(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def exists(path: Path) -> bool:
    return path.exists()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def rows(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT event_id, seen_ts FROM seen_webhooks").fetchall())


async def test_concurrent_calls_answer_in_arrival_order_and_persist(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    ids = [f"evt_{n % 7}" for n in range(40)] + ["evt_x"]
    async with await Store.open(db) as s:
        assert await s.seen("evt_0", 1.0) is False
        got = await asyncio.gather(*(s.seen(i, 2.0) for i in ids))
    first = {i: n for n, i in reversed(list(enumerate(ids)))}
    want = [i == "evt_x" or (i != "evt_0" and first[i] == n) for n, i in enumerate(ids)]
    assert got == [not w for w in want]
    assert glob.glob(journal_pattern(str(db))) == []  # folded at close, journal deleted
    assert set(rows(db)) == set(ids)
    async with await Store.open(db) as s:
        assert all([await s.seen(i, 3.0) for i in set(ids)])


async def test_answers_come_from_memory_and_the_journal_is_written_first(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    async with await Store.open(db) as s:
        assert answered_without_suspending(s.seen("evt_a", 1.5)) is False
        assert answered_without_suspending(s.seen("evt_a", 2.0)) is True
        (journal,) = glob.glob(journal_pattern(str(db)))
        assert parse_journal(read(journal)) == [("evt_a", 1.5)]
        assert rows(db) == {}  # not folded yet: the journal alone holds it


async def test_ids_are_folded_in_one_transaction_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_mod, "FOLD_IDS", 20)
    monkeypatch.setattr(seen_mod, "FOLD_AFTER_S", 3600.0)  # only full batches fold
    db = tmp_path / "f.db"
    async with await Store.open(db) as s:
        assert s._seen_batch is not None
        folds = 0
        folded = asyncio.Event()
        tx = s._tx

        def counting_tx():  # type: ignore[no-untyped-def]
            nonlocal folds
            folds += 1
            folded.set()
            return tx()

        s._seen_batch._tx = counting_tx
        assert [await s.seen(f"e{n}", 1.0) for n in range(25)] == [False] * 25
        async with asyncio.timeout(60):
            await folded.wait()  # a full batch folds without waiting for the timer
        assert [await s.seen(f"f{n}", 1.0) for n in range(10)] == [False] * 10
        assert folds == 1  # one transaction for the whole batch
    assert folds == 2  # the last 10 at close
    assert len(rows(db)) == 35


async def test_a_dead_process_journal_is_replayed_and_a_torn_line_skipped(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    async with await Store.open(db):
        pass
    journal = Path(f"{db}-seen-999999-0.journal")
    write(journal, b'1.0 "evt_1"\n2.5 "evt_\\n2"\n3.0 "evt_3')  # last write never finished
    async with await Store.open(db) as s:
        assert not exists(journal)
        assert await s.seen("evt_1", 9.0) is True
        assert await s.seen("evt_\n2", 9.0) is True
        assert await s.seen("evt_3", 9.0) is False  # torn: it was never acked
    assert rows(db)["evt_\n2"] == 2.5


async def test_a_live_process_journal_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    async with await Store.open(db):
        pass
    journal = Path(f"{db}-seen-999999-0.journal")
    write(journal, b'1.0 "evt_1"\n')
    fd = os.open(journal, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # its writer is alive (e.g. the daemon, while redeem opens)
    try:
        async with await Store.open(db):
            assert exists(journal)
        assert "evt_1" not in rows(db)
    finally:
        os.close(fd)
    async with await Store.open(db) as s:  # the writer died: now it is replayed
        assert await s.seen("evt_1", 2.0) is True
    assert not exists(journal)


async def test_beyond_the_window_misses_are_looked_up_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seen_mod, "WINDOW_IDS", 3)
    db = tmp_path / "p.db"
    async with await Store.open(db) as s:
        assert [await s.seen(f"e{n}", float(n)) for n in range(10)] == [False] * 10
    async with await Store.open(db) as s:
        assert s._seen_batch is not None and s._seen_batch._partial
        got = await asyncio.gather(s.seen("e0", 20.0), s.seen("new", 20.0), s.seen("new", 20.0))
        assert got == [True, False, True]
        assert await s.seen("e9", 21.0) is True
    assert "new" in rows(db)


async def test_forgotten_ids_are_new_again(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "g.db") as s:
        assert await s.seen("old", 1.0) is False
        assert await s.seen("young", 5.0) is False
        assert await s.forget_seen_before(3.0) == 1
        assert await s.seen("old", 6.0) is False
        assert await s.seen("young", 6.0) is True
