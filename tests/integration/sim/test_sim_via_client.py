"""The simulator through the real KashClient over 127.0.0.1 (issue 3, acceptance item 2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from kashbot import amm
from kashbot.client import KashClient, OutcomeUnknownError, RetryPolicy
from kashbot.client import errors as E
from kashbot.client.webhooks import verify
from kashbot.clock import SimClock
from kashbot.money import USDC_ONE
from kashbot.sim.embedded import SimHandle, run_sim

M2 = "610464bf-ef0e-4a59-8144-c69601eef85e"
M3 = "7c06e2e5-dd34-4334-9c82-e4fba33bff68"
FAST = {"webhooks": {"retry_time_factor": 0.002, "jitter": 0.0}}


def client(sim: SimHandle, tier: str, **kw: Any) -> KashClient:
    kw.setdefault("retry_policy", RetryPolicy(max_retries=0))
    return KashClient(sim.keys[tier].api_key, sim.base_url, **kw)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(time_scale=20, noise=False, overrides=FAST) as handle:
        yield handle


async def test_markets_pages_and_quote_equals_execution(sim: SimHandle) -> None:
    async with client(sim, "developer", api_version="2026-08-19") as c:
        page = await c.list_markets(limit=3)
        assert len(page.data) == 3 and page.has_more and page.cursor
        rest = await c.list_markets(limit=3, cursor=page.cursor)
        # three Base markets, then default.yaml's Solana and Base lifecycle markets
        assert [m.outcome_count for m in page.data + rest.data] == [2, 3, 5, 2, 2]
        assert not rest.has_more and rest.cursor is None
        market = await c.get_market(M3)
        assert sum(o.probability or 0 for o in market.outcomes) == pytest.approx(1)

        q = await c.get_quote(M3, 1, "buy", 37_123_457)
        created = await c.create_trade(M3, 1, "buy", Decimal("37.123457"))
        assert created.status_code == 201 and created.trade.status == "pending"
        await sim.wait_for_trade(created.trade.id)
        done = await c.get_trade(created.trade.id)
        assert done.status == "completed" and done.tokens_out == q.tokens_out
        assert list(amm.probabilities(sim.venue.markets[M3].pool)) == q.q_after

        tokens = amm.tokens_for_payout(sim.venue.markets[M3].pool, 1, 10 * USDC_ONE)
        sq = await c.get_quote(M3, 1, "sell", tokens)
        sold = await c.create_trade(M3, 1, "sell", "10")
        t = await sim.wait_for_trade(sold.trade.id)
        assert t.tokens_in == tokens and t.payout == sq.usdc_out
        preds = await c.list_predictions(M3)
        assert [p.side for p in preds.data[:2]] == ["sell", "buy"]


async def test_free_key_gets_429_with_retry_after_on_the_61st_read() -> None:
    clock = SimClock()  # every request lands in the same virtual instant: one "minute"
    async with run_sim(clock=clock, noise=False) as sim, client(sim, "free") as c:
        for _ in range(60):
            await c.get_market(M2)
        assert c.rate_limit is not None and c.rate_limit.remaining == 0
        with pytest.raises(E.RateLimitExceeded) as err:
            await c.get_market(M2)
        assert err.value.status == 429 and err.value.retry_after == 60
        await sim.advance(60)
        await c.get_market(M2)


async def test_caps_answer_409_with_the_right_cap_and_sells_skip_the_daily_cap(
    sim: SimHandle,
) -> None:
    async with client(sim, "free") as c:
        with pytest.raises(E.SpendingLimitExceeded) as err:
            await c.create_trade(M2, 0, "buy", "500.000001")
        assert err.value.status == 409 and err.value.cap == "per_trade"
        for _ in range(2):
            created = await c.create_trade(M2, 0, "buy", "500")
            await sim.wait_for_trade(created.trade.id)
        with pytest.raises(E.SpendingLimitExceeded) as err:
            await c.create_trade(M2, 0, "buy", "1")
        assert err.value.cap == "daily_volume"
        sold = await c.create_trade(M2, 0, "sell", "250")
        assert (await sim.wait_for_trade(sold.trade.id)).status == "completed"
        with pytest.raises(E.InsufficientBalance):
            await c.create_trade(M2, 1, "sell", "1")  # no position in outcome 1


async def test_mm_threshold_trade_waits_for_confirm(sim: SimHandle) -> None:
    async with client(sim, "mm") as c:
        created = await c.create_trade(M2, 0, "buy", "50000", idempotency_key="mm-big-1")
        assert created.status_code == 202 and created.confirmation is not None
        assert created.trade.status == "pending_confirmation"
        await asyncio.sleep(0.1)  # lifecycle at time scale 20 would have finished by now
        assert (await c.get_trade(created.trade.id)).status == "pending_confirmation"
        replay = await c.create_trade(M2, 0, "buy", "50000", idempotency_key="mm-big-1")
        assert replay.idempotent_replay and replay.status_code == 202
        assert replay.confirmation and replay.confirmation.token == created.confirmation.token
        confirmed = await c.confirm_trade(created.trade.id, created.confirmation.token)
        assert confirmed.status == "pending"
        assert (await sim.wait_for_trade(created.trade.id)).status == "completed"
        after = await c.create_trade(M2, 0, "buy", "50000", idempotency_key="mm-big-1")
        assert after.status_code == 200 and after.idempotent_replay


async def test_expired_confirmation_token_fails_the_trade() -> None:
    clock = SimClock()
    async with run_sim(clock=clock, noise=False) as sim, client(sim, "mm") as c:
        created = await c.create_trade(M2, 1, "buy", "50000")
        assert created.confirmation is not None
        await sim.advance(61)
        trade = await c.get_trade(created.trade.id)
        assert (trade.status, trade.error_code) == ("failed", "CONFIRMATION_EXPIRED")
        with pytest.raises(E.TradeNotAwaitingConfirmation):
            await c.confirm_trade(created.trade.id, created.confirmation.token)


async def test_idempotency_key_replays_and_conflicts(sim: SimHandle) -> None:
    async with client(sim, "developer") as c:
        a = await c.create_trade(
            M2, 0, "buy", "12.5", idempotency_key="idem-1", metadata={"strategy": "s1"}
        )
        b = await c.create_trade(
            M2, 0, "buy", "12.5", idempotency_key="idem-1", metadata={"strategy": "s1"}
        )
        assert b.idempotent_replay and not a.idempotent_replay and b.trade.id == a.trade.id
        with pytest.raises(E.IdempotencyKeyConflict):
            await c.create_trade(M2, 0, "buy", "13", idempotency_key="idem-1")
        assert len(sim.venue.trades) == 1


async def test_lost_response_is_outcome_unknown_and_replay_finds_the_trade(sim: SimHandle) -> None:
    sim.arm_fault("lost_response", routes=["POST /v1/trades"], count=1)
    async with client(sim, "developer", max_retries=0) as c:
        with pytest.raises(OutcomeUnknownError) as err:
            await c.create_trade(M2, 1, "buy", "3")
        assert len(sim.venue.trades) == 1  # it executed; only the answer was lost
        replay = await c.replay_trade(err.value)
        assert replay.idempotent_replay
        assert replay.trade.id == next(iter(sim.venue.trades))


async def test_kill_switches_and_halts(sim: SimHandle) -> None:
    sim.arm_fault(
        "route_disabled", routes=["GET /v1/markets/{id}/quote"], count=1, flag="api-quotes-read"
    )
    sim.arm_fault("trade_halt", count=1)
    async with client(sim, "developer") as c:
        with pytest.raises(E.RouteDisabled) as err:
            await c.get_quote(M2, 0, "buy", USDC_ONE)
        assert err.value.flag == "api-quotes-read" and err.value.retry_after == 60
        with pytest.raises((E.ApiTradeProcessingHalted, OutcomeUnknownError)):
            await c.create_trade(M2, 0, "buy", "1")
        assert not sim.venue.trades  # the halt refused it before anything was created
        await c.get_market(M2)  # reads keep working


class Receiver:
    """A webhook endpoint on 127.0.0.1 that fails the first ``fail`` deliveries with 503."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        if len(self.got) <= self.fail:
            return web.Response(status=503)
        return web.Response(status=200)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_webhooks_verify_and_retry_on_5xx(sim: SimHandle) -> None:
    async with Receiver(fail=2) as rx, client(sim, "developer") as c:
        secret = sim.set_webhook("developer", rx.url)
        assert secret is not None
        created = await c.create_trade(M2, 0, "buy", "5", metadata={"intent": "i-1"})
        await sim.wait_until(lambda: len(rx.got) >= 3)
        ids = {h["X-Kash-Event-Id"] for h, _ in rx.got}
        assert len(ids) == 1  # the same event, retried after two 503s
        for headers, body in rx.got:
            verify(secret, headers["X-Kash-Signature"], body)
        events = await c.list_webhook_events()
        assert events.data[0].status == "delivered"
        trade = await c.get_trade(created.trade.id)
        assert trade.webhook_delivery is not None and trade.webhook_delivery.attempts == 3
        assert b'"intent":"i-1"' in rx.got[-1][1]
