"""Our own sells shrink the engine's position, end to end against the simulator (run_sim).

Engine → router → executor → the real ``KashClient`` → the simulator over HTTP, and the trade
lifecycle back through the real signed ``WebhookReceiver``. The simulator's completed-sell webhook
carries ``tokensIn`` (an extension), so the position moves without asking the venue; the
``kash_like`` rig strips it, as Kash sends none, and the executor falls back to a positions
request per sell. After a buy, a partial sell and a sell of the rest, the engine's position must
equal the venue's ground truth each time, with no INSUFFICIENT_BALANCE and no halt; a sell larger
than the position is refused by the venue and resyncs the engine to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kashbot import amm
from kashbot.client import KashClient
from kashbot.client.webhooks import WebhookEvent
from kashbot.clock import WallClock
from kashbot.engine.engine import Engine
from kashbot.events import OrderIntent, PositionSync, RiskDenied, Side, TradingState
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.router import OrderRouter
from kashbot.money import USDC_ONE
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.sim.embedded import SimHandle, run_sim
from kashbot.sources.webhook import MemorySeenEvents, WebhookReceiver, route_to
from kashbot.store.store import Store

pytestmark = pytest.mark.timeout(60)

U = USDC_ONE
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"
TIER = "developer"


class Rig:
    def __init__(self, sim: SimHandle, engine: Engine, router: OrderRouter) -> None:
        self.sim = sim
        self.engine = engine
        self.router = router
        self.seen: list[Any] = []
        engine.bus.subscribe(PositionSync, self.seen.append)
        engine.bus.subscribe(RiskDenied, self.seen.append)
        self.n = 0
        self.kash_like = False

    def venue_shares(self) -> int:
        rows = self.sim.venue.user_positions(self.sim.keys[TIER].api_key, MARKET)
        return sum(p.shares for p in rows if p.outcome == 0)

    def engine_shares(self) -> int:
        return self.engine.state.position(MARKET, 0).shares

    async def trade(self, side: Side, amount: int) -> None:
        """Route one intent and wait until the engine has seen it end."""
        self.n += 1
        intent = OrderIntent(
            f"step-{self.n}", "test", MARKET, 0, side, amount, closing=side is Side.SELL
        )
        await self.engine.route(intent)
        async with asyncio.timeout(20):
            while intent.intent_id in self.engine.state.pending:
                self.sim.venue.advance()
                await self.engine.drain()
                await asyncio.sleep(0.01)
        await self.engine.drain()

    def payout_for(self, tokens: int) -> int:
        """What selling ``tokens`` of outcome 0 pays at the venue's pool right now."""
        pool = self.sim.venue.markets[MARKET].pool
        return amm.sell(pool, 0, tokens, self.sim.venue.fees).payout


def without_tokens_in(event: WebhookEvent) -> WebhookEvent:
    """The event as Kash would send it: no token count for a sell."""
    return dataclasses.replace(event, data=dataclasses.replace(event.data, tokens_in=None))


POSITIONS_ROUTE = "/v1/portfolio/positions"


def positions_requests(sim: SimHandle) -> int:
    return sum(1 for r in sim.venue.requests if r.get("path", "").startswith(POSITIONS_ROUTE))


@pytest.fixture(params=["sim_tokens_in", "kash_like"])
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    strip = request.param == "kash_like"
    async with run_sim(time_scale=20, noise=False) as sim:
        key = sim.keys[TIER]
        assert key.webhook_secret is not None
        clock = WallClock()
        store = await Store.open(tmp_path / "bot.db")
        async with KashClient(key.api_key, sim.base_url) as client:
            engine = Engine(clock, inline_intents=True)
            gate = RiskGate(Limits.for_tier(TIER), clock=clock, emit=engine.emit)
            executor = Executor(
                client,
                gate,
                store,
                clock=clock,
                emit=engine.emit,
                settings=ExecutionSettings(poll_after_s=2.0),
            )
            router = OrderRouter(
                gate, client, store, emit=engine.emit, clock=clock, executor=executor
            )
            engine.attach_router(router)
            receiver = WebhookReceiver(
                secrets=[key.webhook_secret],
                seen=MemorySeenEvents(),
                handler=lambda ev: route_to(
                    router.on_trade_update, without_tokens_in(ev) if strip else ev
                ),
                clock=clock,
            )
            await receiver.start()
            serving = asyncio.create_task(receiver.run(engine.emit))
            sim.set_webhook(TIER, receiver.url, key.webhook_secret)
            await router.recover()
            try:
                r = Rig(sim, engine, router)
                r.kash_like = strip
                yield r
            finally:
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
                await router.close()
                await store.close()


def venue_codes(sim: SimHandle) -> list[Any]:
    codes = [r.get("code") for r in sim.venue.requests]
    codes += [t.error_code for t in sim.venue.trades.values()]
    return codes


async def test_buy_sell_part_sell_rest_tracks_the_venue(rig: Rig) -> None:
    before = positions_requests(rig.sim)  # recovery reads the positions once
    await rig.trade(Side.BUY, 40 * U)
    bought = rig.venue_shares()
    assert bought > 0 and rig.engine_shares() == bought

    await rig.trade(Side.SELL, rig.payout_for(bought // 2))
    part = rig.venue_shares()
    assert 0 < part < bought
    assert rig.engine_shares() == part
    assert rig.engine.state.fills[-1].tokens == bought - part

    await rig.trade(Side.SELL, rig.payout_for(part))
    rest = rig.venue_shares()
    assert rest < part // 10**6  # at most rounding dust is left
    assert rig.engine_shares() == rest
    assert rig.engine.state.fills[-1].tokens == part - rest

    assert [f.side for f in rig.engine.state.fills] == [Side.BUY, Side.SELL, Side.SELL]
    assert "INSUFFICIENT_BALANCE" not in venue_codes(rig.sim)
    assert rig.router.gate.state is TradingState.ACTIVE
    assert [e for e in rig.seen if isinstance(e, RiskDenied)] == []
    syncs = [e for e in rig.seen if isinstance(e, PositionSync)]
    if rig.kash_like:  # no token count: one positions request and sync per sell
        assert len(syncs) == 2 and all(s.trade_id is not None for s in syncs)
        assert positions_requests(rig.sim) - before == 2
    else:  # the webhook's tokensIn moved the position
        assert syncs == []
        assert positions_requests(rig.sim) == before


async def test_selling_more_than_held_resyncs_and_does_not_halt(rig: Rig) -> None:
    await rig.trade(Side.BUY, 20 * U)
    held = rig.venue_shares()
    rig.engine.state.set_position(MARKET, 0, held * 3, 60 * U)  # a stale, too-large view
    await rig.trade(Side.SELL, rig.payout_for(held * 2))
    denied = [e for e in rig.seen if isinstance(e, RiskDenied)]
    assert [d.reason for d in denied] == ["VENUE_INSUFFICIENT_BALANCE"]
    assert rig.engine_shares() == held == rig.venue_shares()
    assert rig.router.gate.state is TradingState.ACTIVE
