"""The daemon's parts, assembled for a backtest as ``kashbot run`` assembles them: an in-memory
store, the engine (intents routed inline), the risk gate, the executor (no polling: in-process
webhooks are never lost) and the order router, with the tape listening on the bus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kashbot.backtest.inputs import BacktestError, tier_of
from kashbot.backtest.tape import Tape
from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.clock import SimClock
from kashbot.config import KashbotConfig
from kashbot.engine.engine import Engine
from kashbot.engine.strategy import build_strategy
from kashbot.events import (
    FairValueUpdate,
    OrderIntent,
    PriceChange,
    RiskDenied,
    TradeUpdate,
)
from kashbot.execution.executor import Executor
from kashbot.execution.pools import pool_view_of
from kashbot.execution.router import OrderRouter
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import Store

RUN_ID = "bt"  # intent ids are "<strategy>-bt-<n>": stable across runs of the same inputs
NEVER = 1e18  # executor poll timer: webhooks are reliable in-process, so never poll


@dataclass(slots=True)
class Assembly:
    engine: Engine
    router: OrderRouter
    store: Store

    async def close(self) -> None:
        await self.engine.supervisor.stop()  # the timer task, if any
        await self.router.close()
        await self.store.close()


async def assemble(
    cfg: KashbotConfig,
    clock: SimClock,
    adapter: SimVenueAdapter,
    tape: Tape,
    *,
    venue_markets: Sequence[str],
    start: float,
    intent_listeners: Sequence[Callable[[OrderIntent], None]] = (),
) -> Assembly:
    """Build and wire the parts; strategies are added for ``cfg.markets`` (``all``: the venue's).

    ``intent_listeners`` see every intent after the tape (the observed replay matches them).
    """
    store = await Store.open(":memory:", sync=True)  # no thread hop: 2.5x faster
    engine = Engine(
        clock,
        run_id=RUN_ID,
        inline_intents=True,
        max_inflight=cfg.engine.max_inflight_intents,
    )
    limits = Limits.from_config(cfg.risk, tier_of(cfg))
    gate = RiskGate(
        limits,
        clock=clock,
        emit=engine.emit,
        max_consecutive_failures=cfg.risk.max_consecutive_failures,
    )
    executor = Executor(
        adapter,
        gate,
        store,
        clock=clock,
        emit=engine.emit,
        poll_after_s=NEVER,
        poll_interval_s=NEVER,
        max_follow_s=NEVER,
        max_intent_age_s=cfg.execution.max_intent_age_s,
        unknown_settle_s=cfg.execution.unknown_settle_s,
        pool_view=pool_view_of(engine.state),
    )
    router = OrderRouter(
        gate,
        adapter,
        store,
        emit=engine.emit,
        clock=clock,
        executor=executor,
        adopt_venue_spend=False,
        reconcile_interval_s=cfg.execution.reconcile_interval_s,
        recovery_attempts=cfg.execution.recovery_attempts,
        recovery_backoff_s=cfg.execution.recovery_backoff_s,
        recovery_backoff_max_s=cfg.execution.recovery_backoff_max_s,
    )
    engine.attach_router(router)
    bus = engine.bus
    bus.subscribe(PriceChange, tape.on_price)
    bus.subscribe(FairValueUpdate, tape.on_fair)
    bus.subscribe(RiskDenied, tape.on_denied)
    bus.subscribe(TradeUpdate, tape.on_trade)
    engine.intent_listeners.append(tape.on_intent)
    engine.intent_listeners.extend(intent_listeners)
    engine.attach_risk(gate)  # as the daemon: staleness, fills, position syncs
    await router.recover()
    markets = list(venue_markets) if cfg.markets == "all" else list(cfg.markets)
    if not cfg.strategies:
        raise BacktestError("the config has no strategies: nothing to backtest")
    for s in cfg.strategies:
        strategy = build_strategy(s.name, s.params, strategy_id=s.id, markets=s.markets or markets)
        engine.add_strategy(strategy, timers=s.timers, protections=s.protections)
        fair = getattr(strategy.params, "fair_for", None)
        for mid in markets:
            value = fair(mid) if callable(fair) else None
            if value:
                tape.fair.setdefault(mid, []).append((start, tuple(value)))
    return Assembly(engine, router, store)
