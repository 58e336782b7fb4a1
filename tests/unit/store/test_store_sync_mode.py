"""``Store.open(..., sync=True)``: same SQL and answers as the aiosqlite store, never suspends."""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from kashbot.events import OrderIntent, Side
from kashbot.risk.ledger import SpendEntry
from kashbot.store.store import ACCEPTED, APPROVED, IntentRecord, PositionRecord, Store, TradeRecord


def rec(n: int) -> IntentRecord:
    i = OrderIntent(f"i{n}", "s", "m", 1, Side.BUY, 5_000_000, tags={"n": str(n)}, created_ts=n)
    return IntentRecord(i, f"kb-{n}", f"r-i{n}", 5_000_000, 5_000_000, APPROVED, updated_ts=1.0)


async def script(s: Store) -> list[object]:
    """A bit of everything the executor and router do; returns every answer."""
    out: list[object] = []
    for n in range(3):
        await s.save_intent(rec(n), SpendEntry(f"r-i{n}", 5_000_000, float(n), False))
    t = TradeRecord("t1", "i0", "m", 1, Side.BUY, 5_000_000, "pending", False, None, None, 3.0)
    await s.record_accepted(
        t, SpendEntry("r-i0", 5_000_000, 3.0, True), 3.0, intent_status=ACCEPTED
    )
    await s.upsert_trade(
        TradeRecord("t1", "i0", "m", 1, Side.BUY, 5_000_000, "completed", True, 10**30, None, 4.0)
    )
    await s.record_refused("i1", "r-i1", 5.0, "SPENDING_LIMIT_EXCEEDED")
    await s.record_abandoned("i2", "r-i2", 6.0, "gone")
    await s.put_spend(SpendEntry("x", 7, 7.0, True))
    await s.delete_spend(["x"])
    await s.replace_positions([PositionRecord("m", 1, 10**25, 9, 2.0)])
    out += [await s.seen("evt_1", 1.0), await s.seen("evt_1", 2.0), await s.seen("evt_2", 3.0)]
    out.append(await s.forget_seen_before(2.5))
    out += [await s.schema_version(), await s.load_spend(), await s.get_intent("i0")]
    out += [await s.open_intents(), sorted(await s.intent_ids()), await s.get_trade("t1")]
    out += [await s.open_trades(), await s.trades(), await s.positions()]
    with pytest.raises(sqlite3.IntegrityError):  # nothing half-written either way
        await s.save_intent(rec(0), SpendEntry("other", 1, 1.0, False))
    out.append(await s.load_spend())
    return out


async def test_sync_store_answers_like_the_aiosqlite_store(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "aio.db") as aio:
        expected = await script(aio)
    async with await Store.open(":memory:", sync=True) as mem:
        assert await script(mem) == expected
    async with await Store.open(tmp_path / "sync.db", sync=True) as disk:
        assert await script(disk) == expected
    async with await Store.open(tmp_path / "sync.db") as reopened:  # same file format
        assert await reopened.load_spend() == expected[-1]


def finishes_without_suspending(coro: Coroutine[Any, Any, Any]) -> bool:
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


async def test_sync_store_calls_never_yield_to_the_loop() -> None:
    async with await Store.open(":memory:", sync=True) as s:
        spend = SpendEntry("r-i1", 1, 1.0, False)
        assert finishes_without_suspending(s.save_intent(rec(1), spend))
        assert finishes_without_suspending(s.seen("evt", 1.0))
        assert finishes_without_suspending(s.load_spend())
    async with await Store.open(":memory:") as threaded:  # the live store hands off to a thread
        assert not finishes_without_suspending(threaded.load_spend())
