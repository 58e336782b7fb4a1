"""The daemon's HTTP endpoints on 127.0.0.1: control (halt/resume/reduce/confirm/status and
resuming a paused strategy, behind a bearer token written beside the store), the operator's
status page (``/``, :mod:`kashbot.web`) and metrics/health (on the control port, or their own).

A port that is taken stops startup (:class:`DaemonError`, exit 2) before any order: a daemon
without its kill switch and metrics must not trade (the message names the other process if it
can be found, :mod:`~kashbot.app.port_owner`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kashbot.app.control import ControlServer, remove_token, write_token
from kashbot.app.errors import DaemonError
from kashbot.app.port_owner import port_owner
from kashbot.config import KashbotConfig
from kashbot.core import Core
from kashbot.money import fmt_usdc
from kashbot.obs.http import Handler, Health, obs_routes
from kashbot.obs.metrics import DaemonMetrics
from kashbot.obs.status import mark_positions
from kashbot.web.pages import page_routes

log = structlog.get_logger("kashbot.daemon")


@dataclass(slots=True)
class Endpoints:
    control: ControlServer | None = None
    metrics: ControlServer | None = None  # only with its own metrics.port


async def start_endpoints(
    cfg: KashbotConfig,
    core: Core,
    stack: contextlib.AsyncExitStack,
    *,
    token: str,
    status: Callable[[], dict[str, Any]],
    metrics: DaemonMetrics | None,
    health: Callable[[], Health],
    control_port: int | None = None,
    metrics_port: int | None = None,
) -> Endpoints:
    """Start what the config enables; ``stack`` stops them (and removes the token file)."""
    found = Endpoints()
    routes: Mapping[str, Handler] = obs_routes(metrics, health) if metrics is not None else {}
    if routes and cfg.metrics.port is not None:
        port = metrics_port if metrics_port is not None else cfg.metrics.port
        server = ControlServer(routes=routes, host=cfg.metrics.host, port=port, label="metrics")
        try:
            await server.start()
        except OSError as exc:
            raise port_taken("metrics.port", cfg.metrics.host, port, exc) from None
        found.metrics = server
        stack.push_async_callback(server.stop)
        routes = {}
    if cfg.control.enabled:
        found.control = await _start_control(cfg, core, stack, token, status, routes, control_port)
    return found


async def _start_control(
    cfg: KashbotConfig,
    core: Core,
    stack: contextlib.AsyncExitStack,
    token: str,
    status: Callable[[], dict[str, Any]],
    routes: Mapping[str, Handler],
    port: int | None,
) -> ControlServer | None:
    try:
        token_path = cfg.control_token_path()
    except ValueError as exc:
        raise DaemonError(f"control.token_file: {exc}") from None
    c, gate = cfg.control, core.gate
    port = port if port is not None else c.port
    control = ControlServer(
        status=status,
        halt=lambda reason: gate.halt(reason),
        resume=lambda reason: gate.resume(reason),
        reduce=lambda reason: gate.reduce(reason, operator=True),  # lifts an operator halt
        confirm=core.router.confirm_held,
        resume_strategy=lambda sid: resume_strategy(core, sid),
        token=token,
        routes={**routes, **page_routes()},
        reads={"/status/detail": lambda: status_detail(core)},
        host=c.host,
        port=port,
    )
    try:
        await control.start()
    except OSError as exc:
        raise port_taken("control.port", c.host, port, exc) from None
    stack.push_async_callback(control.stop)
    # only once we own the port: a second daemon that failed to bind leaves the token alone
    write_token(token_path, token)
    stack.callback(remove_token, token_path, token)
    log.info("control_token_written", path=str(token_path))
    return control


def resume_strategy(core: Core, strategy_id: str) -> str:
    """Route events to a strategy paused after repeated exceptions again; the error that had
    paused it. ``LookupError``: no such strategy; ``ValueError``: it is not paused."""
    engine = core.engine
    ids = [s.strategy_id for s, _ in engine.strategies]
    if strategy_id not in ids:
        raise LookupError(f"no strategy {strategy_id!r} in this daemon (it runs: {', '.join(ids)})")
    paused_by = engine.errors.paused.get(strategy_id)
    if paused_by is None:
        raise ValueError(f"strategy {strategy_id!r} is not paused")
    engine.resume_strategy(strategy_id)
    return paused_by


def port_taken(key: str, host: str, port: int, exc: OSError) -> DaemonError:
    """Why startup stops: the port, its config key, and who holds it if that can be found."""
    owner = port_owner(port) if port else None
    held = f"held by {owner}" if owner else "held by another process"
    return DaemonError(
        f"{key}: cannot listen on {host}:{port} ({exc.strerror or exc}); {held}. Another kashbot"
        " on this config? Stop it, or give this one another port. Not trading without it."
    )


def status_detail(core: Core) -> dict[str, Any]:
    """What the status page shows beyond ``/status``: why trading is in its state, each held
    trade's market/outcome/side/amount (``/status`` lists ids only), each position's PnL at
    mark (exact, not the difference of two rounded figures), the outcomes' labels."""
    state = core.engine.state
    held = []
    for t in core.router.executor.follower.tracked.values():
        if t.token is None:
            continue
        i = t.intent
        view = state.markets.get(i.market_id)
        labels = view.labels if view is not None else ()
        held.append(
            {
                "trade_id": t.trade_id,
                "market_id": i.market_id,
                "outcome": i.outcome,
                "outcome_label": labels[i.outcome] if i.outcome < len(labels) else None,
                "side": str(i.side),
                "amount_usdc": fmt_usdc(i.amount),
                "strategy": i.strategy,
                "status": t.status,
            }
        )
    return {
        "state": str(core.gate.state),
        "state_reason": core.gate.state_reason,
        "held_trades": held,
        "position_pnl": [
            {"market_id": p.market_id, "outcome": p.outcome, "pnl_usdc": fmt_usdc(p.value - p.cost)}
            for p in mark_positions(state)
        ],
        "labels": {m: list(v.labels) for m, v in state.markets.items() if v.labels},
    }
