"""The daemon's core (:func:`kashbot.core.build_core`) for a backtest: an in-memory store, the
sim venue's adapter, the ``SimClock`` and inline intents, with the tape listening on the bus."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kashbot.backtest.inputs import BacktestError, tier_of
from kashbot.backtest.tape import Tape
from kashbot.backtest.venue_adapter import SimVenueAdapter
from kashbot.clock import SimClock
from kashbot.config import KashbotConfig
from kashbot.core import Core, CoreError, build_core, resolve_markets
from kashbot.events import (
    FairValueUpdate,
    OrderIntent,
    PositionRedeemed,
    PriceChange,
    RiskDenied,
    TradeUpdate,
)
from kashbot.risk.limits import Limits
from kashbot.store.store import Store

RUN_ID = "bt"  # intent ids are "<strategy>-bt-<n>": stable across runs of the same inputs


async def assemble(
    cfg: KashbotConfig,
    clock: SimClock,
    adapter: SimVenueAdapter,
    tape: Tape,
    *,
    venue_markets: Sequence[str],
    start: float,
    intent_listeners: Sequence[Callable[[OrderIntent], None]] = (),
) -> Core:
    """The core for ``cfg.markets`` (``all``: the venue's ACTIVE ``venue_markets``), with the
    tape on the bus; ``intent_listeners`` see every intent after the tape (the observed replay
    matches them)."""
    if not cfg.strategies:
        raise BacktestError("the config has no strategies: nothing to backtest")
    try:
        markets = resolve_markets(cfg, venue_markets)
    except CoreError as exc:
        raise BacktestError(str(exc)) from None
    limits = Limits.from_config(cfg.risk, tier_of(cfg))
    store = await Store.open(":memory:", sync=True, per_order=True)  # inline, one tx per order
    core = await build_core(
        cfg, adapter, clock, store=store, limits=limits, markets=markets, run_id=RUN_ID, inline=True
    )
    bus = core.engine.bus
    bus.subscribe(PriceChange, tape.on_price)
    bus.subscribe(FairValueUpdate, tape.on_fair)
    bus.subscribe(RiskDenied, tape.on_denied)
    bus.subscribe(TradeUpdate, tape.on_trade)
    bus.subscribe(PositionRedeemed, tape.on_redeemed)
    core.engine.intent_listeners.append(tape.on_intent)
    core.engine.intent_listeners.extend(intent_listeners)
    for strategy in core.strategies:
        fair = getattr(strategy.params, "fair_for", None)
        for mid in markets:
            value = fair(mid) if callable(fair) else None
            if value:
                tape.add_fair(mid, start, tuple(value))
    return core
