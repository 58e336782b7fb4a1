"""Webhook dedupe across ``kill -9``: ids the store acked (``seen`` returned) are duplicates after
a restart. The child never folds (fold timer pushed out), so the acked ids exist only in its
dedupe journal -- written with ``os.write``, in the OS page cache, which a killed process does not
take with it -- and the reopened store must replay it."""

from __future__ import annotations

import asyncio
import glob
import sys
from pathlib import Path

from kashbot.store import Store
from kashbot.store.seen import journal_pattern

CHILD = """
import asyncio, sys, time
import kashbot.store.seen as seen
seen.FOLD_AFTER_S = 3600.0  # nothing reaches SQLite: only the journal can bring the ids back
seen.FOLD_IDS = 10**9
from kashbot.store import Store
async def main():
    store = await Store.open(sys.argv[1])
    got = await asyncio.gather(*(store.seen(f"evt_{n}", 1.0) for n in range(int(sys.argv[2]))))
    assert got == [False] * len(got)
    print("acked", flush=True)
    time.sleep(600)  # killed here, the store never closed
asyncio.run(main())
"""


async def test_acked_ids_are_duplicates_after_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "seen.db"
    n = 200
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(db), str(n), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(120):
            line = await proc.stdout.readline()
        assert line.strip() == b"acked"
    finally:
        proc.kill()  # SIGKILL: no close, no fold, no checkpoint
        await proc.wait()
    assert len(glob.glob(journal_pattern(str(db)))) == 1  # the dead child's journal
    async with await Store.open(db) as s:
        assert glob.glob(journal_pattern(str(db))) == []  # replayed into SQLite, then deleted
        again = await asyncio.gather(*(s.seen(f"evt_{k}", 2.0) for k in range(n)))
        assert again == [True] * n
        assert await s.seen("evt_new", 2.0) is False
    async with await Store.open(db) as s:  # and they stay: the replay was committed
        assert await s.seen("evt_7", 3.0) is True
