"""Router + executor + budget through the real KashClient against the simulator (run_sim).

* a strategy-sized burst above the caps never reaches the venue's 409 (the gate stops it) and
  the venue's ground truth shows no cap exceeded; trades end by signed webhooks;
* a lost response (sim fault) is reconciled with no duplicate trade;
* sustained load at a free key's limit for 2 minutes of *virtual loop time* (the whole stack —
  simulator, client, budget — on a VirtualTimeLoop, the simulator on a LoopClock) gets zero
  429s while using ≥ 90 % of the quota; two engines of one user together stay within it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kashbot.client import KashClient
from kashbot.client.request_budget import BudgetRegistry
from kashbot.client.webhooks import WebhookSignatureError, construct_event
from kashbot.clock import WallClock
from kashbot.events import Event, OrderIntent, RiskDenied, Side, TradeUpdate
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval, Denial, Reason, RiskGate
from kashbot.risk.limits import Limits
from kashbot.sim.embedded import SimHandle, run_sim
from kashbot.store.store import ACCEPTED, Store
from kashbot.vtime import LoopClock, run_virtual

U = USDC_ONE
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"
# Real seconds the virtual loop waits for loopback I/O before jumping to the next timer. The
# simulator's webhook deliverer ticks every 50 ms of loop time, so a missed wake-up costs at most
# that much virtual time (well inside the budget's one-request margin), never a client timeout.
GRACE_S = 0.0005


class Receiver:
    """A minimal signed-webhook endpoint feeding the router (the engine has the real one)."""

    def __init__(self, secret: str, router: OrderRouter) -> None:
        self.secret = secret
        self.router = router
        self.seen: set[str] = set()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = construct_event(self.secret, request.headers.get("X-Kash-Signature", ""), body)
        except WebhookSignatureError:
            return web.Response(status=401)
        if event.id not in self.seen:
            self.seen.add(event.id)
            d = event.data
            await self.router.on_trade_update(
                d.trade_id, d.status, tokens_out=d.tokens_out, error_code=d.error_code
            )
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(time_scale=20, noise=False) as handle:
        yield handle


async def make_router(
    sim: SimHandle, client: KashClient, tmp_path: Path, limits: Limits
) -> tuple[OrderRouter, list[Event], Store]:
    events: list[Event] = []
    store = await Store.open(tmp_path / "bot.db")
    clock = WallClock()
    gate = RiskGate(limits, clock=clock, emit=events.append)
    executor = Executor(
        client,
        gate,
        store,
        clock=clock,
        emit=events.append,
        settings=ExecutionSettings(poll_after_s=2.0, poll_interval_s=0.5, reconcile_backoff_s=0.05),
    )
    router = OrderRouter(gate, client, store, emit=events.append, clock=clock, executor=executor)
    await router.recover()
    return router, events, store


def statuses(events: list[Event], trade_id: str) -> list[str]:
    return [e.status for e in events if isinstance(e, TradeUpdate) and e.trade_id == trade_id]


async def test_burst_above_caps_never_meets_a_409(sim: SimHandle, tmp_path: Path) -> None:
    key = sim.keys["free"]
    budget = BudgetRegistry().get(key.user_id, tier="free")
    async with KashClient(key.api_key, sim.base_url, budget=budget) as client:
        router, events, store = await make_router(sim, client, tmp_path, Limits.for_tier("free"))
        assert key.webhook_secret is not None
        receiver = Receiver(key.webhook_secret, router)
        await receiver.start()
        sim.set_webhook("free", receiver.url, key.webhook_secret)
        try:
            intents = [
                OrderIntent(f"burst-{n}", "fv", MARKET, n % 2, Side.BUY, 300 * U) for n in range(10)
            ]
            intents.append(OrderIntent("big", "fv", MARKET, 0, Side.BUY, 600 * U))
            verdicts = await asyncio.gather(*(router.submit(i) for i in intents))
            approved = [v for v in verdicts if isinstance(v, Approval)]
            denied = [v for v in verdicts if isinstance(v, Denial)]
            assert len(approved) == 3  # 3 × 300 ≤ 1,000 < 4 × 300
            assert {d.reason for d in denied} == {Reason.DAILY_CAP, Reason.PER_TRADE_CAP}
            assert len([e for e in events if isinstance(e, RiskDenied)]) == len(denied)

            ks = sim.venue.find_key("free")
            assert ks.volume.used(sim.venue.clock.now()) == 900 * U <= ks.daily_cap
            codes = [r.get("code") for r in sim.venue.requests]
            assert "SPENDING_LIMIT_EXCEEDED" not in codes
            assert ks.rate_rejections == []
            ours = [t for t in sim.venue.trades.values() if t.key_id == ks.id]
            assert len(ours) == 3

            async def all_completed() -> None:
                while any(statuses(events, t.id)[-1:] != ["completed"] for t in ours):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(all_completed(), 10.0)
            assert router.executor.open_trades() == []
            assert len(receiver.seen) >= 3  # completions arrived as signed webhooks
        finally:
            await router.close()
            await receiver.stop()
            await store.close()


async def test_lost_response_is_reconciled_without_duplicate(
    sim: SimHandle, tmp_path: Path
) -> None:
    key = sim.keys["developer"]
    async with KashClient(key.api_key, sim.base_url, max_retries=0) as client:
        router, _, store = await make_router(sim, client, tmp_path, Limits.for_tier("developer"))
        try:
            sim.arm_fault("lost_response", routes=["POST /v1/trades"], count=1)
            v = await router.submit(OrderIntent("lost-1", "fv", MARKET, 0, Side.BUY, 50 * U))
            assert isinstance(v, Approval)
            mine = [t for t in sim.venue.trades.values() if t.client_request_id == "lost-1"]
            assert len(mine) == 1
            rec = await store.get_intent("lost-1")
            assert rec is not None and rec.status == ACCEPTED and rec.trade_id == mine[0].id
            assert router.executor.unknown_intents == []
            posts = [r for r in sim.venue.requests if r["route"] == "POST /v1/trades"]
            assert posts[0]["status"] == 0  # the venue dropped the first response
        finally:
            await router.close()
            await store.close()


async def _poll_for(client: KashClient, stop_at: float, count: list[int]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        await client.list_markets(limit=1)
        count[0] += 1


def test_free_key_sustained_load_two_virtual_minutes() -> None:
    async def main() -> tuple[int, int, int]:
        async with run_sim(noise=False, clock=LoopClock()) as sim:
            key = sim.keys["free"]
            budget = BudgetRegistry().get(key.user_id, tier="free")  # share 0.95
            count = [0]
            async with KashClient(
                key.api_key, sim.base_url, budget=budget, clock=LoopClock()
            ) as client:
                stop_at = asyncio.get_running_loop().time() + 120.0
                await asyncio.gather(*(_poll_for(client, stop_at, count) for _ in range(6)))
            ks = sim.venue.find_key("free")
            statuses_ = [r["status"] for r in sim.venue.requests if r["keyName"] == "free"]
            return len(ks.rate_rejections), statuses_.count(429), count[0]

    rejections, n429, sent = run_virtual(main(), grace_s=GRACE_S)
    assert rejections == 0 and n429 == 0
    assert sent >= 0.9 * 120  # ≥ 90 % of the 60/min quota over 2 minutes


def test_two_engines_of_one_user_share_its_budget() -> None:
    async def main() -> tuple[int, list[int]]:
        async with run_sim(noise=False, clock=LoopClock()) as sim:
            key = sim.keys["free"]
            registry = BudgetRegistry()  # one per process: both engines ask it for the user
            counts = [[0], [0]]
            stop_at = asyncio.get_running_loop().time() + 90.0
            async with (
                KashClient(
                    key.api_key,
                    sim.base_url,
                    clock=LoopClock(),
                    budget=registry.get(key.user_id, tier="free"),
                ) as a,
                KashClient(
                    key.api_key,
                    sim.base_url,
                    clock=LoopClock(),
                    budget=registry.get(key.user_id, tier="free"),
                ) as b,
            ):
                await asyncio.gather(
                    *(_poll_for(a, stop_at, counts[0]) for _ in range(4)),
                    *(_poll_for(b, stop_at, counts[1]) for _ in range(4)),
                )
            return len(sim.venue.find_key("free").rate_rejections), [c[0] for c in counts]

    rejections, counts = run_virtual(main(), grace_s=GRACE_S)
    assert rejections == 0
    assert min(counts) > 20 and sum(counts) >= 0.9 * 90


async def test_restart_mid_run_keeps_the_ledger_and_duplicates_nothing(
    sim: SimHandle, tmp_path: Path
) -> None:
    key = sim.keys["free"]
    limits = Limits.for_tier("free", daily_cap=500 * U)
    async with KashClient(key.api_key, sim.base_url) as client:
        router, _, store = await make_router(sim, client, tmp_path, limits)
        for n in range(3):
            v = await router.submit(OrderIntent(f"run1-{n}", "fv", MARKET, 0, Side.BUY, 100 * U))
            assert isinstance(v, Approval)
        await router.close()  # "crash": trades may still be in flight on the venue
        await store.close()

        router2, _, store2 = await make_router(sim, client, tmp_path, limits)
        try:
            ks = sim.venue.find_key("free")
            assert router2.gate.ledger.used(router2.clock.now()) == 300 * U
            assert ks.volume.used(sim.venue.clock.now()) == 300 * U
            again = await router2.submit(OrderIntent("run1-0", "fv", MARKET, 0, Side.BUY, 100 * U))
            assert isinstance(again, Denial) and again.reason is Reason.DUPLICATE_INTENT
            over = await router2.submit(OrderIntent("run2-0", "fv", MARKET, 0, Side.BUY, 201 * U))
            assert isinstance(over, Denial) and over.reason is Reason.DAILY_CAP
            ok = await router2.submit(OrderIntent("run2-1", "fv", MARKET, 0, Side.BUY, 200 * U))
            assert isinstance(ok, Approval)
            crids = [t.client_request_id for t in sim.venue.trades.values() if t.key_id == ks.id]
            assert sorted(c for c in crids if c) == ["run1-0", "run1-1", "run1-2", "run2-1"]
            assert "SPENDING_LIMIT_EXCEEDED" not in [r.get("code") for r in sim.venue.requests]
        finally:
            await router2.close()
            await store2.close()
