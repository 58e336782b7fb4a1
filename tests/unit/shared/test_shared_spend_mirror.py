"""SharedSpend's bookkeeping without Redis: what the gate's hook queues, and the admit rules.

A recording stand-in replaces the ledger here; the sharing itself is tested on a real
redis-server in tests/integration/shared/test_shared_spend_router.py.
"""

from __future__ import annotations

from typing import Any

from kashbot.clock import SimClock
from kashbot.events import OrderIntent, Side
from kashbot.execution.shared_spend import SharedSpend
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval, Reason, RiskGate
from kashbot.risk.ledger import SpendEntry
from kashbot.risk.limits import Limits
from kashbot.shared import SharedStateConfig, SharedStateUnavailable

U = USDC_ONE


class Recording:
    """Answers like a RedisSpendLedger and records the calls (down: every call raises)."""

    window_s = 86_400.0

    def __init__(self, *, grant: bool = True, down: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.grant, self.down = grant, down
        self.redis = self

    async def command(self, what: str, *args: Any) -> Any:
        return await self._do("ping")

    async def _do(self, *call: Any) -> Any:
        if self.down:
            raise SharedStateUnavailable("down")
        self.calls.append(call)
        return self.grant

    async def reserve_within_cap(
        self, rid: str, amount: int, cap: int, now: float, lease: float
    ) -> bool:
        return bool(await self._do("reserve", rid, amount, cap))

    async def commit(self, rid: str, now: float, amount: int) -> None:
        await self._do("commit", rid, amount)

    async def release(self, rid: str) -> None:
        await self._do("release", rid)


def _setup(**kw: Any) -> tuple[RiskGate, SharedSpend, Recording]:
    led = Recording(**kw)
    cfg = SharedStateConfig.model_validate({"url": "redis://127.0.0.1:1/0"})
    shared = SharedSpend(led, cfg)  # type: ignore[arg-type]
    gate = RiskGate(Limits.for_tier("developer"), clock=SimClock(1000.0))
    gate.spend_mirror = shared
    return gate, shared, led


def _approve(gate: RiskGate, iid: str, side: Side = Side.BUY) -> Approval:
    v = gate.check(OrderIntent(iid, "s", "m", 0, side, 10 * U))
    assert isinstance(v, Approval)
    return v


def _queued(shared: SharedSpend) -> list[tuple[str, bool]]:
    q = shared._ops._queue  # type: ignore[attr-defined]
    return [(op.entry_id, op.entry is not None) for op in q]


async def test_buys_reserve_and_mirror_sells_do_not() -> None:
    gate, shared, led = _setup()
    buy, sell = _approve(gate, "b"), _approve(gate, "s", Side.SELL)
    assert await shared.admit(buy, 100 * U) is None
    assert await shared.admit(sell, 100 * U) is None  # a ping only: sells draw no cap
    assert led.calls == [("reserve", "r-b", 10 * U, 100 * U), ("ping",)]
    gate.commit(buy)
    gate.commit(sell)
    assert _queued(shared) == [("r-b", True)]
    gate.release_draw("r-b")  # refunded: the shared draw comes back too
    assert _queued(shared) == [("r-b", True), ("r-b", False)]


async def test_refused_or_unreachable_is_a_reason_and_nothing_is_queued() -> None:
    gate, shared, _ = _setup(grant=False)
    a = _approve(gate, "x")
    why = await shared.admit(a, 100 * U)
    assert why is not None and why[0] is Reason.DAILY_CAP_SHARED
    gate.release(a)  # never held on Redis: nothing to release there
    assert _queued(shared) == []
    gate, shared, _ = _setup(down=True)
    for side in (Side.BUY, Side.SELL):
        why = await shared.admit(_approve(gate, f"y{side}", side), 100 * U)
        assert why is not None and why[0] is Reason.SHARED_STATE_UNAVAILABLE


async def test_sells_pass_an_outage_when_configured() -> None:
    led = Recording(down=True)
    cfg = SharedStateConfig.model_validate(
        {
            "url": "redis://127.0.0.1:1/0",
            "sells_when_unavailable": True,
            "budget_fallback_share": 0.2,
        }
    )
    shared = SharedSpend(led, cfg)  # type: ignore[arg-type]
    gate = RiskGate(Limits.for_tier("developer"), clock=SimClock(1000.0))
    assert await shared.admit(_approve(gate, "s", Side.SELL), 100 * U) is None


def test_recovery_puts_committed_draws_back_and_follows_open_ones() -> None:
    gate, shared, _ = _setup()
    gate.restore_spend(
        [
            SpendEntry("r-done", 5 * U, 900.0, committed=True),
            SpendEntry("r-open", 7 * U, 950.0, committed=False),
            SpendEntry("r-sell", 0, 950.0, committed=True),
        ],
        1000.0,
    )
    assert _queued(shared) == [("r-done", True)]
    gate.release_draw("r-open")  # abandoned at recovery: release it on Redis too
    gate.commit_recovered("r-new", 3 * U, 1000.0)
    assert _queued(shared)[1:] == [("r-open", False), ("r-new", True)]
    gate.adopt_spend("v-t1", 4 * U, 990.0)  # another daemon's buy: it recorded it itself
    assert len(_queued(shared)) == 3


def test_a_restart_does_not_put_adopted_buys_on_the_shared_ledger_again() -> None:
    """Adopted entries (another daemon's or a human's buy, ``v-<trade id>``) are stored like our
    own; at a restart only our own go back to Redis, or the maker's buy would count twice."""
    gate, shared, _ = _setup()
    gate.restore_spend(
        [
            SpendEntry("r-mine", 5 * U, 900.0, committed=True),
            SpendEntry("v-theirs", 10 * U, 950.0, committed=True),
        ],
        1000.0,
    )
    assert _queued(shared) == [("r-mine", True)]
    assert gate.ledger.used(1000.0) == 15 * U  # the local gate still counts both
