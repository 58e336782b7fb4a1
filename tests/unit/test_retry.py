"""kashbot.retry: the one backoff policy reproduces every loop's old delays exactly."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from kashbot.clock import SimClock
from kashbot.retry import Backoff, retrying

T = TypeVar("T")


def test_full_jitter_matches_the_transport_and_stream_formula() -> None:
    # client/transport.py and sources/stream.py: uniform(0, min(cap, base * 2**n)), n from 0
    for base, cap in ((0.2, 10.0), (0.5, 30.0), (1.0, 3.0), (0.01, 0.05), (0, 10.0)):
        policy = Backoff(base, cap, jitter="full")
        old_rng, new_rng = random.Random(7), random.Random(7)
        for n in range(40):
            old = old_rng.uniform(0.0, min(cap, base * (2**n)))
            assert policy.delay(n, new_rng) == old


def test_capped_matches_the_supervisor_and_router_formula() -> None:
    # engine/supervisor.py: min(max, initial * 2**max(0, failures - 1)), failures from 1;
    # execution/router.py: min(max, backoff * 2**(attempt - 1)), attempt from 1
    for initial, cap in ((0.5, 30.0), (1.0, 3.0), (1, 30), (0.25, 2.0)):
        policy = Backoff(initial, cap)
        for failures in range(0, 60):
            old = float(min(cap, initial * (2 ** max(0, failures - 1))))
            assert policy.delay(failures - 1) == old


def test_uncapped_matches_the_executor_formula() -> None:
    # execution/executor.py: backoff_s * 2**(attempt - 1), no cap, attempt from 1
    for backoff_s in (1.0, 0.3, 0.01):
        policy = Backoff(backoff_s)
        for attempt in range(1, 60):
            assert policy.delay(attempt - 1) == backoff_s * 2 ** (attempt - 1)


def test_other_factors() -> None:
    policy = Backoff(10, 50, factor=3)
    assert [policy.delay(n) for n in range(4)] == [10.0, 30.0, 50.0, 50.0]


def test_a_huge_retry_count_waits_the_cap_instead_of_overflowing() -> None:
    assert Backoff(0.5, 30.0).delay(5000) == 30.0
    assert Backoff(0.5).delay(5000) == float("inf")
    d = Backoff(0.5, 30.0, jitter="full").delay(5000, random.Random(1))
    assert 0.0 <= d <= 30.0


def test_full_jitter_needs_an_rng() -> None:
    with pytest.raises(ValueError, match="rng"):
        Backoff(1.0, 2.0, jitter="full").delay(0)


async def test_retrying_sleeps_on_the_clock_between_failures() -> None:
    clock = SimClock(0.0)
    calls: list[float] = []
    failures: list[tuple[int, str]] = []

    async def flaky() -> str:
        calls.append(clock.now())
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return "ok"

    async def run() -> str:
        return await retrying(
            flaky,
            Backoff(1.0, 1.5),
            clock,
            5,
            retry_on=ConnectionError,
            on_failure=lambda n, e: failures.append((n, str(e))),
        )

    result = await _drive(clock, run())
    assert result == "ok"
    assert calls == [0.0, 1.0, 2.5]
    assert failures == [(1, "try 1"), (2, "try 2")]


async def test_retrying_reraises_the_last_failure_and_reports_every_one() -> None:
    clock = SimClock(0.0)
    failures: list[int] = []

    async def broken() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError, match="down"):
        await _drive(
            clock,
            retrying(broken, Backoff(1.0), clock, 3, on_failure=lambda n, e: failures.append(n)),
        )
    assert failures == [1, 2, 3]
    assert clock.now() == 3.0  # waited 1 then 2


async def test_retrying_does_not_retry_other_errors() -> None:
    clock = SimClock(0.0)
    calls = 0

    async def wrong() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await retrying(wrong, Backoff(1.0), clock, 3, retry_on=ConnectionError)
    assert calls == 1


async def test_retrying_needs_an_attempt() -> None:
    async def never() -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="attempts"):
        await retrying(never, Backoff(1.0), SimClock(0.0), 0)


async def _drive(clock: SimClock, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``, jumping the virtual clock to each sleeper's deadline."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        await asyncio.sleep(0)
        deadline = clock.next_deadline()
        if deadline is not None:
            clock.advance_to(deadline)
    return task.result()
