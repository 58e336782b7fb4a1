"""Startup recovery: venue spend of refused intents counts, and a venue blip is ridden out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exec_fakes import FakeVenue
from exec_rig import Rig, U, buy

from kashbot.client.errors import DependencyUnavailable, KashValidationError
from kashbot.clock import SimClock
from kashbot.execution.router import RecoveryError
from kashbot.risk.gate import Approval, Denial, Reason
from kashbot.risk.limits import Limits
from kashbot.store.store import ACCEPTED, APPROVED, REFUSED, IntentRecord, Store

LIMITS = Limits.for_tier("free", daily_cap=100 * U)


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


async def test_a_venue_buy_of_a_refused_intent_counts_after_restart(store: Store) -> None:
    clock = SimClock(1_767_225_600.0 + 600)
    bad = KashValidationError(code="VALIDATION_FAILED", status=400)
    venue = FakeVenue(errors=[bad])
    r1 = Rig(store, venue, LIMITS, clock)
    await r1.router.recover()
    await r1.submit(buy(1, 40 * U))
    await r1.submit(buy(2, 30 * U))  # accepted: its reservation stays on the ledger
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED and r1.used() == 30 * U
    await r1.router.close()
    # ...yet a buy with clientRequestId i1 exists on the venue (the refusal was not the truth)
    await venue.create_trade("m1", 0, "buy", "40", client_request_id="i1", metadata={})
    r2 = Rig(store, venue, LIMITS, clock)
    report = await r2.router.recover()
    assert report.venue_spend_adopted == 1  # i1's trade; i2's is already ours
    assert r2.used() == 70 * U
    d = await r2.router.submit(buy(3, 31 * U))
    assert isinstance(d, Denial) and d.reason is Reason.DAILY_CAP
    await r2.router.close()


async def test_a_cancelled_venue_buy_is_not_adopted(store: Store) -> None:
    venue = FakeVenue()
    await venue.create_trade("m1", 0, "buy", "40", client_request_id="elsewhere")
    venue.set_trade(
        "t1",
        venue.trades["t1"].model_copy(
            update={"status": "cancelled", "error_code": "CONFIRMATION_EXPIRED"}
        ),
    )
    r = Rig(store, venue, LIMITS, SimClock(1_767_225_600.0 + 600))
    report = await r.router.recover()
    assert report.venue_spend_adopted == 0 and r.used() == 0


async def saved_approved(r: Rig, n: int, amount: int) -> Approval:
    """An intent persisted as approved whose POST went out just before a crash."""
    a = r.gate.check(buy(n, amount))
    assert isinstance(a, Approval)
    await r.store.save_intent(
        IntentRecord(
            a.intent,
            a.idempotency_key,
            a.reservation_id,
            a.daily_draw,
            a.exposure,
            APPROVED,
            updated_ts=r.clock.now(),
        ),
        r.gate.ledger.get(a.reservation_id),
    )
    return a


async def test_recovery_rides_out_a_venue_blip(store: Store) -> None:
    clock = SimClock()
    venue = FakeVenue()
    r1 = Rig(store, venue, LIMITS, clock)
    r1.router.ready = True
    a = await saved_approved(r1, 1, 25 * U)
    await venue.create_trade(
        "m1", 0, "buy", "25", client_request_id="i1", idempotency_key=a.idempotency_key
    )
    blip = DependencyUnavailable(code="DEPENDENCY_UNAVAILABLE", status=503, retry_after=30.0)
    venue.list_errors = [blip, blip]
    r2 = Rig(store, venue, LIMITS, clock)
    report = await r2.drive(r2.router.recover())
    assert report.adopted_trades == 1 and r2.router.ready
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == ACCEPTED and rec.trade_id == "t1"
    assert r2.used() == 25 * U
    await r2.router.close()


async def test_recovery_that_cannot_reach_the_venue_fails_clearly(store: Store) -> None:
    clock = SimClock()
    venue = FakeVenue()
    r1 = Rig(store, venue, LIMITS, clock)
    await saved_approved(r1, 1, 25 * U)
    blip = DependencyUnavailable(code="DEPENDENCY_UNAVAILABLE", status=503)
    venue.list_errors = [blip] * 100
    r2 = Rig(store, venue, LIMITS, clock, router_kw={"recovery_attempts": 4})
    start = clock.now()
    with pytest.raises(RecoveryError, match="i1") as info:
        await r2.drive(r2.router.recover())
    assert "DEPENDENCY_UNAVAILABLE" in str(info.value)
    assert venue.list_calls == 4
    assert clock.now() - start <= 4 * r2.router.settings.recovery_backoff_max_s  # bounded
    assert not r2.router.ready
    assert r2.used() == 25 * U  # the reservation is kept
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == APPROVED
    d = await r2.router.submit(buy(2))
    assert isinstance(d, Denial) and d.reason is Reason.NOT_READY
