"""``create_trade(not_after=...)``: the deadline is checked after the request budget's wait and
before every attempt. Nothing sent yet → ``RequestDeadlineExceeded`` (the venue never saw it);
an earlier attempt that may have landed → ``OutcomeUnknownError`` (reconcile), never "not sent".
The real KashClient against the simulator on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kash_sim_support import M2, VirtualSleepClock, WireTap, statuses

from kashbot.client import KashClient, RateLimitState, RetryPolicy
from kashbot.client import errors as E
from kashbot.sim.embedded import SimHandle

TRADES = "POST /v1/trades"


class SlowBudget:
    """Each ``acquire`` takes the next wait from ``waits`` (0 when they run out) by moving the
    client's clock forward, as a long rate-limit pause would."""

    def __init__(self, clock: VirtualSleepClock, waits: list[float]) -> None:
        self.clock = clock
        self.waits = waits
        self.acquired = 0

    async def acquire(self, route: str, *, write: bool) -> None:
        self.acquired += 1
        if self.waits:
            self.clock.skew_s += self.waits.pop(0)

    def observe(self, state: RateLimitState) -> None:
        pass


async def test_a_budget_wait_past_the_deadline_sends_nothing(
    sim: SimHandle, tap: WireTap, clock: VirtualSleepClock, make_client: Callable[..., KashClient]
) -> None:
    budget = SlowBudget(clock, [120.0])
    async with make_client(budget=budget) as kash:
        with pytest.raises(E.RequestDeadlineExceeded) as info:
            await kash.create_trade(M2, 0, "buy", "3", not_after=clock.now() + 10.0)
    err = info.value
    assert isinstance(err, E.KashError) and not isinstance(err, E.OutcomeUnknownError)
    assert err.code == "CLIENT_DEADLINE_EXCEEDED" and not err.retryable and err.sent is False
    assert budget.acquired == 1
    assert tap.calls("POST", "/v1/trades") == [] and statuses(sim, TRADES) == []
    assert not sim.venue.trades


async def test_a_refused_attempt_then_the_deadline_is_still_not_sent(
    sim: SimHandle, clock: VirtualSleepClock, make_client: Callable[..., KashClient]
) -> None:
    """A 429 is refused before the handler runs: the venue has not acted on anything yet."""
    sim.arm_fault("rate_limit_storm", routes=[TRADES], count=1, retry_after=1)
    budget = SlowBudget(clock, [0.0, 120.0])
    async with make_client(budget=budget) as kash:
        with pytest.raises(E.RequestDeadlineExceeded):
            await kash.create_trade(M2, 0, "buy", "3", not_after=clock.now() + 10.0)
    assert statuses(sim, TRADES) == [429] and not sim.venue.trades


async def test_a_retry_after_a_drop_past_the_deadline_is_outcome_unknown(
    sim: SimHandle, tap: WireTap, clock: VirtualSleepClock, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("drop_connection", routes=[TRADES], count=1)
    budget = SlowBudget(clock, [0.0, 120.0])  # the first attempt goes out, the retry waits
    async with make_client(budget=budget) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(M2, 0, "buy", "3", not_after=clock.now() + 10.0)
        err = info.value
        assert not isinstance(err, E.RequestDeadlineExceeded)
        assert isinstance(err.cause, E.KashNetworkError)
        (sent,) = tap.calls("POST", "/v1/trades")  # the retry was not written
        assert err.idempotency_key == sent.headers["Idempotency-Key"] and err.body == sent.body
        assert budget.acquired == 2
        replay = await kash.replay_trade(err)  # reconciling is not bound by the deadline
    assert list(sim.venue.trades) == [replay.trade.id]


async def test_a_deadline_not_yet_passed_sends_normally(
    sim: SimHandle, clock: VirtualSleepClock, make_client: Callable[..., KashClient]
) -> None:
    budget = SlowBudget(clock, [5.0])
    async with make_client(budget=budget, retry_policy=RetryPolicy(max_retries=0)) as kash:
        created = await kash.create_trade(M2, 0, "buy", "3", not_after=clock.now() + 10.0)
    assert list(sim.venue.trades) == [created.trade.id]
