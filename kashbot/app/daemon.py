"""One running bot: its lifecycle around the trading core (:func:`kashbot.core.build_core`).

Startup is recovery (crash-only): resolve the venue (:mod:`~kashbot.app.venue_access`, which
starts the simulator in paper mode) and its markets, open the store, build the core (the router
reloads the spend ledger and reconciles in-flight trades and positions with the venue, the
positions are copied into the engine's state, the strategies are added), and only then start the
sources (:mod:`~kashbot.app.sources`) and the endpoints (:mod:`~kashbot.app.endpoints`).

Shutdown (``stop()``, or ``run``'s duration): strategies stop, in-flight trades are followed for
up to ``engine.shutdown_grace_s`` while sources keep running, then sources stop, the router and
the store close. ``kashbot run`` (signals, logging, the summary) is :mod:`~kashbot.app.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from rich.live import Live

from kashbot.app.alerting import alert_startup_failure, start_alerts
from kashbot.app.control import ControlServer
from kashbot.app.daemon_status import daemon_readings, status_json
from kashbot.app.endpoints import Endpoints, start_endpoints
from kashbot.app.fleet import SharedState, member_info, shared_line
from kashbot.app.sources import DaemonSources, Discovery, start_sources
from kashbot.app.state_reminder import remind_trading_state
from kashbot.app.summary import Summary
from kashbot.app.venue_access import VenueAccess, venue_access, venue_markets
from kashbot.client import KashClient
from kashbot.client.models import Market
from kashbot.client.request_budget import BudgetBase, BudgetRegistry
from kashbot.clock import Clock, WallClock
from kashbot.config import KashbotConfig
from kashbot.core import Core, build_core
from kashbot.engine.engine import Engine
from kashbot.events import RiskDenied
from kashbot.execution.router import OrderRouter
from kashbot.execution.shared_spend import SharedSpend
from kashbot.execution.venue import TradingVenue
from kashbot.lifecycle import Phase
from kashbot.obs.book import BookTracker
from kashbot.obs.http import Health
from kashbot.obs.logging import register_secret
from kashbot.obs.metrics import DaemonMetrics, MeteredVenue, Readings, watch_loop_lag
from kashbot.obs.status import StatusSnapshot, render, take_snapshot
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.sources.poller import PollerSource
from kashbot.sources.stream import StreamSource
from kashbot.sources.webhook import WebhookReceiver
from kashbot.store.store import Store

log = structlog.get_logger("kashbot.daemon")

FINAL_PHASES = frozenset({Phase.RESOLVED, Phase.CANCELLED, Phase.ABANDONED})


class Daemon:
    """One running bot. ``async with Daemon(cfg) as d: await d.run(duration)``.

    ``sim``: a running simulator (``run_sim``'s handle) for paper mode; None starts one.
    """

    def __init__(
        self,
        cfg: KashbotConfig,
        *,
        sim: Any | None = None,
        clock: Clock | None = None,
        budgets: BudgetRegistry | None = None,
        control_port: int | None = None,
        webhook_port: int | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.cfg = cfg
        self._sim = sim
        self.clock: Clock = clock or WallClock()
        self.budgets = budgets or BudgetRegistry()
        self._control_port = control_port
        self._webhook_port = webhook_port
        self._metrics_port = metrics_port
        self._stack = contextlib.AsyncExitStack()
        self.started_at = time.monotonic()
        self.access: VenueAccess
        self.core: Core
        self.client: KashClient
        self.budget: BudgetBase
        self.shared: SharedState | None = None  # shared_state.backend: redis
        self.sources = DaemonSources()
        self.endpoints = Endpoints()
        self.metrics: DaemonMetrics | None = None
        self.book: BookTracker | None = None  # per-market realised PnL and fees, for metrics
        self.denial_counts: Counter[str] = Counter()  # every denial (the state keeps the last 50)
        self._control_token = secrets.token_urlsafe(32)
        self._engine_task: asyncio.Task[None] | None = None
        self.markets: list[str] = []
        self.titles: dict[str, str] = {}
        self.chains: dict[str, str] = {}
        self._stop = asyncio.Event()
        # Called once, right before strategies stop (a journal marks the spot for replays).
        self.on_strategies_stopping: list[Callable[[], None]] = []
        self._closed = False

    # the core's and the sources' parts, by the names tests and tools know them

    @property
    def engine(self) -> Engine:
        return self.core.engine

    @property
    def gate(self) -> RiskGate:
        return self.core.gate

    @property
    def router(self) -> OrderRouter:
        return self.core.router

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def receiver(self) -> WebhookReceiver | None:
        return self.sources.receiver

    @property
    def stream(self) -> StreamSource | None:
        return self.sources.stream

    @property
    def poller(self) -> PollerSource | None:
        return self.sources.poller

    @property
    def control(self) -> ControlServer | None:
        return self.endpoints.control

    @property
    def metrics_server(self) -> ControlServer | None:
        """The metrics endpoint on its own port (None: on the control port, or none)."""
        return self.endpoints.metrics

    # ---- assembly ----------------------------------------------------------------------------

    async def __aenter__(self) -> Daemon:
        try:
            await self.start()
        except BaseException as exc:
            await self._stack.aclose()
            await alert_startup_failure(self.cfg, exc)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.cfg
        acc = self.access = await self._stack.enter_async_context(venue_access(cfg, self._sim))
        for secret in (acc.api_key, *acc.webhook_secrets, self._control_token):
            register_secret(secret)
        limits = Limits.from_config(cfg.risk, acc.tier)  # a bad limit stops us before any I/O
        spend = self._open_shared(limits)
        self.client = await self._open_client()
        found = await venue_markets(cfg, self.client)  # refuses a pin that hides our markets
        self.markets, self.titles, self.chains = found.ids, found.titles, found.chains
        venue: TradingVenue = self.client
        if cfg.metrics.enabled:
            self.metrics = DaemonMetrics(self.readings)
            venue = MeteredVenue(self.client, self.metrics)
        self.core = await build_core(
            cfg,
            venue,
            self.clock,
            store=await self._open_store(),
            limits=limits,
            markets=self.markets,
            run_id=secrets.token_hex(4),
            redemptions=self.client,
            shared_spend=spend,
        )
        self.core.engine.bus.subscribe(RiskDenied, self._count_denial)
        if self.metrics is not None:
            self.metrics.attach(self.core.engine.bus)
            if self.shared is not None:
                self.metrics.registry.register(self.shared.collector())
            self.book = BookTracker(self.core.engine.state)
            self.book.attach(self.core.engine.bus)
        self.alerts = await start_alerts(cfg, self.core, self._stack, self.status_json)
        self.sources = await start_sources(
            cfg.sources,
            acc,
            self.client,
            self.core,
            self.clock,
            self._stack,
            webhook_port=self._webhook_port,
            discovery=self._discovery() if cfg.discovers_markets else None,
            fair_values=cfg.fair_values,
        )
        self.endpoints = await start_endpoints(
            cfg,
            self.core,
            self._stack,
            token=self._control_token,
            status=self.status_json,
            metrics=self.metrics,
            health=self.health,
            control_port=self._control_port,
            metrics_port=self._metrics_port,
        )
        if self.shared is not None:
            self.shared.start(self.fleet_info)

    def _open_shared(self, limits: Limits) -> SharedSpend | None:
        """``shared_state.backend: redis``: the key's ledger and the user's budget on Redis
        (no I/O yet: recovery and the first request make the first calls)."""
        cfg = self.cfg.shared_state
        if not cfg.shared:
            return None
        shared = self.shared = SharedState(cfg, self.access.user_id, clock=self.clock)
        self._stack.push_async_callback(shared.close)
        spend = shared.spend = SharedSpend.connect(cfg, self.access.api_key)  # the router closes it
        shared.spend_cap = limits.daily_cap
        log.info("shared_state", backend="redis", prefix=cfg.prefix, member=shared.member_id)
        return spend

    def _discovery(self) -> Discovery:
        """Markets found while running join the strategies that trade the whole selection;
        settled ones with nothing left to claim are retired."""
        cfg = self.cfg

        def selects(m: Market) -> bool:
            return m.status == "ACTIVE" and cfg.selects(m.chain)

        def found(ids: list[str]) -> None:
            added = self.core.add_markets(ids)
            self.markets.extend(m for m in ids if m not in self.markets)
            log.info("markets_added", ids=ids, strategies_follow=bool(added))

        return Discovery(selects=selects, on_new=found, retire=self._retired)

    def _retired(self, market_id: str) -> bool:
        """Settled (or abandoned) and nothing of ours left in it: stop polling the market."""
        view = self.engine.state.markets.get(market_id)
        if view is None or view.phase(self.clock.now()) not in FINAL_PHASES:
            return False
        held = self.engine.state.portfolio.holdings
        return not any(m == market_id and h.shares > 0 for (m, _), h in held.items())

    async def _open_client(self) -> KashClient:
        cfg, acc = self.cfg, self.access
        if self.shared is not None:  # one bucket for every daemon of the user
            self.budget = self.shared.request_budget(
                tier=acc.tier,
                requests_per_min=cfg.account.requests_per_minute,
                share=cfg.risk.budget_share,
            )
        else:
            self.budget = self.budgets.get(
                acc.user_id,
                tier=acc.tier,
                requests_per_min=cfg.account.requests_per_minute,
                share=cfg.risk.budget_share,  # the sim's rate windows run on wall time
            )
        client = KashClient(
            acc.api_key,
            acc.base_url,
            api_version=cfg.venue.api_version,
            timeout=cfg.venue.timeout_s,
            max_retries=cfg.venue.max_retries,
            budget=self.budget,
            sign_requests=cfg.venue.sign_requests,
            clock=self.clock,
            user_agent_suffix="kashbot-daemon",
        )
        return await self._stack.enter_async_context(client)

    async def _open_store(self) -> Store:
        path = self.cfg.store.resolved_path(self.clock.now())
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        log.info("store_opened", path=path)
        store = await Store.open(path)
        self._stack.push_async_callback(store.close)
        return store

    # ---- what it says about itself -----------------------------------------------------------

    def _count_denial(self, ev: RiskDenied) -> None:
        self.denial_counts[ev.reason] += 1

    def snapshot(self) -> StatusSnapshot:
        snap = take_snapshot(
            self.engine.state,
            uptime_s=time.monotonic() - self.started_at,
            now=self.clock.now(),
            router_status=self.router.status(),
            budget=self.budget,
            sources=self.sources.status_lines(),
            fair_values=self.sources.fair_value_view(),
            redeemer=self.core.redeemer.status() if self.core.redeemer is not None else None,
        )
        snap.denials_by_reason = dict(sorted(self.denial_counts.items()))  # all, not the last 50
        snap.strategy_errors = self.engine.errors.as_json(
            [s.strategy_id for s, _ in self.engine.strategies]
        )
        return snap

    def status_json(self) -> dict[str, Any]:
        """``kashbot status``: the snapshot plus the trades held for a human's confirmation."""
        return status_json(self)

    def fleet_info(self) -> dict[str, Any]:
        """What this daemon tells the fleet (``kashbot status --all``) at each heartbeat."""
        return member_info(self)

    def readings(self) -> Readings:
        """Scrape-time values for the metrics collector (nothing here runs per event)."""
        return daemon_readings(self)

    def health(self) -> Health:
        """Liveness: the engine has not died. Readiness: recovered, started, sources live."""
        task = self._engine_task
        dead = task is not None and task.done()
        checks = {
            "recovered": self.router.ready,
            "strategies_started": self.engine.started,
            "engine_running": task is not None and not task.done(),
            **self.sources.checks(),
        }
        states = self.engine.state.markets.values()
        checks["no_dead_source"] = not any(v.dead_sources for v in states)
        return Health(
            live=not dead,
            ready=all(checks.values()),
            checks=checks,
            detail="engine stopped" if dead else "",
        )

    # ---- running -----------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None, *, live: Live | None = None) -> Summary:
        """Trade until ``stop()`` or ``duration`` seconds, then shut down and summarise."""
        self.started_at = time.monotonic()
        runner = self._engine_task = asyncio.create_task(self.engine.run(), name="engine")
        redeemer = self.core.redeemer
        if redeemer is not None and self.cfg.redemption.enabled:
            self.engine.supervisor.spawn("redeemer", redeemer.run)  # stopped with the sources
        if self.core.adopter is not None:  # the key's buys we did not make, as they appear
            self.engine.supervisor.spawn("spend-adopter", self.core.adopter.run)
        refresher = asyncio.create_task(self._refresh(live), name="status-view") if live else None
        lag = (
            asyncio.create_task(
                watch_loop_lag(self.metrics, self.cfg.metrics.loop_lag_interval_s), name="loop-lag"
            )
            if self.metrics is not None
            else None
        )
        reminder = asyncio.create_task(remind_trading_state(self.gate, self.clock), name="remind")
        try:
            waiter = asyncio.create_task(self._stop.wait())
            await asyncio.wait({runner, waiter}, timeout=duration, return_when="FIRST_COMPLETED")
            waiter.cancel()
            if runner.done() and runner.exception() is not None:
                log.error("engine_failed", error=repr(runner.exception()))
        finally:
            log.info("stopping", grace_s=self.cfg.engine.shutdown_grace_s)
            self.engine.request_stop()
            with contextlib.suppress(Exception):
                await runner
            for hook in self.on_strategies_stopping:
                hook()  # nothing is handled between here and the engine refusing new intents
            await self.engine.shutdown(self.cfg.engine.shutdown_grace_s)
            await self._final_reconcile()
            for helper in (refresher, lag, reminder):
                if helper is not None:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper
        return self.summary()

    async def _final_reconcile(self) -> None:
        """Ask the venue once more about trades still open after the grace, and apply what it
        says, so the summary counts what the venue completed (a failed lookup is logged)."""
        ex = self.router.executor
        try:
            async with asyncio.timeout(max(5.0, self.cfg.engine.shutdown_grace_s)):
                still_open = await ex.follower.poll_open()
                await ex.reconcile_unknown()
        except Exception as exc:  # a late lookup must not cost the summary; recovery has it
            log.warning("final_reconcile_failed", error=repr(exc))
            still_open = len(ex.follower.tracked)
        await self.engine.drain()
        if still_open:
            log.warning("trades_open_at_exit", count=still_open, note="the next start follows them")

    async def _refresh(self, live: Live) -> None:
        while True:
            view = render(self.snapshot(), self.titles)
            live.update(shared_line(view, self.shared, self.core.adopter))
            await asyncio.sleep(self.cfg.status.refresh_s)

    def summary(self) -> Summary:
        duration = time.monotonic() - self.started_at
        return Summary.of(self.engine.state, self.snapshot(), duration)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self.router.close()
        await self._stack.aclose()
