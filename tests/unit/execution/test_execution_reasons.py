"""The executor's own denials are gate ``Reason`` codes: one log line, one ``RiskDenied``, and
they show in the gate's ``recent_denials`` and the router's status view like the gate's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exec_fakes import FakeVenue
from exec_rig import Rig, U, buy
from structlog.testing import capture_logs

from kashbot import amm
from kashbot.risk.gate import Reason
from kashbot.store.store import Store

EXECUTOR_REASONS = ("STALE_INTENT", "LIMIT_BREACHED", "OUTCOME_NOT_FOUND", "FOLLOW_TIMEOUT")


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


def test_the_executor_reasons_are_stable_gate_codes() -> None:
    for code in EXECUTOR_REASONS:
        assert Reason(code).value == code


def seen(r: Rig, intent_id: str) -> list[tuple[str, str]]:
    """(reason, where) for the intent, from the gate's memory and the router's status view."""
    status = r.router.status()["recent_denials"]
    assert isinstance(status, list)
    return [
        (str(d.reason), "gate") for d in r.gate.recent_denials if d.intent.intent_id == intent_id
    ] + [(reason, "status") for i, reason, _ in status if i == intent_id]


async def test_stale_intent_is_a_gate_denial(store: Store) -> None:
    r = Rig(store, max_intent_age_s=10.0)
    await r.router.recover()
    with capture_logs() as logs:
        await r.submit(buy(1, created_ts=r.clock.now() - 11.0))
    assert seen(r, "i1") == [("STALE_INTENT", "gate"), ("STALE_INTENT", "status")]
    assert [x["reason"] for x in logs if x["event"] == "risk_denied"] == ["STALE_INTENT"]
    line = next(x for x in logs if x["event"] == "risk_denied")
    assert line["amount_usdc"] == "10"
    assert r.denials() == ["STALE_INTENT"]  # one event
    await r.router.close()


async def test_limit_breached_is_a_gate_denial(store: Store) -> None:
    pool = amm.seed_pool(1_000 * U)
    r = Rig(store, pool_view=lambda m: (pool, amm.DEFAULT_FEES))
    await r.router.recover()
    await r.submit(buy(1, 50 * U, limit_probability=amm.probability(pool, 0)))
    assert seen(r, "i1") == [("LIMIT_BREACHED", "gate"), ("LIMIT_BREACHED", "status")]
    assert r.denials() == ["LIMIT_BREACHED"] and r.venue.calls == []
    await r.router.close()


async def test_outcome_not_found_is_a_gate_denial(store: Store) -> None:
    venue = FakeVenue(faults=["lost_before_create"] * 10)
    r = Rig(
        store,
        venue,
        router_kw={"reconcile_interval_s": 5.0},
        max_intent_age_s=4.0,
        unknown_settle_s=60.0,
    )
    await r.router.recover()
    await r.submit(buy(1))
    await r.run_for(70.0)
    assert seen(r, "i1") == [("OUTCOME_NOT_FOUND", "gate"), ("OUTCOME_NOT_FOUND", "status")]
    assert r.denials() == ["OUTCOME_NOT_FOUND"]
    await r.router.close()


async def test_follow_timeout_is_a_gate_denial(store: Store) -> None:
    r = Rig(store, router_kw={"reconcile_interval_s": 20.0}, max_follow_s=100.0)
    await r.router.recover()
    await r.submit(buy(1))
    await r.run_for(150.0)
    assert seen(r, "i1") == [("FOLLOW_TIMEOUT", "gate"), ("FOLLOW_TIMEOUT", "status")]
    assert r.denials() == ["FOLLOW_TIMEOUT"]
    await r.router.close()
