"""``Store.open(..., sync=True, per_order=True)`` (backtests): the same answers as the live
store, one transaction per order, and a failed call undoes only its own writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kashbot.risk.ledger import SpendEntry
from kashbot.store.store import ACCEPTED, DONE, Store, TradeRecord
from tests.unit.store.test_store_sync_mode import rec, script


async def test_per_order_store_answers_like_the_aiosqlite_store(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "aio.db") as aio:
        expected = await script(aio)
    async with await Store.open(":memory:", sync=True, per_order=True) as mem:
        assert await script(mem) == expected


def begins(store: Store) -> list[str]:
    """Every BEGIN the store's connection runs from now on."""
    seen: list[str] = []
    assert store.per_order is not None
    raw: sqlite3.Connection = store.per_order.db._db
    raw.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("BEGIN") else None)
    return seen


async def test_an_order_is_one_transaction() -> None:
    async with await Store.open(":memory:", sync=True, per_order=True) as s:
        started = begins(s)
        for n in range(3):  # the executor's four calls per order: intent, 201, finish x2
            await s.save_intent(rec(n), SpendEntry(f"r-i{n}", 5_000_000, float(n), False))
            t = TradeRecord(
                f"t{n}", f"i{n}", "m", 1, rec(n).intent.side, 5, "pending", False, None, None, 1.0
            )
            await s.record_accepted(
                t, SpendEntry(f"r-i{n}", 5, 1.0, True), 1.0, intent_status=ACCEPTED
            )
            done = TradeRecord(
                f"t{n}", f"i{n}", "m", 1, rec(n).intent.side, 5, "completed", True, 7, None, 2.0
            )
            await s.upsert_trade(done)
            await s.update_intent(f"i{n}", DONE, 2.0)
        assert len(started) == 3
        assert s.per_order is not None and s.per_order.transactions == 3
        assert [r.status for r in await s.open_intents()] == []


async def test_a_failed_call_undoes_its_own_writes_only() -> None:
    async with await Store.open(":memory:", sync=True, per_order=True) as s:
        await s.save_intent(rec(1), SpendEntry("r-i1", 5, 1.0, False))  # open, not committed
        with pytest.raises(sqlite3.IntegrityError):  # intent i1 again: its spend row must go too
            await s.save_intent(rec(1), SpendEntry("other", 1, 1.0, False))
        assert [e.entry_id for e in await s.load_spend()] == ["r-i1"]
        assert [r.intent.intent_id for r in await s.open_intents()] == ["i1"]
        await s.record_refused("i1", "r-i1", 2.0, "no")  # the order ends: committed
        assert await s.load_spend() == []


async def test_per_order_needs_the_inline_connection() -> None:
    with pytest.raises(ValueError, match="per_order"):
        await Store.open(":memory:", per_order=True)
