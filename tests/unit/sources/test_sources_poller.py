"""Poller (fake client, virtual time), rate-limit stretching, quote -> pool, watchdog."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kashbot import amm
from kashbot.client.errors import KashError
from kashbot.client.models import Market, Outcome, Page, Prediction, Quote
from kashbot.client.ratelimit import RateLimitState
from kashbot.clock import SimClock
from kashbot.events import (
    DataFresh,
    Event,
    MarketSnapshot,
    PredictionSeen,
    PriceChange,
    QuoteSeen,
    StaleData,
)
from kashbot.money import WAD
from kashbot.sources.convert import chances_to_wad, pool_from_buy_quote
from kashbot.sources.poller import PollerConfig, PollerSource, poll_stretch
from kashbot.sources.watchdog import StalenessWatchdog

POOL = amm.buy(amm.seed_pool(1_000 * 10**6, (3 * WAD // 10, 7 * WAD // 10)), 1, 12_345_678).pool


def rl(remaining: int, limit: int = 100, **kw: Any) -> RateLimitState:
    base: dict[str, Any] = dict(
        limit=limit,
        remaining=remaining,
        reset_epoch_s=1_000.0,
        retry_after_s=None,
        status=200,
        quota_exhausted=False,
        observed_at=0.0,
    )
    base.update(kw)
    return RateLimitState(**base)


def buy_quote(pool: amm.Pool, amount: int) -> Quote:
    b = amm.buy(pool, 0, amount)
    return Quote(
        outcome_index=0,
        action="buy",
        amount_in=amount,
        tokens_out=b.tokens_out,
        reserve_after=b.pool.reserve,
        c=amm.coefficient(b.pool),
        q_after=list(amm.probabilities(b.pool)),
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, (1.0, None)),
        (rl(100), (1.0, None)),
        (rl(60), (2.0, None)),
        (rl(21), (8.0, None)),
        (rl(20), (8.0, 1_000.0)),  # at the reserve: pause until the window resets
        (rl(5, reset_epoch_s=None), (8.0, 60.0)),
        (rl(50, status=429, retry_after_s=7.0), (8.0, 7.0)),
    ],
)
def test_poll_stretch(state: RateLimitState | None, expected: tuple[float, float | None]) -> None:
    assert poll_stretch(state, 0.2, 0.0) == pytest.approx(expected)


def test_pool_recovered_exactly_from_a_buy_quote() -> None:
    pool = pool_from_buy_quote(buy_quote(POOL, 1_000_000))
    assert pool is not None
    for got, want in zip(amm.probabilities(pool), amm.probabilities(POOL), strict=True):
        assert abs(got - want) <= 10  # WAD rounding of c, nothing more
    target = 45 * WAD // 100
    exact = amm.buy_amount_to_reach(POOL, 0, target)
    assert abs(amm.buy_amount_to_reach(pool, 0, target) - exact) <= 1


def test_pool_from_quote_refuses_what_it_cannot_know() -> None:
    q = buy_quote(POOL, 1_000_000)
    assert pool_from_buy_quote(q.model_copy(update={"action": "sell"})) is None
    assert pool_from_buy_quote(q.model_copy(update={"c": None})) is None


def test_chances_to_wad_sums_exactly() -> None:
    from decimal import Decimal

    out = chances_to_wad([Decimal("0.1"), Decimal("0.2"), Decimal("0.7000000000000001")])
    assert sum(out) == WAD and abs(out[0] - WAD // 10) <= 100


class FakeClient:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.rate_limit: RateLimitState | None = None
        self.calls: list[str] = []
        self.preds: list[Prediction] = []
        self.fail_quotes = False
        self.quote_times: list[float] = []

    async def get_market(self, market_id: str) -> Market:
        self.calls.append("market")
        return Market(
            id=market_id,
            status="ACTIVE",
            outcome_count=2,
            outcomes=[
                Outcome(index=0, label="Y", probability=0.3),
                Outcome(index=1, label="N", probability=0.7),
            ],
        )

    async def list_markets(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Market]:
        raise AssertionError("not used")

    async def list_predictions(
        self, market_id: str, *, limit: int | None = None
    ) -> Page[Prediction]:
        self.calls.append("predictions")
        return Page(data=list(reversed(self.preds)), cursor=None, has_more=False)

    async def get_quote(
        self, market_id: str, outcome_index: int, action: Any, amount: int
    ) -> Quote:
        self.calls.append("quote")
        self.quote_times.append(self.clock.now())
        if self.fail_quotes:
            raise KashError("boom", code="DEPENDENCY_UNAVAILABLE", status=503)
        return buy_quote(POOL, amount)


def pred(i: int) -> Prediction:
    return Prediction(
        id=f"p{i}",
        market_id="m1",
        outcome_index=0,
        side="buy",
        usdc_in=i,
        tokens_out=1,
        probability="0.3",
    )


ONLY_MARKETS = PollerConfig(predictions_interval_s=0, quotes_interval_s=0)


async def step(clock: SimClock, n: int = 1) -> None:
    for _ in range(n):
        for _ in range(5):
            await asyncio.sleep(0)
        d = clock.next_deadline()
        if d is not None:
            clock.advance_to(d)


async def test_poller_emits_snapshots_new_trades_and_pool_by_priority() -> None:
    clock = SimClock(0.0)
    client = FakeClient(clock)
    client.preds = [pred(1)]
    events: list[Event] = []
    cfg = PollerConfig(markets_interval_s=10, predictions_interval_s=5, quotes_interval_s=15)
    poller = PollerSource(client, ["m1"], clock, cfg)
    task = asyncio.create_task(poller.run(events.append))
    await step(clock)
    assert client.calls[:3] == ["market", "predictions", "quote"]  # priority order at t=0
    client.preds += [pred(2), pred(3)]
    await step(clock, 4)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kinds = [type(e) for e in events]
    assert kinds[:3] == [MarketSnapshot, QuoteSeen, PriceChange]
    trades = [e for e in events if isinstance(e, PredictionSeen)]
    assert [t.prediction_id for t in trades] == ["p2", "p3"]  # history skipped, oldest first
    price = next(e for e in events if isinstance(e, PriceChange))
    assert price.pool is not None and price.probabilities == amm.probabilities(price.pool)
    assert sum(isinstance(e, MarketSnapshot) for e in events) == 1  # unchanged market: one event


async def test_poller_pauses_when_remaining_hits_the_reserve() -> None:
    clock = SimClock(0.0)
    client = FakeClient(clock)
    client.rate_limit = rl(10, reset_epoch_s=120.0)
    poller = PollerSource(client, ["m1"], clock, ONLY_MARKETS)
    task = asyncio.create_task(poller.run(lambda e: None))
    await step(clock)
    assert client.calls == [] and clock.now() == 120.0
    await step(clock)
    assert client.calls == ["market"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert poller.paused_s == 120.0


async def test_poller_survives_errors_and_backs_off_that_job() -> None:
    clock = SimClock(0.0)
    client = FakeClient(clock)
    client.fail_quotes = True
    cfg = PollerConfig(markets_interval_s=100, predictions_interval_s=0, quotes_interval_s=10)
    poller = PollerSource(client, ["m1"], clock, cfg)
    task = asyncio.create_task(poller.run(lambda e: None))
    await step(clock, 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert poller.errors >= 2
    assert client.quote_times[:3] == [0.0, 20.0, 40.0]  # a failed job waits twice its interval


def test_watchdog_stale_then_fresh_once() -> None:
    out: list[Event] = []
    wd = StalenessWatchdog("s", 10.0, out.append)
    wd.watch(["m1"], 0.0)
    wd.check(5.0)
    assert out == []
    wd.check(11.0)
    wd.check(12.0)
    assert {(type(e), e.market_id) for e in out} == {(StaleData, None), (StaleData, "m1")}
    assert len(out) == 2
    wd.touch("m1", 13.0)
    assert [(type(e), e.market_id) for e in out[2:]] == [(DataFresh, None), (DataFresh, "m1")]


async def test_budget_paced_poller_ignores_the_reserve_but_honours_retry_after() -> None:
    clock = SimClock(0.0)
    client = FakeClient(clock)
    client.rate_limit = rl(10, reset_epoch_s=120.0)  # under the reserve: the budget paces
    poller = PollerSource(client, ["m1"], clock, ONLY_MARKETS, budget_paced=True)
    task = asyncio.create_task(poller.run(lambda e: None))
    await step(clock)
    assert client.calls == ["market"] and clock.now() == 10.0  # next due, not the reset (120)
    client.rate_limit = rl(10, status=429, retry_after_s=7.0, observed_at=10.0)
    await step(clock)
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert client.calls == ["market", "market"] and clock.now() == 17.0
    assert poller.paused_s == 7.0  # the server's Retry-After still holds the poller
