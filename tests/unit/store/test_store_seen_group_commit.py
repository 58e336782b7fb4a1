"""Webhook dedupe with group commit (on-disk store): same answers as one transaction per call,
in arrival order, persisted before each call returns, and fewer commits under concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kashbot.store import Store


async def test_concurrent_calls_answer_in_arrival_order_and_persist(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    ids = [f"evt_{n % 7}" for n in range(40)] + ["evt_x"]
    async with await Store.open(db) as s:
        assert await s.seen("evt_0", 1.0) is False
        got = await asyncio.gather(*(s.seen(i, 2.0) for i in ids))
    first = {i: n for n, i in reversed(list(enumerate(ids)))}
    want = [i == "evt_x" or (i != "evt_0" and first[i] == n) for n, i in enumerate(ids)]
    assert got == [not w for w in want]
    async with await Store.open(db) as s:  # every id is on disk once its call returned
        assert all([await s.seen(i, 3.0) for i in set(ids)])


async def test_waiting_calls_share_a_commit(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "g.db") as s:
        commits = 0
        tx = s._tx

        def counting_tx():  # type: ignore[no-untyped-def]
            nonlocal commits
            commits += 1
            return tx()

        assert s._seen_batch is not None
        s._seen_batch._tx = counting_tx
        got = await asyncio.gather(*(s.seen(f"e{n}", 1.0) for n in range(50)))
        assert got == [False] * 50
        assert commits < 50  # one transaction per batch, not per call


async def test_a_cancelled_caller_does_not_stop_the_others(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "c.db") as s:
        calls = [asyncio.create_task(s.seen(f"e{n}", 1.0)) for n in range(10)]
        await asyncio.sleep(0)
        calls[3].cancel()
        done = await asyncio.gather(*calls, return_exceptions=True)
        assert [d for n, d in enumerate(done) if n != 3] == [False] * 9
        assert await s.seen("e5", 2.0) is True
