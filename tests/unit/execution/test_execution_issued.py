"""The executor sends only approvals its own gate issued and has not yet settled or released.

An ``Approval`` is sealed, but a sealed one from another gate (another process's router, a test
double) or one already spent must not reach the venue: nothing is persisted, nothing is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from exec_rig import Rig, U, buy

from kashbot.execution.executor import Executor
from kashbot.risk.gate import Approval, RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import Store


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = await Store.open(":memory:", sync=True)
    yield s
    await s.close()


def approve(gate: RiskGate, n: int) -> Approval:
    verdict = gate.check(buy(n, 10 * U))
    assert isinstance(verdict, Approval)
    return verdict


async def test_an_approval_from_another_gate_is_refused(store: Store) -> None:
    r = Rig(store)
    await r.router.recover()
    other = RiskGate(Limits.for_tier("free"), clock=r.clock)
    foreign = approve(other, 1)
    with pytest.raises(PermissionError, match="approval r-i1 was not issued by this gate"):
        await r.executor.execute(foreign)
    assert r.venue.calls == []
    assert await store.get_intent("i1") is None
    assert r.used() == 0  # nothing reserved on our ledger
    assert other.is_issued(foreign)  # the other gate's reservation is not ours to release
    await r.router.close()


async def test_a_released_approval_is_refused(store: Store) -> None:
    r = Rig(store)
    await r.router.recover()
    a = approve(r.gate, 1)
    r.gate.release(a)
    with pytest.raises(PermissionError, match="already settled"):
        await r.executor.execute(a)
    assert r.venue.calls == []
    assert await store.get_intent("i1") is None
    await r.router.close()


async def test_a_settled_approval_is_not_sent_again(store: Store) -> None:
    r = Rig(store)
    await r.router.recover()
    a = approve(r.gate, 1)
    trade_id = await r.executor.execute(a)
    assert trade_id is not None and len(r.venue.calls) == 1
    r.venue.set_status(trade_id, "completed", tokens_out=5 * 10**18)
    assert await r.router.on_trade_update(trade_id, "completed", tokens_out=5 * 10**18)
    assert not r.gate.is_issued(a)
    with pytest.raises(PermissionError):
        await r.executor.execute(a)
    assert len(r.venue.calls) == 1  # the venue saw the first send only
    await r.router.close()


async def test_an_executor_sends_only_for_its_own_gate(store: Store) -> None:
    """Two executors in one process: each refuses the other's approvals."""
    r = Rig(store)
    await r.router.recover()
    other_gate = RiskGate(Limits.for_tier("free"), clock=r.clock)
    other = Executor(r.venue, other_gate, store, clock=r.clock)
    mine = approve(r.gate, 1)
    with pytest.raises(PermissionError):
        await other.execute(mine)
    assert r.venue.calls == []
    assert await r.executor.execute(mine) is not None
    assert len(r.venue.calls) == 1
    await r.router.close()
