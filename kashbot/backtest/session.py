"""One backtest in simulated time: the ``SimClock``, the sim ``Venue`` with our key, the daemon's
core (:mod:`kashbot.backtest.assembly`) and what flows back from the venue to the engine.

The venue reports synchronously (market ticks, webhook deliveries); the session queues them and
hands them to the engine afterwards, in the order they happened (:meth:`Session.flush`). Both
replays drive a session: :mod:`kashbot.backtest.venue_replay` and
:mod:`kashbot.backtest.observed_replay`. Nothing sleeps: :meth:`Session.advance` moves the clock
to the next due moment and runs what is due there.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kashbot import amm
from kashbot.backtest.assembly import assemble
from kashbot.backtest.config import BacktestSettings
from kashbot.backtest.metrics import Book
from kashbot.backtest.tape import Tape
from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.client.models import Market
from kashbot.clock import SimClock
from kashbot.config import KashbotConfig
from kashbot.core import Core
from kashbot.events import (
    Event,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    PriceChange,
    Side,
)
from kashbot.sim import serialize
from kashbot.sim.models import Delivery, MarketState, Prediction
from kashbot.sim.scenario import Scenario
from kashbot.sim.venue import MarketTick, Venue
from kashbot.sources.convert import market_snapshot

_INF = float("inf")


_SIDES = {"buy": Side.BUY, "sell": Side.SELL}  # a lookup, not an Enum call, per prediction


def prediction_event(p: Prediction) -> PredictionSeen:
    """A venue prediction row as the engine's event (the stream source's shape)."""
    if p.side == "buy":
        usdc, tokens = p.usdc_in or 0, p.tokens_out or 0
    else:
        usdc, tokens = p.usdc_out or 0, p.tokens_in or 0
    return PredictionSeen(
        p.ts, p.market_id, p.id, p.outcome, _SIDES[p.side], usdc, tokens, p.probability
    )


def webhook_update(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """A sim webhook body as ``OrderRouter.on_trade_update``'s arguments: (trade id, status,
    keywords), as :func:`kashbot.sources.webhook.route_to` passes them (``tokens_in`` only when
    the body carries it)."""
    data = json.loads(body)["data"]
    tokens_out, tokens_in = data.get("tokensOut"), data.get("tokensIn")
    fields: dict[str, Any] = {
        "tokens_out": None if tokens_out is None else int(tokens_out),
        "error_code": data.get("errorCode"),
    }
    if tokens_in is not None:
        fields["tokens_in"] = int(tokens_in)
    return data["tradeId"], data["status"], fields


def lifecycle_snapshot(venue: Venue, market_id: str, ts: float) -> MarketSnapshot:
    """A venue market as the poller would see it under ``2026-08-19`` (lifecycle, chain, fees),
    with its pool (a backtest knows it)."""
    m = venue.markets[market_id]
    snap = market_snapshot(Market.model_validate(serialize.market(m)), ts, m.pool)
    return replace(snap, probabilities=amm.probabilities(m.pool))


def _life(m: MarketState) -> tuple[object, ...]:
    return (m.status, m.resolution_state, m.freeze_at, tuple(m.winners))


class Session:
    """Clock, venue, adapter, engine parts and tape of one run, and the feedback between them.

    A replay customises three things: ``feed_ticks`` (False: the engine does not see market
    events derived from the venue), ``on_user_fill`` (called with every user trade's prediction,
    after it is booked) and ``hold`` (takes a webhook delivery to deliver later; True if taken).
    """

    def __init__(
        self,
        cfg: KashbotConfig,
        settings: BacktestSettings,
        scenario: Scenario,
        api_key: str,
        seed: int,
        start: float,
        recorded_pools: Mapping[str, amm.Pool],
        *,
        time_scale: float = 1.0,
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.clock = SimClock(start=start)
        self.venue = Venue(
            scenario,
            clock=self.clock,
            seed=seed,
            time_scale=time_scale,
            webhook_sink=self._on_delivery,
        )
        for mid, pool in recorded_pools.items():
            self.venue.markets[mid].pool = pool
        self.venue.listeners.append(self._on_tick)
        self.venue.sink_signed = False  # deliver() reads the venue's own bodies, unverified
        self.adapter = SimVenueAdapter(
            self.venue, api_key, enforce_rate_limit=settings.enforce_rate_limit
        )
        key = self.venue.authenticate(api_key)
        self.user_id = key.user_id
        self.start = start
        self._pending: deque[tuple[str, Any]] = deque()
        self._last_pool = {mid: m.pool for mid, m in self.venue.markets.items()}
        self._next_mark = start
        self.events_fed = 0
        cash = self.venue.users[self.user_id].balance
        self.tape = Tape(settings, Book(cash=cash))
        self.initial_cash = cash
        self.feed_ticks = True
        self.on_user_fill: Callable[[Prediction], None] | None = None
        self.hold: Callable[[Delivery], bool] | None = None
        # each market's lifecycle as last told to the engine (scenario mode follows it), and
        # the venue's lifecycle epoch then: markets are looked at again only when it moved
        self._life = {mid: _life(m) for mid, m in self.venue.markets.items()}
        self._life_epoch = self.venue.lifecycle_epoch

    async def setup(self, intent_listeners: Sequence[Callable[[OrderIntent], None]] = ()) -> None:
        active = [mid for mid, m in self.venue.markets.items() if m.status == "ACTIVE"]
        self.core: Core = await assemble(
            self.cfg,
            self.clock,
            self.adapter,
            self.tape,
            venue_markets=active,  # what the daemon's GET /v1/markets?status=ACTIVE lists
            start=self.start,
            intent_listeners=intent_listeners,
        )
        self.engine = self.core.engine
        self.router = self.core.router

    async def close(self) -> None:
        await self.core.close()

    # venue callbacks (synchronous; the session feeds the engine afterwards, in order)

    def _on_tick(self, tick: MarketTick) -> None:
        before = self._last_pool[tick.market_id]
        after = self.venue.markets[tick.market_id].pool
        self._last_pool[tick.market_id] = after
        self._pending.append(("tick", (tick.prediction, before, after)))

    def _on_delivery(self, d: Delivery) -> int:
        self._pending.append(("hook", d))
        return 200

    # feeding the engine

    async def feed(self, event: Event) -> None:
        self.events_fed += 1
        await self.engine.feed(event)

    async def flush(self) -> None:
        """Hand the engine everything the venue produced, in the order it happened."""
        pending = self._pending
        while pending:
            kind, item = pending.popleft()
            if kind == "tick":
                pred, before, after = item
                if self.feed_ticks:  # what the engine sees of markets comes from the pools
                    await self.feed(prediction_event(pred))
                    await self.feed(PriceChange(pred.ts, pred.market_id, pred.probabilities, after))
                if pred.source == "user" and pred.trade_id is not None:
                    trade = self.venue.trades[pred.trade_id or ""]
                    if trade.user_id == self.user_id:
                        self.tape.book_fill(pred, before, trade, self.venue.fees)
                        self.mark(pred.ts)
                    if self.on_user_fill is not None:
                        self.on_user_fill(pred)
            elif self.hold is None or not self.hold(item):
                await self.deliver(item)

    async def deliver(self, d: Delivery) -> None:
        """The paper daemon's webhook path minus HTTP, signature and model parse: the body our
        own in-process venue wrote is trusted, and its trade fields go to the router as
        :func:`kashbot.sources.webhook.route_to` passes them (parity: same call, same values)."""
        trade_id, status, fields = webhook_update(d.body)
        changed = await self.router.on_trade_update(trade_id, status, **fields)
        await self.engine.drain()
        # one loop turn: a trade that ended here cancelled its follow task before that task
        # ever ran; nothing else yields in a backtest, so it would stay queued (with its trade)
        # to the end of the run: ~2 KiB per trade, 10 MiB over 30 days. A delivery that
        # changed nothing (the simulator's duplicate of each webhook) cancelled nothing; a
        # first delivery still yields even then, so a follow task created since the last turn
        # starts (its poll deadline is set when it first runs) at the time it did before.
        if changed or not d.duplicate:
            await asyncio.sleep(0)

    def mark(self, ts: float) -> None:
        pools = {mid: m.pool for mid, m in self.venue.markets.items()}
        self.tape.mark(ts, pools, self.venue.fees)

    # time

    async def advance(self, t: float) -> None:
        """Move time to ``t``: marks on the way, engine timers, then the venue's due steps."""
        while self._next_mark <= t:
            self.mark(self._next_mark)
            self._next_mark += self.settings.mark_interval_s
        if self.clock.advance_to(t):
            for _ in range(8):  # woken timer tasks run to their next await
                await asyncio.sleep(0)
            await self.engine.drain()
        due = self.venue.next_due()
        if due is not None and due <= t:  # nothing due (most events): no call
            self.venue.advance(t)
        if self._pending:
            await self.flush()
        if self.feed_ticks and self.venue.lifecycle_epoch != self._life_epoch:
            await self.follow_lifecycle()

    async def follow_lifecycle(self) -> None:
        """Tell the engine of every market whose life moved on (a poller would see it), then
        claim what settled, as the daemon's redeemer does."""
        self._life_epoch = self.venue.lifecycle_epoch
        now = self.clock.now()
        settled = False
        for mid, m in self.venue.markets.items():
            life = _life(m)
            if life == self._life[mid]:
                continue
            self._life[mid] = life
            await self.feed(lifecycle_snapshot(self.venue, mid, now))
            settled = settled or m.resolution_state in ("resolved", "cancelled")
        redeemer = self.core.redeemer
        if settled and redeemer is not None and self.cfg.redemption.enabled:
            await redeemer.run_once()
            await self.engine.drain()

    async def advance_through(self, t: float) -> None:
        """Everything due up to ``t`` (engine timers, venue steps), each at its own time."""
        while True:
            t_ven = self.venue.next_due()
            t_clk = self.clock.next_deadline()
            nxt = min(t_ven if t_ven is not None else _INF, t_clk if t_clk is not None else _INF)
            if nxt >= t:
                break
            await self.advance(max(nxt, self.clock.now()))
        await self.advance(t)
