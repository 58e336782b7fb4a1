"""UserBudget in virtual loop time: no sliding window ever overflows, ≥90 % use, priorities."""

from __future__ import annotations

import asyncio
from bisect import bisect_left

import pytest

from kashbot.client.ratelimit import RateLimitState
from kashbot.client.request_budget import (
    BudgetRegistry,
    UserBudget,
    max_budget_share,
    safe_burst,
    tier_requests_per_min,
)
from kashbot.vtime import run_virtual


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The largest number of events in any half-open window of ``window`` seconds."""
    ts = sorted(times)
    return max((bisect_left(ts, t + window) - i for i, t in enumerate(ts)), default=0)


async def hammer(
    budget: UserBudget, until: float, out: list[float], *, write: bool = False
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await budget.acquire("GET /v1/markets", write=write)
        if loop.time() >= until:
            return
        out.append(loop.time())


def state(
    status: int,
    *,
    remaining: int | None = None,
    reset: float | None = None,
    retry_after: float | None = None,
    exhausted: bool = False,
) -> RateLimitState:
    return RateLimitState(
        limit=60,
        remaining=remaining,
        reset_epoch_s=reset,
        retry_after_s=retry_after,
        status=status,
        quota_exhausted=exhausted,
        observed_at=1000.0,
    )


def test_burst_keeps_every_window_under_the_limit() -> None:
    assert safe_burst(60, 57.0) == 2
    assert safe_burst(60, 54.0) == 5
    assert safe_burst(5, 5.0) == 1


@pytest.mark.parametrize("share", [0.9, 0.95])
def test_sustained_free_key_load_two_minutes(share: float) -> None:
    async def main() -> list[float]:
        budget = UserBudget(60, share=share)
        times: list[float] = []
        await asyncio.gather(*(hammer(budget, 120.0, times) for _ in range(8)))
        return times

    times = run_virtual(main())
    assert max_in_window(times) < 60
    assert len(times) >= 0.9 * 120  # at least 90 % of the server's 120 requests in 2 minutes


def test_two_engines_sharing_a_user_stay_within_its_quota() -> None:
    async def main() -> tuple[list[float], list[float]]:
        reg = BudgetRegistry()
        a = reg.get("user-1", tier="free")
        b = reg.get("user-1", tier="free")
        assert a is b
        ta: list[float] = []
        tb: list[float] = []
        await asyncio.gather(
            *(hammer(a, 180.0, ta) for _ in range(4)), *(hammer(b, 180.0, tb) for _ in range(4))
        )
        return ta, tb

    ta, tb = run_virtual(main())
    assert max_in_window(ta + tb) < 60
    assert len(ta) > 30 and len(tb) > 30  # both engines made progress


def test_writes_never_starve_behind_polling() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = UserBudget(60)
        reads: list[float] = []
        pollers = [asyncio.create_task(hammer(budget, 100.0, reads)) for _ in range(10)]
        waits: list[float] = []
        for _ in range(5):
            await asyncio.sleep(10.0)
            t0 = loop.time()
            await budget.acquire("POST /v1/trades", write=True)
            waits.append(loop.time() - t0)
        await asyncio.gather(*pollers)
        return waits

    waits = run_virtual(main())
    assert max(waits) <= 60.0 / 57 + 1e-6  # at most one token's refill time, even under load


def test_429_pauses_everyone_until_retry_after() -> None:
    async def main() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        budget = UserBudget(60)
        times: list[float] = []
        await budget.acquire("GET /v1/markets", write=False)
        budget.observe(state(429, retry_after=7.0, exhausted=True))
        paused_at = loop.time()
        await asyncio.gather(hammer(budget, 20.0, times), hammer(budget, 20.0, times, write=True))
        return times, paused_at

    times, paused_at = run_virtual(main())
    assert min(times) >= paused_at + 7.0


def test_remaining_zero_pauses_until_reset_and_503_is_ignored() -> None:
    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        budget = UserBudget(60)
        budget.observe(state(503, retry_after=1.0))  # RATE_LIMIT_UNAVAILABLE: not quota
        t0 = loop.time()
        await budget.acquire("GET /v1/markets", write=False)
        no_pause = loop.time() - t0
        budget.observe(state(200, remaining=0, reset=1012.0))
        t1 = loop.time()
        await budget.acquire("GET /v1/markets", write=False)
        return no_pause, loop.time() - t1, budget.stats().quota_rejections

    no_pause, paused, rejections = run_virtual(main())
    assert no_pause == 0.0
    assert paused >= 12.0
    assert rejections == 0


def test_separate_write_bucket_and_stats() -> None:
    async def main() -> tuple[list[float], list[float], int]:
        budget = UserBudget(60, write_requests_per_min=60)
        r: list[float] = []
        w: list[float] = []
        await asyncio.gather(hammer(budget, 60.0, r), hammer(budget, 60.0, w, write=True))
        return r, w, budget.stats().used_last_window

    r, w, used = run_virtual(main())
    assert max_in_window(r) < 60 and max_in_window(w) < 60
    assert len(r) > 50 and len(w) > 50  # each bucket gets its own quota
    assert used > 0


def test_server_reports_a_smaller_limit() -> None:
    async def main() -> list[float]:
        budget = UserBudget(300)
        budget.observe(RateLimitState(60, 59, None, None, 200, False, 0.0))
        assert budget.limit == 60
        times: list[float] = []
        await hammer(budget, 120.0, times)
        return times

    assert max_in_window(run_virtual(main())) < 60


def test_tier_quota_defaults() -> None:
    assert tier_requests_per_min("free") == 60
    assert tier_requests_per_min("developer") == 300
    assert tier_requests_per_min("mm", 6000) == 6000
    with pytest.raises(ValueError, match="requests_per_min"):
        tier_requests_per_min("enterprise")


@pytest.mark.parametrize("limit", [3, 20, 60, 300, 6000])
def test_largest_share_keeps_burst_plus_rate_under_the_limit(limit: int) -> None:
    most = max_budget_share(limit)
    budget = UserBudget(limit, share=most)
    stats = budget.stats()
    assert budget._main.burst + stats.budget < limit
    with pytest.raises(ValueError, match="share"):
        UserBudget(limit, share=min(1.0, most + 1e-3))


def test_full_share_of_a_free_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.9667"):
        UserBudget(60, share=1.0)  # burst would clamp to 1: 1 + 60 > 60


def test_shrunk_limit_clamps_the_share() -> None:
    async def main() -> UserBudget:
        budget = UserBudget(300, share=0.95)
        budget.observe(RateLimitState(20, 19, None, None, 200, False, 0.0))
        return budget

    budget = run_virtual(main())
    assert budget.limit == 20
    assert budget._main.burst + budget._main.rate_per_window < 20
