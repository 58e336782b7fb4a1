"""The engine: sources -> inbox -> state -> bus -> strategies -> OrderRouter, one loop for all.

Live and paper: ``await engine.run()`` starts the sources under a :class:`Supervisor` and drains
the inbox until :meth:`request_stop`; intents go to the router as tasks so a slow HTTP call never
blocks event processing. Backtest: the driver advances a ``SimClock`` and calls
``await engine.feed(event)`` for each recorded event; with ``inline_intents=True`` each intent is
awaited in place, so the run is deterministic and needs no background tasks. Both modes share
:meth:`handle`, the synchronous hot path (state update, subscribers, strategies).

Protections (:mod:`kashbot.engine.protections`: cooldown, back-off, pause) live here, outside the
strategies' pure ``decide``: one :class:`Protections` per strategy that has any, fed every
``RiskDenied`` and ``TradeUpdate`` through the bus before strategies run, filtering what the
strategy returns.

Shutdown (:meth:`shutdown`): strategies stop first (no new intents), then the engine keeps
processing trade updates until every in-flight intent is terminal or ``grace`` runs out, then
sources are cancelled and the closers (store flush) run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Protocol

import structlog

from kashbot.clock import Clock
from kashbot.engine.bus import Bus, Inbox
from kashbot.engine.protections import Protections, ProtectionsConfig
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import AnyStrategy, StrategyContext
from kashbot.engine.strategy_errors import DEFAULT_PAUSE_AFTER, StrategyErrors
from kashbot.engine.supervisor import Supervisor
from kashbot.events import (
    DataFresh,
    Event,
    OrderIntent,
    RiskDenied,
    StaleData,
    Timer,
    TradeUpdate,
)
from kashbot.risk.gate import GATE_EVENTS
from kashbot.sources.timer import TimerSource, TimerSpec, declared_timers

log = structlog.get_logger("kashbot.engine")

Route = tuple[AnyStrategy, StrategyContext, Protections | None]

Emit = Callable[[Event], None]

# Reason codes the engine itself uses when an intent never reached the router.
SUBMIT_ERROR = "SUBMIT_ERROR"
INFLIGHT_LIMIT = "INFLIGHT_LIMIT"
ENGINE_STOPPING = "ENGINE_STOPPING"


class IntentRouter(Protocol):
    """The consumer-side view of ``kashbot.execution.router.OrderRouter``."""

    async def submit(self, intent: OrderIntent) -> object:
        """Gate and send; denials come back as ``RiskDenied`` events through ``emit``."""
        ...


class RiskView(Protocol):
    """What the risk gate needs to hear from the engine (kashbot.risk.gate.RiskGate)."""

    def mark_stale(self, market_id: str) -> None: ...

    def mark_fresh(self, market_id: str) -> None: ...

    def observe(self, event: Event) -> None: ...


class Source(Protocol):
    """Anything that turns the outside world into events (poller, webhook, stream, timer)."""

    name: str

    async def run(self, emit: Emit) -> None: ...


class Engine:
    def __init__(
        self,
        clock: Clock,
        *,
        router: IntentRouter | None = None,
        state: EngineState | None = None,
        bus: Bus | None = None,
        run_id: str | None = None,
        inline_intents: bool = False,
        max_inflight: int = 64,
        supervisor: Supervisor | None = None,
        pause_strategy_after_errors: int = DEFAULT_PAUSE_AFTER,
    ) -> None:
        self.clock = clock
        self.router = router
        self.state = state or EngineState()
        self.bus = bus or Bus()
        self.inbox = Inbox()
        self.run_id = run_id or format(int(time.time() * 1000), "x")
        self.inline_intents = inline_intents
        self.max_inflight = max_inflight
        self.supervisor = supervisor or Supervisor(clock)
        self.sources: list[Source] = []
        self.strategies: list[tuple[AnyStrategy, StrategyContext]] = []
        self.protections: dict[str, Protections] = {}  # strategy id -> its protections, if any
        self.intent_listeners: list[Callable[[OrderIntent], None]] = []
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self.timers: list[TimerSpec] = []
        self.timer_source: TimerSource | None = None
        self.events_processed = 0
        self.intents_emitted = 0
        # exceptions per (strategy, event type); a strategy failing N times in a row is paused
        self.errors = StrategyErrors(pause_strategy_after_errors)
        self.errors.on_pause.append(lambda _sid, _n, _err: self._routes.clear())
        self._routes: dict[type[Event], tuple[Route, ...]] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._seq = 0
        self._accepting = True
        self._stopping = False
        self._started = False

    # ---- assembly ----------------------------------------------------------------------------

    def attach_router(self, router: IntentRouter) -> None:
        """The router needs ``engine.emit`` at construction, so it is attached afterwards."""
        self.router = router

    def attach_risk(self, gate: RiskView) -> None:
        """Keep the gate's view in step with the engine's: staleness per market, and our fills
        and position syncs (a sell releases its cost basis from exposure). One wiring for the
        daemon and the backtester, so both gates see the same events."""

        def sync_stale(_: Event) -> None:
            for view in self.state.markets.values():
                if view.stale:
                    gate.mark_stale(view.market_id)
                else:
                    gate.mark_fresh(view.market_id)

        self.bus.subscribe(StaleData, sync_stale)
        self.bus.subscribe(DataFresh, sync_stale)
        for kind in GATE_EVENTS:  # fills, syncs, redemptions, market lifecycles
            self.bus.subscribe(kind, gate.observe)

    def add_strategy(
        self,
        strategy: AnyStrategy,
        *,
        timers: Mapping[str, float] | None = None,
        protections: ProtectionsConfig | None = None,
    ) -> None:
        """Register a strategy, its timers (declared on it or its params, or ``timers``) and its
        protections (the class's defaults, overridden by ``protections``: the YAML block)."""
        ctx = StrategyContext(self.state, self.clock, strategy.strategy_id, strategy.markets)
        if any(s.strategy_id == strategy.strategy_id for s, _ in self.strategies):
            raise ValueError(f"two strategies with id {strategy.strategy_id!r}")
        wanted = declared_timers(strategy, timers)
        if wanted and not any(issubclass(Timer, kind) for kind in strategy.handles):
            raise ValueError(
                f"strategy {strategy.strategy_id!r} declares timers {sorted(wanted)} "
                "but does not handle Timer events (add Timer to its `handles`)"
            )
        effective = strategy.effective_protections(strategy.params, protections)
        self.strategies.append((strategy, ctx))
        if effective.enabled:
            guard = Protections(strategy.strategy_id, effective)
            self.protections[strategy.strategy_id] = guard
            self.bus.subscribe(RiskDenied, guard.observe)
            self.bus.subscribe(TradeUpdate, guard.observe)
        self._routes.clear()
        for name, every in wanted.items():
            self.add_timer(name, every, strategy=strategy.strategy_id)

    def add_timer(self, name: str, interval_s: float, *, strategy: str | None = None) -> None:
        """A periodic ``Timer`` (to ``strategy`` only, or every Timer handler); before start."""
        if self._started:
            raise RuntimeError("timers must be added before the engine starts")
        self.timers.append(TimerSpec(name, interval_s, strategy))

    def add_source(self, source: Source) -> None:
        self.sources.append(source)

    # ---- the hot path ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Hand an event to the engine (sources, router, webhook receiver); never blocks."""
        self.inbox.put(event)

    @property
    def strategy_errors(self) -> int:
        """Exceptions raised by strategies so far (all of them, every event type)."""
        return self.errors.total

    def strategy_error_counts(self) -> dict[tuple[str, str], int]:
        """(strategy id, event type) -> exceptions so far (for metrics and reports)."""
        return self.errors.counts()

    def resume_strategy(self, strategy_id: str) -> None:
        """Call a strategy paused after repeated exceptions again."""
        self.errors.resume(strategy_id)
        self._routes.clear()

    def _routes_for(self, kind: type[Event]) -> tuple[Route, ...]:
        paused = self.errors.paused
        found = tuple(
            (s, c, self.protections.get(s.strategy_id))
            for s, c in self.strategies
            if issubclass(kind, s.handles) and s.strategy_id not in paused
        )
        self._routes[kind] = found
        return found

    def handle(self, event: Event) -> list[OrderIntent]:
        """Apply one event: state, then subscribers, then strategies; returns stamped intents."""
        self.events_processed += 1
        self.state.apply(event)
        kind = type(event)
        self.bus.publish(event)
        routes = self._routes.get(kind)
        if routes is None:
            routes = self._routes_for(kind)
        if not routes or not self._accepting:
            return []
        market_id: str | None = getattr(event, "market_id", None)
        # a Timer goes to the strategy that declared it (``kind is`` first: near-free otherwise)
        addressee = event.strategy if kind is Timer and isinstance(event, Timer) else None
        out: list[OrderIntent] = []
        errors_in_row = self.errors.in_row
        for strategy, ctx, guard in routes:
            if addressee is not None and strategy.strategy_id != addressee:
                continue
            markets = strategy.markets
            if markets is not None and market_id is not None and market_id not in markets:
                continue
            try:
                intents = strategy.on_event(event, ctx)
            except Exception as exc:  # counted, shown once, paused after N in a row
                self.errors.record(strategy.strategy_id, kind.__name__, exc)
                continue
            if errors_in_row and strategy.strategy_id in errors_in_row:
                self.errors.succeeded(strategy.strategy_id)
            if intents:
                if guard is not None:
                    out.extend(self._guarded(strategy, guard, intents))
                else:
                    out.extend(self._stamp(strategy, i) for i in intents)
        return out

    def _guarded(
        self, strategy: AnyStrategy, guard: Protections, intents: list[OrderIntent]
    ) -> list[OrderIntent]:
        """The intents ``guard`` lets through, stamped (and tracked, when its pause needs it)."""
        stamped = [self._stamp(strategy, i) for i in guard.admit(intents, self.clock.now())]
        if stamped and guard.tracks:
            guard.track(stamped)
        return stamped

    def _stamp(self, strategy: AnyStrategy, intent: OrderIntent) -> OrderIntent:
        self._seq += 1
        self.intents_emitted += 1
        return replace(
            intent,
            intent_id=intent.intent_id or f"{strategy.strategy_id}-{self.run_id}-{self._seq}",
            strategy=intent.strategy or strategy.strategy_id,
            created_ts=intent.created_ts or self.clock.now(),
        )

    # ---- routing intents ---------------------------------------------------------------------

    def _deny(self, intent: OrderIntent, reason: str, detail: str = "") -> None:
        log.warning(
            "intent_denied",
            reason=reason,
            intent_id=intent.intent_id,
            strategy=intent.strategy,
            market_id=intent.market_id,
            detail=detail,
        )
        now = self.clock.now()
        self.emit(
            RiskDenied(now, intent.intent_id, intent.strategy, intent.market_id, reason, detail)
        )

    def _prepare(self, intent: OrderIntent) -> bool:
        for listener in self.intent_listeners:
            listener(intent)
        if self.router is None:
            self._deny(intent, SUBMIT_ERROR, "no router attached")
            return False
        if not self._accepting:
            self._deny(intent, ENGINE_STOPPING)
            return False
        self.state.add_pending(intent)
        return True

    async def _submit(self, intent: OrderIntent) -> None:
        assert self.router is not None
        try:
            await self.router.submit(intent)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the router should not raise; if it does, the intent is dead
            log.exception("router_submit_failed", intent_id=intent.intent_id)
            self.state.drop_pending(intent.intent_id)
            self._deny(intent, SUBMIT_ERROR, type(exc).__name__)

    async def route(self, intent: OrderIntent) -> None:
        """Send one intent: awaited in place (inline mode) or as a tracked task."""
        if not self._prepare(intent):
            return
        if self.inline_intents:
            await self._submit(intent)
            return
        if len(self._inflight) >= self.max_inflight:
            self.state.drop_pending(intent.intent_id)
            self._deny(intent, INFLIGHT_LIMIT, f"{len(self._inflight)} intents in flight")
            return
        task = asyncio.create_task(self._submit(intent), name=f"intent:{intent.intent_id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def feed(self, event: Event) -> None:
        """Backtest entry: process ``event`` and everything it causes, in order."""
        intents = self.handle(event)
        if intents:
            for intent in intents:
                await self.route(intent)
        if self.inbox.items:  # most events cause none: no drain coroutine for them
            await self.drain()

    async def drain(self) -> int:
        """Process everything currently in the inbox (including what processing adds)."""
        n = 0
        inbox = self.inbox
        items = inbox.items
        while items:
            event = inbox.popleft()
            n += 1
            for intent in self.handle(event):
                await self.route(intent)
        return n

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start strategies (call after recovery has loaded positions into ``state``)."""
        if self._started:
            return
        self._started = True
        for strategy, ctx in self.strategies:
            guard = self.protections.get(strategy.strategy_id)
            for intent in strategy.on_start(ctx):
                stamped = self._stamp(strategy, intent)
                if guard is not None and guard.tracks:
                    guard.track([stamped])
                await self.route(stamped)
        if self.timers:
            self.timer_source = TimerSource(self.clock, self.timers, anchor=self.clock.now())
            self.supervisor.spawn(self.timer_source.name, _runner(self.timer_source, self.emit))
            # let it register its first sleep now, so a SimClock driver sees the deadline
            await asyncio.sleep(0)

    @property
    def started(self) -> bool:
        """True once strategies have started (after recovery)."""
        return self._started

    def start_sources(self) -> None:
        for source in self.sources:
            self.supervisor.spawn(source.name, _runner(source, self.emit))

    async def run(self) -> None:
        """Start strategies and sources, then process events until :meth:`request_stop`."""
        await self.start()
        self.start_sources()
        inbox = self.inbox
        while not self._stopping:
            await inbox.wait()
            await self.drain()

    def request_stop(self) -> None:
        self._stopping = True
        self.inbox.wake()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop strategies, follow in-flight trades for up to ``grace`` s, stop sources, close."""
        self.request_stop()
        if self._accepting:
            self._accepting = False
            for strategy, ctx in self.strategies:
                try:
                    strategy.on_stop(ctx)
                except Exception:
                    log.exception("strategy_stop_error", strategy=strategy.strategy_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while (self._inflight or self.state.pending) and loop.time() < deadline:
            await self.drain()
            waiter = asyncio.ensure_future(self.inbox.wait())
            waits: set[asyncio.Future[None] | asyncio.Task[None]] = {waiter, *self._inflight}
            await asyncio.wait(
                waits,
                timeout=min(0.25, max(0.0, deadline - loop.time())),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
        await self.drain()
        if self.state.pending:
            log.warning(
                "shutdown_with_pending_intents",
                pending=sorted(self.state.pending),
                note="the executor's store keeps them; the next start reconciles them",
            )
        await self.supervisor.stop()
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=1.0)
        for close in self.closers:
            try:
                await close()
            except Exception:
                log.exception("closer_failed")


def _runner(source: Source, emit: Emit) -> Callable[[], Awaitable[None]]:
    def factory() -> Awaitable[None]:
        return source.run(emit)

    return factory
