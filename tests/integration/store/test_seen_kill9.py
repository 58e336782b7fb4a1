"""Webhook dedupe across ``kill -9``: ids the store acked (``seen`` returned) are duplicates after
a restart, although their commits used ``synchronous=NORMAL`` (no fsync; the WAL frames are in
the OS page cache, which a killed process does not take with it)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kashbot.store import Store

CHILD = """
import asyncio, sys, time
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
        proc.kill()  # SIGKILL: no close, no checkpoint
        await proc.wait()
    async with await Store.open(db) as s:
        again = await asyncio.gather(*(s.seen(f"evt_{k}", 2.0) for k in range(n)))
        assert again == [True] * n
        assert await s.seen("evt_new", 2.0) is False
