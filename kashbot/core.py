"""The one composition root: the engine, risk gate, executor, order router and strategies that
``kashbot run`` (live and paper) and ``kashbot backtest`` trade with.

What differs between a daemon and a backtest is passed in, nothing else: the venue (a
``KashClient``, metered or not, or the backtest's in-process adapter), the clock (wall or
simulated), the store, the venue's ACTIVE markets, and ``inline`` for a backtest (see
:func:`build_core`). The markets a strategy trades are resolved by one function,
:func:`resolve_markets`, for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import structlog

from kashbot import amm
from kashbot.clock import Clock
from kashbot.config import KashbotConfig, StrategyConfig
from kashbot.engine.engine import Engine
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import AnyStrategy, build_strategy
from kashbot.execution.adoption import SpendAdopter
from kashbot.execution.executor import ExecutionSettings, Executor
from kashbot.execution.follow import PROMPT_POLL_S
from kashbot.execution.pools import pool_view_of
from kashbot.execution.redeem import Redeemer, RedeemSettings, RedemptionVenue
from kashbot.execution.router import OrderRouter
from kashbot.execution.shared_spend import SharedSpend
from kashbot.execution.venue import TradingVenue
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.store.store import Store

log = structlog.get_logger("kashbot.core")

NEVER = 1e18  # an inline core's executor poll timer: in-process deliveries are never lost


class CoreError(ValueError):
    """The config cannot be assembled into a trading core (the message says what to change)."""


def resolve_markets(
    cfg: KashbotConfig, active: Iterable[str], chains: Mapping[str, str | None] | None = None
) -> list[str]:
    """The configured markets: ``markets: all`` is every market the venue lists as ACTIVE
    (``active``, in its order), ``markets: {chains: [...]}`` those of them on the chains
    (``chains``: market id -> chainRef), a list is exactly those ids. An empty result is
    refused (nothing to trade): ``markets: []`` means no markets, never all of them."""
    if cfg.discovers_markets:
        chain_of = chains or {}
        markets = [m for m in active if cfg.selects(chain_of.get(m)) or cfg.markets == "all"]
        if not markets:
            raise CoreError(
                f"no markets to trade (markets: {_selection(cfg)} found no ACTIVE market)"
            )
    else:
        assert isinstance(cfg.markets, list)
        markets = list(cfg.markets)
        if not markets:
            raise CoreError("no markets to trade (markets: [] names none; `all` = every market)")
    return markets


def _selection(cfg: KashbotConfig) -> str:
    return (
        "all" if cfg.markets == "all" else f"{{chains: {list(getattr(cfg.markets, 'chains', []))}}}"
    )


def redeem_settings(cfg: KashbotConfig) -> RedeemSettings:
    """``redemption:`` as the redeemer wants it."""
    r = cfg.redemption
    return RedeemSettings(
        enabled=r.enabled,
        interval_s=r.interval_s,
        write_off_not_claimable=r.write_off_not_claimable,
    )


def fee_overrides(cfg: KashbotConfig) -> dict[str, amm.Fees]:
    """``market_fees:``: per-market fees that beat the venue's and the default."""
    return {
        mid: amm.Fees(protocol_bps=f.protocol_bps, amm_sell_bps=f.amm_sell_bps)
        for mid, f in cfg.market_fees.items()
    }


def strategy_markets(s: StrategyConfig, markets: Sequence[str]) -> list[str]:
    """A strategy's own ``markets`` when it lists them (``[]``: none), else the configured ones."""
    return list(s.markets) if s.markets is not None else list(markets)


@dataclass(frozen=True, slots=True)
class Core:
    """The trading parts, wired, recovered and loaded with the config's strategies."""

    engine: Engine
    gate: RiskGate
    executor: Executor
    router: OrderRouter
    store: Store
    limits: Limits
    markets: tuple[str, ...]
    strategies: tuple[AnyStrategy, ...]
    redeemer: Redeemer | None = None  # None: the venue cannot redeem
    # strategies that trade every selected market (their config names none): discovery adds to them
    follows_selection: tuple[AnyStrategy, ...] = ()
    # reads the key's trade list for buys this daemon did not make (None: a backtest, or off)
    adopter: SpendAdopter | None = None

    def add_markets(self, market_ids: Iterable[str]) -> list[str]:
        """Markets found while running: strategies that trade the whole selection trade them
        too; returns the ids that were new to them."""
        new = [m for m in dict.fromkeys(market_ids) if not self._traded(m)]
        if not new:
            return []
        for strategy in self.follows_selection:
            if strategy.markets is not None:
                strategy.markets = strategy.markets | frozenset(new)
        engine = self.engine
        engine.strategies[:] = [
            (s, replace(ctx, markets=s.markets)) for s, ctx in engine.strategies
        ]
        for mid in new:
            engine.state.market(mid)
        return new

    def _traded(self, market_id: str) -> bool:
        return all(s.markets is None or market_id in s.markets for s in self.follows_selection)

    async def close(self) -> None:
        """Timers, the router (its reconcile loop and followers), then the store."""
        await self.engine.supervisor.stop()
        await self.router.close()
        await self.store.close()


