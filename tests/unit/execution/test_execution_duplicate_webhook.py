"""A duplicate webhook of a trade this follower finished is answered from memory (Kash delivers
at least once; every backtest order gets one): the same False the store's terminal row gives,
without reading it. Beyond the bounded memory the store answers, as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from exec_rig import Rig, buy

from kashbot.execution import follow
from kashbot.money import WAD
from kashbot.store.store import Store


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


def count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = store.get_trade

    async def spy(trade_id: str) -> Any:
        reads.append(trade_id)
        return await real(trade_id)

    monkeypatch.setattr(store, "get_trade", spy)
    return reads


async def test_a_duplicate_of_a_finished_trade_needs_no_store_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = Rig(store)
    await r.router.recover()
    await r.router.submit(buy(1))
    assert await r.router.on_trade_update("t1", "completed", tokens_out=WAD)
    reads = count_reads(store, monkeypatch)
    assert not await r.router.on_trade_update("t1", "completed", tokens_out=WAD)
    assert reads == []
    assert r.updates() == ["pending", "completed"]
    rec = await store.get_trade("t1")
    assert rec is not None and rec.terminal  # what the skipped read would have found
    await r.router.close()


async def test_beyond_the_memory_the_store_answers(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "_MAX_FINISHED", 1)
    r = Rig(store)
    await r.router.recover()
    for n in (1, 2):
        await r.router.submit(buy(n))
        assert await r.router.on_trade_update(f"t{n}", "completed", tokens_out=WAD)
    reads = count_reads(store, monkeypatch)
    assert not await r.router.on_trade_update("t1", "completed")  # forgotten: the store says
    assert not await r.router.on_trade_update("t2", "completed")  # remembered
    assert reads == ["t1"]
    await r.router.close()
