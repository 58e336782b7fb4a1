"""The SQLite store: round trips, atomic intent+reservation, webhook dedupe, schema version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite
import pytest

from kashbot.events import OrderIntent, Side
from kashbot.money import WAD
from kashbot.risk.ledger import SpendEntry
from kashbot.store.store import (
    ACCEPTED,
    APPROVED,
    SCHEMA_VERSION,
    IntentRecord,
    PositionRecord,
    Store,
    StoreError,
    TradeRecord,
)


def rec(n: int, status: str = APPROVED) -> IntentRecord:
    i = OrderIntent(
        f"i{n}",
        "s",
        "m",
        1,
        Side.BUY,
        5_000_000,
        limit_probability=WAD // 2,
        reason="why",
        tags={"a": "b"},
        created_ts=float(n),
    )
    return IntentRecord(i, f"kb-{n}", f"r-i{n}", 5_000_000, 5_000_000, status, updated_ts=1.0)


async def test_intent_and_spend_round_trip_across_reopen(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with await Store.open(db) as s:
        await s.save_intent(rec(1), SpendEntry("r-i1", 5_000_000, 1.0, False))
        await s.save_intent(rec(2), SpendEntry("r-i2", 5_000_000, 2.0, False))
        big = 10**30  # WAD amounts overflow int64
        t = TradeRecord("t1", "i1", "m", 1, Side.BUY, 5_000_000, "pending", False, None, None, 3.0)
        await s.record_accepted(
            t, SpendEntry("r-i1", 5_000_000, 3.0, True), 3.0, intent_status=ACCEPTED
        )
        await s.upsert_trade(
            TradeRecord("t1", "i1", "m", 1, Side.BUY, 5_000_000, "completed", True, big, None, 4.0)
        )
        await s.record_refused("i2", "r-i2", 5.0, "SPENDING_LIMIT_EXCEEDED")
        assert await s.seen("evt_1", 1.0) is False
    async with await Store.open(db) as s:
        assert await s.schema_version() == SCHEMA_VERSION
        assert await s.load_spend() == [SpendEntry("r-i1", 5_000_000, 3.0, True)]
        got = await s.get_intent("i1")
        assert got is not None and got.status == ACCEPTED and got.trade_id == "t1"
        assert got.intent == rec(1).intent
        assert [r.intent.intent_id for r in await s.open_intents()] == ["i1"]
        assert sorted(await s.intent_ids()) == ["i1", "i2"]
        tr = await s.get_trade("t1")
        assert tr is not None and tr.terminal and tr.tokens == 10**30
        assert await s.open_trades() == []
        assert await s.seen("evt_1", 2.0) is True  # persisted dedupe
        assert await s.seen("evt_2", 2.0) is False
        assert await s.forget_seen_before(1.5) == 1


async def test_save_intent_is_atomic(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "a.db") as s:
        await s.save_intent(rec(1), SpendEntry("r-i1", 1, 1.0, False))
        with pytest.raises(aiosqlite.IntegrityError):  # same intent id: nothing half-written
            await s.save_intent(rec(1), SpendEntry("other", 1, 1.0, False))
        assert [e.entry_id for e in await s.load_spend()] == ["r-i1"]


async def test_positions_replace(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "p.db") as s:
        await s.replace_positions([PositionRecord("m", 0, 3 * WAD, 7, 1.0)])
        await s.replace_positions([PositionRecord("m", 1, 10**25, 9, 2.0)])
        assert await s.positions() == [PositionRecord("m", 1, 10**25, 9, 2.0)]


async def test_wal_and_newer_schema_refused(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    async with await Store.open(db):
        pass
    async with aiosqlite.connect(db) as raw:
        async with raw.execute("PRAGMA journal_mode") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == "wal"
        await raw.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        await raw.commit()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(db)


async def test_concurrent_writers_do_not_interleave_transactions(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "c.db") as s:
        await asyncio.gather(
            *(s.save_intent(rec(n), SpendEntry(f"r-i{n}", 1, 1.0, False)) for n in range(30)),
            *(s.seen(f"evt_{n}", 1.0) for n in range(30)),
        )
        assert len(await s.load_spend()) == 30
        assert len(await s.intent_ids()) == 30
