"""The redemptions table: rows survive a reopen, WAD shares exceed int64, v1 files upgrade."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from kashbot.store.records import REDEEM_ACCEPTED, REDEEM_REQUESTED, RedemptionRecord
from kashbot.store.store import SCHEMA_VERSION, Store


def row(status: str = REDEEM_REQUESTED, rid: str | None = None) -> RedemptionRecord:
    return RedemptionRecord("m", 1, 10**25, 7, "resolved", 9, "kb-redeem:m:1", status, rid, "", 2.0)


async def test_a_claim_row_survives_a_reopen_and_is_replaced_in_place(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    async with await Store.open(db) as s:
        await s.put_redemption(row())
    async with await Store.open(db) as s:
        assert await s.get_redemption("m", 1) == row()
        await s.put_redemption(row(REDEEM_ACCEPTED, "rid"))
        assert await s.redemptions() == [row(REDEEM_ACCEPTED, "rid")]
        assert await s.get_redemption("m", 0) is None


async def test_a_version_1_file_is_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    async with await Store.open(db):
        pass
    async with aiosqlite.connect(db) as raw:
        await raw.execute("DROP TABLE redemptions")
        await raw.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        await raw.commit()
    async with await Store.open(db) as s:
        assert await s.schema_version() == SCHEMA_VERSION == 2
        await s.put_redemption(row())
        assert len(await s.redemptions()) == 1
