"""``kashbot run``: assemble client, budget, store, gate, router, engine and sources from a config.

Startup is recovery (crash-only): open the store, let the router reload the spend ledger and
reconcile in-flight trades and positions with the venue, copy the positions into the engine's
state, and only then start strategies and sources. Paper mode starts the simulator in-process on
127.0.0.1 and points the key's webhook at our receiver through the simulator's admin API.

Shutdown (first SIGINT/SIGTERM, ``--duration`` or ``stop()``): strategies stop, in-flight trades
are followed for up to ``engine.shutdown_grace_s`` while sources keep running, then sources stop,
the router and the store close, and a summary is printed. A second signal cancels at once.
SIGUSR1 halts trading and SIGUSR2 resumes it (the same gate calls as ``kashbot halt``/``resume``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import structlog
from rich.console import Console
from rich.live import Live

from kashbot.app.control import ControlServer, remove_token, write_token
from kashbot.client import KashClient
from kashbot.client.config import KashConfigError, check_api_key
from kashbot.client.request_budget import BudgetRegistry, UserBudget
from kashbot.clock import Clock, WallClock
from kashbot.config import KashbotConfig
from kashbot.engine.engine import Engine
from kashbot.engine.strategy import build_strategy
from kashbot.engine.supervisor import install_signal_handlers
from kashbot.events import Side
from kashbot.execution.executor import Executor
from kashbot.execution.pools import pool_view_of
from kashbot.execution.router import OrderRouter
from kashbot.execution.venue import TradingVenue
from kashbot.money import MoneyError, fmt_usdc, usdc_to_atomic
from kashbot.obs.http import Health, obs_routes
from kashbot.obs.logging import configure, register_secret
from kashbot.obs.metrics import DaemonMetrics, MeteredVenue, Readings, watch_loop_lag
from kashbot.obs.status import StatusSnapshot, render, take_snapshot
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import CONFIG_KEYS, Limits, LimitsError
from kashbot.sources.poller import PollerSource
from kashbot.sources.sim_truth import SimTruthSource
from kashbot.sources.stream import StreamSource, stream_api_key
from kashbot.sources.webhook import WebhookReceiver, route_to
from kashbot.store.store import Store

log = structlog.get_logger("kashbot.daemon")


class DaemonError(RuntimeError):
    """The daemon cannot start with this config (the message says what to change)."""


@dataclass(slots=True)
class Summary:
    duration_s: float
    fills: int
    buys: int
    sells: int
    volume: int
    pnl: int
    pending: int
    denials_by_reason: dict[str, int]
    snapshot: StatusSnapshot
    extras: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        snap = self.snapshot
        lines = [
            "kashbot run summary",
            f"  ran {self.duration_s:.1f} s, final state {snap.state}",
            f"  trades filled: {self.fills} ({self.buys} buys, {self.sells} sells), "
            f"volume {fmt_usdc(self.volume)} USDC",
            f"  PnL at mark: {fmt_usdc(self.pnl)} USDC (realized {fmt_usdc(snap.realized)}, "
            f"unrealized {fmt_usdc(snap.unrealized)})",
            f"  open positions: {len(snap.positions)}; intents still pending: {self.pending}",
        ]
        if snap.spend_used is not None:
            lines.append(
                f"  24h spend used: {fmt_usdc(snap.spend_used)} of {fmt_usdc(snap.spend_cap or 0)}"
            )
        if snap.requests_used is not None:
            lines.append(
                f"  requests last minute: {snap.requests_used} (budget {snap.requests_budget}/min,"
                f" 429s: {snap.quota_rejections})"
            )
        denials = ", ".join(f"{k}={v}" for k, v in sorted(self.denials_by_reason.items()))
        lines.append(f"  denials: {denials or 'none'}")
        return "\n".join(lines)


@dataclass(slots=True)
class VenueAccess:
    """Where and as whom we trade (resolved from config, or from the in-process simulator).

    The key and the webhook secrets stay out of ``repr`` (tracebacks, debug logs print it).
    """

    api_key: str = field(repr=False)
    base_url: str | None
    tier: str
    user_id: str
    webhook_secrets: list[str] = field(repr=False)
    stream_url: str | None
    admin_url: str | None = None  # simulator only
    key_name: str | None = None  # simulator only


@contextlib.asynccontextmanager
async def _paper_venue(cfg: KashbotConfig, sim: Any | None) -> AsyncIterator[VenueAccess]:
    """Start (or reuse) the simulator and pick its test key of the configured tier."""
    if sim is None:
        from kashbot.sim.embedded import run_sim

        scfg = cfg.venue.sim
        async with (
            run_sim(scfg.scenario, seed=scfg.seed, time_scale=scfg.time_scale) as started,
            _paper_venue(cfg, started) as access,
        ):
            yield access
        return
    key = sim.key(cfg.venue.sim.key_tier)
    yield VenueAccess(
        api_key=key.api_key,
        base_url=sim.base_url,
        tier=key.tier,
        user_id=cfg.account.user_id if cfg.account.user_id != "default" else key.user_id,
        webhook_secrets=[key.webhook_secret] if key.webhook_secret else [],
        stream_url=sim.stream_url,
        admin_url=sim.admin_url,
        key_name=key.name,
    )


def _live_venue(cfg: KashbotConfig) -> VenueAccess:
    api_key = cfg.venue.resolved_api_key()
    if not api_key:
        raise DaemonError("venue.api_key resolved to an empty value")
    check_api_key(api_key, source="the API key")  # before anything starts, not at the first call
    if cfg.account.tier is None:
        raise DaemonError("account.tier is required in live mode (free|developer|enterprise|mm)")
    return VenueAccess(
        api_key=api_key,
        base_url=cfg.venue.base_url,
        tier=cfg.account.tier,
        user_id=cfg.account.user_id,
        webhook_secrets=cfg.sources.webhook.secrets(),
        stream_url=cfg.sources.stream.url,
    )


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


class Daemon:
    """One running bot. ``async with Daemon(cfg) as d: await d.run(duration)``."""

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
        self.engine: Engine
        self.client: KashClient
        self.store: Store
        self.gate: RiskGate
        self.router: OrderRouter
        self.budget: UserBudget
        self.receiver: WebhookReceiver | None = None
        self.stream: StreamSource | None = None
        self.poller: PollerSource | None = None
        self.control: ControlServer | None = None
        self.metrics: DaemonMetrics | None = None
        self.metrics_server: ControlServer | None = None  # only with its own metrics.port
        self._control_token = secrets.token_urlsafe(32)
        self._engine_task: asyncio.Task[None] | None = None
        self.markets: list[str] = []
        self.titles: dict[str, str] = {}
        self._stop = asyncio.Event()
        # Called once, right before strategies stop (a journal marks the spot for replays).
        self.on_strategies_stopping: list[Callable[[], None]] = []
        self._closed = False

    # ---- assembly ----------------------------------------------------------------------------

    async def __aenter__(self) -> Daemon:
        try:
            await self.start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.cfg
        if cfg.venue.mode == "paper":
            self.access = await self._stack.enter_async_context(_paper_venue(cfg, self._sim))
        else:
            self.access = _live_venue(cfg)
        acc = self.access
        register_secret(acc.api_key)
        for s in acc.webhook_secrets:
            register_secret(s)
        register_secret(self._control_token)
        limits = Limits.from_config(cfg.risk, acc.tier)  # a bad limit stops us before any I/O

        self.budget = self.budgets.get(
            acc.user_id,
            tier=acc.tier,
            requests_per_min=cfg.account.requests_per_minute,
            share=cfg.risk.budget_share,  # the sim's rate windows run on wall time: no scaling
        )
        self.client = await self._stack.enter_async_context(
            KashClient(
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
        )
        store_path = cfg.store.resolved_path(self.clock.now())
        if store_path != ":memory:":
            Path(store_path).parent.mkdir(parents=True, exist_ok=True)
        log.info("store_opened", path=store_path)
        self.store = await Store.open(store_path)
        self._stack.push_async_callback(self.store.close)

        run_id = secrets.token_hex(4)
        self.engine = Engine(
            self.clock, run_id=run_id, max_inflight=cfg.engine.max_inflight_intents
        )
        self.gate = RiskGate(
            limits,
            clock=self.clock,
            emit=self.engine.emit,
            max_consecutive_failures=cfg.risk.max_consecutive_failures,
        )
        venue: TradingVenue = self.client
        if cfg.metrics.enabled:
            self.metrics = DaemonMetrics(self.readings)
            self.metrics.attach(self.engine.bus)
            venue = MeteredVenue(self.client, self.metrics)
        ex = cfg.execution
        executor = Executor(
            venue,
            self.gate,
            self.store,
            clock=self.clock,
            emit=self.engine.emit,
            max_intent_age_s=ex.max_intent_age_s,
            unknown_settle_s=ex.unknown_settle_s,
            pool_view=pool_view_of(self.engine.state),
        )
        self.router = OrderRouter(
            self.gate,
            venue,
            self.store,
            emit=self.engine.emit,
            clock=self.clock,
            executor=executor,
            reconcile_interval_s=ex.reconcile_interval_s,
            recovery_attempts=ex.recovery_attempts,
            recovery_backoff_s=ex.recovery_backoff_s,
            recovery_backoff_max_s=ex.recovery_backoff_max_s,
        )
        self.engine.attach_router(self.router)
        self.engine.attach_risk(self.gate)

        await self.router.recover()  # logs its own report
        for pos in await self.store.positions():
            self.engine.state.set_position(pos.market_id, pos.outcome, pos.shares, pos.cost_basis)

        await self._resolve_markets()
        self._add_strategies()
        await self._add_sources()
        await self._start_control()

    async def _resolve_markets(self) -> None:
        if self.cfg.markets == "all":
            found = [m async for m in self.client.iter_markets(status="ACTIVE")]
            self.markets = [m.id for m in found]
            self.titles = {m.id: m.title or m.id for m in found}
        else:
            self.markets = list(self.cfg.markets)
            for mid in self.markets:
                with contextlib.suppress(Exception):
                    m = await self.client.get_market(mid)
                    self.titles[mid] = m.title or mid
        if not self.markets:
            raise DaemonError("no markets to trade (markets: all found no ACTIVE market)")
        log.info("markets", count=len(self.markets), ids=self.markets)

    def _add_strategies(self) -> None:
        for s in self.cfg.strategies:
            markets = s.markets if s.markets is not None else self.markets
            strategy = build_strategy(s.name, s.params, strategy_id=s.id, markets=markets)
            self.engine.add_strategy(strategy, timers=s.timers, protections=s.protections)
            log.info("strategy_loaded", id=strategy.strategy_id, name=s.name, markets=len(markets))

    async def _add_sources(self) -> None:
        cfg, acc = self.cfg.sources, self.access
        if cfg.webhook.enabled:
            if not acc.webhook_secrets and acc.admin_url is None:
                raise DaemonError("sources.webhook is enabled but no webhook secret is configured")
            port = self._webhook_port if self._webhook_port is not None else cfg.webhook.port
            self.receiver = WebhookReceiver(
                secrets=lambda: self.access.webhook_secrets,
                seen=self.store,
                handler=lambda ev: route_to(self.router.on_trade_update, ev),
                clock=self.clock,
                host=cfg.webhook.host,
                port=port,
                path=cfg.webhook.path,
                max_body_bytes=cfg.webhook.max_body_bytes,
                tolerance_ms=int(cfg.webhook.tolerance_s * 1000),
            )
            await self.receiver.start()
            self._stack.push_async_callback(self.receiver.stop)
            if acc.admin_url is not None and acc.key_name is not None:
                await self._register_sim_webhook(self.receiver.url)
            self.engine.add_source(self.receiver)
        if cfg.stream.enabled:
            url = cfg.stream.url or acc.stream_url
            if url is None:
                raise DaemonError("sources.stream is enabled but has no url (Kash has no stream)")
            key = stream_api_key(url, self.client.base_url, acc.api_key)
            if key is None:
                log.warning("stream_without_api_key", reason="not the REST API's host")
            self.stream = StreamSource(
                url,
                key,
                self.markets,
                self.clock,
                heartbeat_timeout=cfg.stream.heartbeat_timeout_s,
                stale_after=cfg.stream.stale_after_s,
                backoff_initial=cfg.stream.backoff_initial_s,
                backoff_max=cfg.stream.backoff_max_s,
            )
            self.engine.add_source(self.stream)
        if cfg.poller.enabled:
            self.poller = PollerSource(
                self.client,
                self.markets,
                self.clock,
                markets_interval=cfg.poller.markets_interval_s,
                predictions_interval=cfg.poller.predictions_interval_s,
                quotes_interval=cfg.poller.quotes_interval_s,
                quote_amount=usdc_to_atomic(cfg.poller.quote_amount_usdc),
                reserve_fraction=cfg.poller.reserve_fraction,
                stale_after=cfg.poller.stale_after_s,
            )
            self.engine.add_source(self.poller)
        if cfg.sim_truth.enabled and acc.admin_url is not None:
            self.engine.add_source(
                SimTruthSource(acc.admin_url, self.clock, cfg.sim_truth.interval_s)
            )

    async def _register_sim_webhook(self, url: str) -> None:
        """Paper: point the sim key's webhook at our receiver (what the webapp does for real)."""
        assert self.access.admin_url is not None and self.access.key_name is not None
        endpoint = f"{self.access.admin_url}/keys/{self.access.key_name}/webhook"
        async with (
            aiohttp.ClientSession() as session,
            session.post(endpoint, json={"url": url}) as resp,
        ):
            resp.raise_for_status()
            body = await resp.json()
        secret = body.get("secret")
        if isinstance(secret, str) and secret:
            register_secret(secret)
            self.access.webhook_secrets = [secret]
        log.info("webhook_registered", url=url)

    async def _start_control(self) -> None:
        c, m = self.cfg.control, self.cfg.metrics
        routes = obs_routes(self.metrics, self.health) if self.metrics is not None else {}
        if routes and m.port is not None:
            port = self._metrics_port if self._metrics_port is not None else m.port
            server = ControlServer(routes=routes, host=m.host, port=port, label="metrics")
            try:
                await server.start()
            except OSError as exc:
                log.warning("metrics_unavailable", port=port, error=str(exc))
            else:
                self.metrics_server = server
                self._stack.push_async_callback(server.stop)
            routes = {}
        if not c.enabled:
            return
        try:
            token_path = self.cfg.control_token_path()
        except ValueError as exc:
            raise DaemonError(f"control.token_file: {exc}") from None
        port = self._control_port if self._control_port is not None else c.port
        self.control = ControlServer(
            status=self.status_json,
            halt=lambda reason: self.gate.halt(reason),
            resume=lambda reason: self.gate.resume(reason),
            reduce=lambda reason: self.gate.reduce(reason),
            confirm=self.router.confirm_held,
            token=self._control_token,
            routes=routes,
            host=c.host,
            port=port,
        )
        try:
            await self.control.start()
        except OSError as exc:
            log.warning("control_unavailable", port=port, error=str(exc))
            self.control = None
            return
        self._stack.push_async_callback(self.control.stop)
        # only once we own the port: a second daemon that failed to bind leaves the token alone
        write_token(token_path, self._control_token)
        self._stack.callback(remove_token, token_path, self._control_token)
        log.info("control_token_written", path=str(token_path))

    # ---- running -----------------------------------------------------------------------------

    def snapshot(self) -> StatusSnapshot:
        sources = {}
        if self.receiver is not None:
            st = self.receiver.stats
            sources["webhook"] = (
                f"{st.accepted} ok, {st.duplicates} dup, {st.bad_signature} bad sig, "
                f"{st.malformed} malformed"
            )
        if self.stream is not None:
            sources["stream"] = f"{self.stream.connects} connects, {self.stream.messages} msgs"
        if self.poller is not None:
            sources["poller"] = f"{self.poller.requests} requests, {self.poller.errors} errors"
        return take_snapshot(
            self.engine.state,
            uptime_s=time.monotonic() - self.started_at,
            now=self.clock.now(),
            router_status=self.router.status(),
            budget=self.budget,
            sources=sources,
        )

    def status_json(self) -> dict[str, Any]:
        """``kashbot status``: the snapshot plus the trades held for a human's confirmation."""
        held = self.router.status().get("held_trades")
        return {**self.snapshot().as_json(), "held_trades": held if isinstance(held, list) else []}

    def readings(self) -> Readings:
        """Scrape-time values for the metrics collector (nothing here runs per event)."""
        engine, state = self.engine, self.engine.state
        now = self.clock.now()
        status = self.router.status()
        stats = self.budget.stats()
        r = Readings(
            trading_state=str(self.gate.state),
            ready=self.health().ready,
            events_processed=engine.events_processed,
            intents_emitted=engine.intents_emitted,
            strategy_errors=engine.strategy_errors,
            inbox_depth=len(engine.inbox),
            inflight_intents=engine.inflight,
            pending_intents=len(state.pending),
            spend_used=_opt_int(status.get("daily_used")),
            spend_cap=_opt_int(status.get("daily_cap")),
            requests_used=stats.used_last_window,
            requests_budget=stats.budget,
            requests_limit=stats.limit,
            quota_rejections=stats.quota_rejections,
            requests_paused_s=stats.paused_for_s,
            market_age_s={
                v.market_id: max(0.0, now - v.updated_ts)
                for v in state.markets.values()
                if v.updated_ts
            },
            market_stale={v.market_id: v.stale for v in state.markets.values()},
        )
        if self.receiver is not None:
            st = self.receiver.stats
            r.webhook = {
                "accepted": st.accepted,
                "duplicate": st.duplicates,
                "bad_signature": st.bad_signature,
                "malformed": st.malformed,
                "too_large": st.too_large,
            }
        if self.stream is not None:
            r.stream_connects = self.stream.connects
            r.stream_disconnects = self.stream.disconnects
        if self.poller is not None:
            r.poller_requests = self.poller.requests
            r.poller_errors = self.poller.errors
        if engine.timer_source is not None:
            r.timers_fired = dict(engine.timer_source.fired)
            r.timers_skipped = engine.timer_source.skipped
        return r

    def health(self) -> Health:
        """Liveness: the engine has not died. Readiness: recovered, started, sources live."""
        task = self._engine_task
        dead = task is not None and task.done()
        checks = {
            "recovered": self.router.ready,
            "strategies_started": self.engine.started,
            "engine_running": task is not None and not task.done(),
        }
        if self.receiver is not None:
            checks["webhook_listening"] = True  # start() raised otherwise
        if self.stream is not None:
            checks["stream_connected"] = self.stream.connects > self.stream.disconnects
        if self.poller is not None:
            checks["poller_answered"] = self.poller.requests > self.poller.errors
        states = self.engine.state.markets.values()
        checks["no_dead_source"] = not any(v.dead_sources for v in states)
        return Health(
            live=not dead,
            ready=all(checks.values()),
            checks=checks,
            detail="engine stopped" if dead else "",
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(self, duration: float | None = None, *, live: Live | None = None) -> Summary:
        """Trade until ``stop()`` or ``duration`` seconds, then shut down and summarise."""
        self.started_at = time.monotonic()
        runner = self._engine_task = asyncio.create_task(self.engine.run(), name="engine")
        refresher = asyncio.create_task(self._refresh(live), name="status-view") if live else None
        lag = (
            asyncio.create_task(
                watch_loop_lag(self.metrics, self.cfg.metrics.loop_lag_interval_s), name="loop-lag"
            )
            if self.metrics is not None
            else None
        )
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
            for helper in (refresher, lag):
                if helper is not None:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper
        return self.summary()

    async def _refresh(self, live: Live) -> None:
        while True:
            live.update(render(self.snapshot(), self.titles))
            await asyncio.sleep(self.cfg.status.refresh_s)

    def summary(self) -> Summary:
        snap = self.snapshot()
        fills = self.engine.state.fills
        return Summary(
            duration_s=time.monotonic() - self.started_at,
            fills=len(fills),
            buys=sum(f.side is Side.BUY for f in fills),
            sells=sum(f.side is Side.SELL for f in fills),
            volume=sum(f.usdc for f in fills),
            pnl=snap.pnl,
            pending=len(self.engine.state.pending),
            denials_by_reason=dict(Counter(d.reason for d in self.engine.state.denials)),
            snapshot=snap,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self.router.close()
        await self._stack.aclose()


async def run_async(
    cfg: KashbotConfig,
    *,
    duration: float | None = None,
    status: bool = True,
    out: TextIO | None = None,
) -> Summary:
    out = out or sys.stdout
    show_status = status and (
        cfg.status.enabled is True or (cfg.status.enabled == "auto" and out.isatty())
    )
    console = Console(file=out) if show_status else None
    configure(
        level=cfg.logging.level,
        fmt=cfg.logging.format,
        writer=(lambda line: console.print(line, markup=False, highlight=False))
        if console is not None
        else None,
        stream=open(cfg.logging.file, "a") if cfg.logging.file else None,  # noqa: SIM115, ASYNC230
    )
    main = asyncio.current_task()
    async with Daemon(cfg) as daemon:
        signals = 0

        def on_signal(signum: int) -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                log.warning("signal_received", signal=signum, action="graceful stop")
                daemon.stop()
            elif main is not None:
                log.error("signal_received", signal=signum, action="forced stop")
                main.cancel()

        def on_kill_switch(halt: bool) -> None:
            name = "SIGUSR1" if halt else "SIGUSR2"
            log.warning("signal_received", signal=name, action="halt" if halt else "resume")
            if halt:
                daemon.gate.halt(f"{name} (operator kill switch)")
            else:
                daemon.gate.resume(f"{name} (operator)")

        uninstall = install_signal_handlers(
            on_signal,
            on_halt=lambda: on_kill_switch(True),
            on_resume=lambda: on_kill_switch(False),
        )
        log.info("daemon_running", signals="INT/TERM stop, USR1 halt, USR2 resume")
        try:
            if console is not None:
                with Live(console=console, refresh_per_second=4, transient=False) as live:
                    summary = await daemon.run(duration, live=live)
            else:
                summary = await daemon.run(duration)
        finally:
            uninstall()
    return summary


def run_daemon(cfg: KashbotConfig, *, duration: float | None = None, status: bool = True) -> int:
    """Entry point of ``kashbot run``; returns the process exit code."""
    try:
        summary = asyncio.run(run_async(cfg, duration=duration, status=status))
    except DaemonError as exc:
        print(f"kashbot run: {exc}", file=sys.stderr)
        return 2
    except (LimitsError, KashConfigError, MoneyError) as exc:
        print(f"kashbot run: {startup_error_text(cfg, exc)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("kashbot run: forced stop", file=sys.stderr)
        return 130
    print(summary.text())
    return 0


def startup_error_text(cfg: KashbotConfig, exc: Exception) -> str:
    """``file:line: key: message`` for a config value the daemon refused at startup.

    ``config check`` finds these first; this covers what only startup sees (a key file changed
    since, the simulator's key of another tier).
    """
    if isinstance(exc, LimitsError):
        key, message = CONFIG_KEYS.get(exc.field, exc.field), exc.message
    elif isinstance(exc, KashConfigError):
        message = str(exc)
        if message.startswith(("base_url", "KASH_BASE_URL")):
            key = "venue.base_url"
        else:
            key = "venue.api_key" if cfg.venue.api_key is not None else "venue.api_key_file"
    else:
        return f"{cfg.where('')}: {exc}"
    return f"{cfg.where(key)}: {key}: {message}"