def execution_settings(cfg: KashbotConfig, *, inline: bool = False) -> ExecutionSettings:
    """The order path's knobs: ``execution:`` names its fields as ``ExecutionSettings`` does, the
    rest keep their defaults. ``inline`` (a backtest's in-process venue): never poll (in-process
    deliveries are never lost) and adopt no venue spend (a fresh venue has none)."""
    prompt = None if cfg.sources.webhook.enabled else PROMPT_POLL_S  # no webhooks: poll soon
    settings = ExecutionSettings(**cfg.execution.model_dump(), prompt_poll_s=prompt)
    if not inline:
        return settings
    return replace(
        settings,
        poll_after_s=NEVER,
        poll_interval_s=NEVER,
        max_follow_s=NEVER,
        prompt_poll_s=None,
        adopt_venue_spend=False,
    )


async def build_core(
    cfg: KashbotConfig,
    venue: TradingVenue,
    clock: Clock,
    *,
    store: Store,
    limits: Limits,
    markets: Sequence[str],
    run_id: str,
    inline: bool = False,
    redemptions: RedemptionVenue | None = None,
    shared_spend: SharedSpend | None = None,
) -> Core:
    """Build and wire the parts, recover (crash-only startup), then add the strategies.

    Recovery comes first: the router reloads the spend ledger and reconciles in-flight trades and
    positions with the venue, the positions are copied into the engine's state, and only then
    are strategies added. ``markets``: the configured markets (:func:`resolve_markets`).

    ``inline``: a backtest's in-process venue driven in simulated time. Intents are handled in
    place (deterministic), the executor never polls (in-process deliveries are never lost) and
    the router adopts no spend from the venue (a fresh venue has none). Observers (metrics, a
    tape, a journal) subscribe to ``core.engine.bus`` afterwards: recovery's events wait in the
    inbox until the engine runs.

    ``shared_spend``: the key's ledger on Redis, shared with the other daemons on the key (the
    router closes it); None keeps the ledger in process. Unless ``inline``, ``core.adopter``
    (``shared_state.adopt_interval_s`` > 0) is there for the daemon to run: it keeps adopting the
    key's buys this daemon did not make after recovery's one pass.
    """
    engine = Engine(
        clock,
        run_id=run_id,
        inline_intents=inline,
        max_inflight=cfg.engine.max_inflight_intents,
        pause_strategy_after_errors=cfg.engine.pause_strategy_after_errors,
        state=EngineState(fee_overrides=fee_overrides(cfg)),
    )
    gate = RiskGate(
        limits,
        clock=clock,
        emit=engine.emit,
        max_consecutive_failures=cfg.risk.max_consecutive_failures,
    )
    router = OrderRouter(
        gate,
        venue,
        store,
        emit=engine.emit,
        clock=clock,
        settings=execution_settings(cfg, inline=inline),
        pool_view=pool_view_of(engine.state),
        shared_spend=shared_spend,
    )
    executor = router.executor
    engine.attach_router(router)
    engine.attach_risk(gate)  # staleness, fills, position syncs: the gate sees what the engine sees

    await router.recover()  # logs its own report
    for pos in await store.positions():
        engine.state.set_position(pos.market_id, pos.outcome, pos.shares, pos.cost_basis)

    strategies = _add_strategies(engine, cfg.strategies, markets, cfg.where(""))
    return Core(
        engine=engine,
        gate=gate,
        executor=executor,
        router=router,
        store=store,
        limits=limits,
        markets=tuple(markets),
        strategies=strategies,
        redeemer=_redeemer(cfg, redemptions, venue, store, engine, clock),
        follows_selection=_follows_selection(cfg, strategies),
        adopter=_adopter(cfg, gate, venue, store, clock) if not inline else None,
    )


def _redeemer(
    cfg: KashbotConfig,
    redemptions: RedemptionVenue | None,
    venue: TradingVenue,
    store: Store,
    engine: Engine,
    clock: Clock,
) -> Redeemer | None:
    """The redeemer, when ``redemptions`` (else the venue) can claim settled positions."""
    claims = redemptions if redemptions is not None else venue
    if not isinstance(claims, RedemptionVenue):
        return None
    return Redeemer(claims, store, engine.state, engine.emit, clock, redeem_settings(cfg))


def _follows_selection(
    cfg: KashbotConfig, strategies: Sequence[AnyStrategy]
) -> tuple[AnyStrategy, ...]:
    """The strategies without their own ``markets``, when the config discovers markets."""
    if not cfg.discovers_markets:
        return ()
    pairs = zip(strategies, cfg.strategies, strict=True)
    return tuple(st for st, sc in pairs if sc.markets is None)


def _adopter(
    cfg: KashbotConfig, gate: RiskGate, venue: TradingVenue, store: Store, clock: Clock
) -> SpendAdopter | None:
    every = cfg.shared_state.adopt_interval_s
    if every <= 0 or not execution_settings(cfg).adopt_venue_spend:
        return None
    return SpendAdopter(gate, venue, store, clock, interval_s=every)


def _add_strategies(
    engine: Engine, configs: Sequence[StrategyConfig], markets: Sequence[str], config_file: str
) -> tuple[AnyStrategy, ...]:
    strategies: list[AnyStrategy] = []
    for s in configs:
        mine = strategy_markets(s, markets)
        strategy = build_strategy(
            s.name, s.params, strategy_id=s.id, markets=mine, config_file=config_file
        )
        engine.add_strategy(strategy, timers=s.timers, protections=s.protections)
        strategies.append(strategy)
        log.info("strategy_loaded", id=strategy.strategy_id, name=s.name, markets=len(mine))
    return tuple(strategies)
