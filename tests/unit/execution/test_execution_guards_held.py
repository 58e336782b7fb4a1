"""Before sending: intent age and the limit probability; after: held 202s, operator confirm.

An intent that waited too long (request budget, reconcile backoff) or whose limit the pool has
already crossed is not sent; a held 202 that expires gives its daily draw back (the server
refunds the cap of a trade that never executed); ``confirm_held`` reports the trade's status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import structlog
from exec_fakes import FakeVenue
from exec_rig import Rig, U, buy

from kashbot import amm
from kashbot.client.errors import ConfirmationExpired
from kashbot.events import OrderIntent, Side
from kashbot.execution.executor import ConfirmHeldError, TradeNotHeld
from kashbot.risk.limits import Limits
from kashbot.store.store import REFUSED, Store


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


# ---- intent age -------------------------------------------------------------------------------


async def test_an_intent_older_than_the_max_age_is_not_sent(store: Store) -> None:
    r = Rig(store, max_intent_age_s=10.0)
    await r.router.recover()
    await r.submit(buy(1, created_ts=r.clock.now() - 10.5))
    assert r.venue.calls == []
    assert r.denials() == ["STALE_INTENT"]
    assert r.used() == 0 and await store.load_spend() == []
    rec = await store.get_intent("i1")
    assert rec is not None and rec.status == REFUSED and "STALE_INTENT" in (rec.detail or "")
    assert r.state.pending == {}
    assert r.gate.consecutive_failures == 0  # our own delay, not a venue failure
    await r.submit(buy(2, created_ts=r.clock.now() - 9.0))
    assert len(r.venue.calls) == 1
    await r.router.close()


async def test_an_unstamped_intent_ages_from_its_approval(store: Store) -> None:
    r = Rig(store, max_intent_age_s=10.0)
    await r.router.recover()
    await r.submit(buy(1))  # created_ts 0.0: the gate's approval time counts
    assert len(r.venue.calls) == 1 and r.denials() == []
    await r.router.close()


async def test_a_resend_after_the_max_age_is_not_made(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"])
    r = Rig(store, venue, max_intent_age_s=0.25, router_kw={"reconcile_interval_s": None})
    await r.router.recover()
    await r.submit(buy(1))
    # attempt 0 re-sends at once (0 s old); later attempts come after the backoff: too old
    assert len(venue.calls) == 2 and venue.created_count() == 1
    assert r.executor.unknown_intents == []
    await r.router.close()


# ---- limit probability ------------------------------------------------------------------------

POOL = amm.seed_pool(1_000 * U)  # two outcomes at 50 %


def after_buy(amount: int) -> int:
    return amm.probability(amm.buy(POOL, 0, amount).pool, 0)


async def limit_rig(store: Store) -> Rig:
    r = Rig(store, pool_view=lambda m: (POOL, amm.DEFAULT_FEES) if m == "m1" else None)
    await r.router.recover()
    return r


async def test_a_buy_that_would_cross_its_limit_is_not_sent(store: Store) -> None:
    r = await limit_rig(store)
    q = after_buy(50 * U)
    await r.submit(buy(1, 50 * U, limit_probability=q - 1))
    assert r.venue.calls == [] and r.denials() == ["LIMIT_BREACHED"]
    assert r.used() == 0
    await r.submit(buy(2, 50 * U, limit_probability=q))
    assert len(r.venue.calls) == 1
    await r.router.close()


async def test_a_sell_that_would_cross_its_limit_is_not_sent(store: Store) -> None:
    r = await limit_rig(store)
    tokens = amm.tokens_for_payout(POOL, 0, 20 * U)
    q = amm.probability(amm.sell(POOL, 0, tokens).pool, 0)
    await r.submit(buy(1, 20 * U, side=Side.SELL, limit_probability=q + 1))
    assert r.venue.calls == [] and r.denials() == ["LIMIT_BREACHED"]
    await r.submit(buy(2, 20 * U, side=Side.SELL, limit_probability=q))
    assert len(r.venue.calls) == 1
    await r.router.close()


async def test_without_a_pool_the_limit_is_not_checked(store: Store) -> None:
    r = await limit_rig(store)
    await r.submit(OrderIntent("i1", "strat", "m2", 0, Side.BUY, 50 * U, limit_probability=1))
    assert len(r.venue.calls) == 1 and r.denials() == []
    await r.router.close()


# ---- held 202s --------------------------------------------------------------------------------


async def held_rig(store: Store) -> Rig:
    venue = FakeVenue(confirm_threshold=Decimal(25_000))
    r = Rig(store, venue, Limits.for_tier("enterprise", auto_confirm_ceiling=1_000 * U))
    await r.router.recover()
    await r.submit(buy(1, 25_000 * U))
    assert r.executor.held_trades() == ["t1"] and r.used() == 25_000 * U
    return r


async def test_an_expired_held_trade_gives_its_daily_draw_back(store: Store) -> None:
    r = await held_rig(store)
    assert await r.router.on_trade_update("t1", "cancelled", error_code="CONFIRMATION_EXPIRED")
    assert r.used() == 0 and await store.load_spend() == []
    assert r.gate.total_exposure() == 0
    assert r.state.pending == {}
    await r.router.close()


async def test_a_held_trade_failed_before_confirmation_gives_its_draw_back(store: Store) -> None:
    r = await held_rig(store)
    assert await r.router.on_trade_update("t1", "failed", error_code="CONFIRMATION_EXPIRED")
    assert r.used() == 0
    await r.router.close()


async def test_confirming_an_expired_token_gives_the_draw_back(store: Store) -> None:
    r = await held_rig(store)
    r.venue.confirm_errors = [ConfirmationExpired(code="CONFIRMATION_EXPIRED", status=409)]
    assert await r.router.confirm_held("t1") == "cancelled"
    assert r.used() == 0
    await r.router.close()


async def test_a_confirmed_trade_that_fails_keeps_its_draw(store: Store) -> None:
    r = await held_rig(store)
    assert await r.router.confirm_held("t1") == "pending"
    assert await r.router.on_trade_update("t1", "failed", error_code="EXECUTION_REVERTED")
    assert r.used() == 25_000 * U  # it left pending_confirmation: the server counted it
    await r.router.close()


async def test_confirm_held_reports_status_and_refuses_what_is_not_held(store: Store) -> None:
    r = await held_rig(store)
    assert await r.router.confirm_held("t1") == "pending"
    assert r.venue.confirms == ["t1"]
    with pytest.raises(TradeNotHeld, match="t1"):
        await r.router.confirm_held("t1")  # the token is single-use
    with pytest.raises(TradeNotHeld, match="nope"):
        await r.router.confirm_held("nope")
    await r.router.close()


async def test_confirm_held_refuses_while_halted(store: Store) -> None:
    r = await held_rig(store)
    r.gate.halt("operator")
    with pytest.raises(ConfirmHeldError, match="HALTED"):
        await r.router.confirm_held("t1")
    assert r.venue.confirms == [] and r.executor.held_trades() == ["t1"]
    await r.router.close()


# ---- logs -------------------------------------------------------------------------------------


async def test_order_logs_carry_the_usdc_amount(store: Store) -> None:
    r = Rig(store)
    await r.router.recover()
    with structlog.testing.capture_logs() as logs:
        await r.submit(buy(1, 25 * U))
    (sending,) = [e for e in logs if e["event"] == "order_sending"]
    assert sending["amount"] == 25_000_000 and sending["amount_usdc"] == "25"
    (accepted,) = [e for e in logs if e["event"] == "order_accepted"]
    assert accepted["amount_usdc"] == "25"
    await r.router.close()
