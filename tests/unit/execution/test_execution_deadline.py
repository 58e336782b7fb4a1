"""The intent's age limit reaches into the venue call: an intent that goes stale while the client
waits for the request budget is not sent, and ends exactly like the executor's own STALE_INTENT."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exec_fakes import FakeVenue
from exec_rig import Rig, buy

from kashbot.clock import SimClock
from kashbot.store.store import REFUSED, Store


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


async def test_an_intent_that_goes_stale_in_the_budget_wait_is_not_sent(store: Store) -> None:
    clock = SimClock(start=1_000.0)
    venue = FakeVenue(clock=clock, budget_wait_s=30.0)
    r = Rig(store, venue, clock=clock, max_intent_age_s=10.0)
    await r.router.recover()
    created = clock.now() - 2.0
    await r.submit(buy(1, created_ts=created))  # fresh when checked, 32 s old after the wait
    assert venue.not_afters == [created + 10.0]
    assert venue.calls == [] and venue.created_count() == 0
    assert r.denials() == ["STALE_INTENT"]
    assert r.used() == 0 and await store.load_spend() == []  # reservation released
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED
    assert "STALE_INTENT" in (rec.detail or "") and "deadline" in (rec.detail or "")
    assert r.executor.unknown_intents == [] and r.state.pending == {}
    assert r.gate.consecutive_failures == 0  # our own delay, not a venue failure
    await r.router.close()


async def test_a_short_budget_wait_still_sends(store: Store) -> None:
    clock = SimClock(start=1_000.0)
    venue = FakeVenue(clock=clock, budget_wait_s=5.0)
    r = Rig(store, venue, clock=clock, max_intent_age_s=10.0)
    await r.router.recover()
    await r.submit(buy(1, created_ts=clock.now()))
    assert venue.created_count() == 1 and r.denials() == []
    await r.router.close()


async def test_no_age_limit_means_no_deadline(store: Store) -> None:
    clock = SimClock(start=1_000.0)
    venue = FakeVenue(clock=clock, budget_wait_s=300.0)
    r = Rig(store, venue, clock=clock, max_intent_age_s=None)
    await r.router.recover()
    await r.submit(buy(1, created_ts=clock.now()))
    assert venue.not_afters == [None] and venue.created_count() == 1
    await r.router.close()
