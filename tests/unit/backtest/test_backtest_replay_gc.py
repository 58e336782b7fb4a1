"""The replay loop's GC settings are the runner's business only: they come back afterwards."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kashbot.backtest.runner import replay_gc


@pytest.fixture
def default_gc() -> Iterator[tuple[int, int, int]]:
    old = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*old)


def test_replay_gc_raises_gen0_freezes_and_restores(default_gc: tuple[int, int, int]) -> None:
    kept = [object() for _ in range(10)]
    with replay_gc(12_345):
        assert gc.get_threshold() == (12_345, 10, 10)
        assert gc.get_freeze_count() > len(kept)
    assert gc.get_threshold() == default_gc
    assert gc.get_freeze_count() == 0


def test_replay_gc_restores_after_an_error(default_gc: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), replay_gc(99_999):
        raise RuntimeError("replay failed")
    assert gc.get_threshold() == default_gc
    assert gc.get_freeze_count() == 0
