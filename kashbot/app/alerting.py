"""The daemon's alerts (:mod:`kashbot.alerts`): channels from the ``alerts:`` section, the
service on the engine's bus, stopped with the daemon; and the one alert sent when startup
recovery fails (before there is a service to send it).

Each channel's URL comes from its ``url_env`` variable or ``url_file``; it is registered as a
secret (masked in every log line) and never printed, not even in the error for a bad one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from kashbot.alerts.channels import apprise_sender, valid_url
from kashbot.alerts.config import AlertsConfig
from kashbot.alerts.dispatch import AlertDispatcher, Channel
from kashbot.alerts.rules import recovery_alert, strategy_paused_alert
from kashbot.alerts.service import AlertService
from kashbot.app.errors import DaemonError
from kashbot.config import KashbotConfig
from kashbot.core import Core
from kashbot.execution.recovery import RecoveryError
from kashbot.obs.logging import register_secret

log = structlog.get_logger("kashbot.alerts")


def channel_url(cfg: AlertsConfig, index: int, env: Mapping[str, str]) -> str:
    ch = cfg.channels[index]
    where = f"alerts.channels[{index}]"
    if ch.url_env is not None:
        url, source = env.get(ch.url_env, "").strip(), f"${ch.url_env}"
        if not url:
            raise DaemonError(f"{where}.url_env: {ch.url_env} is not set (or empty)")
    else:
        assert ch.url_file is not None
        try:
            lines = Path(ch.url_file).read_text().splitlines()
        except OSError as exc:
            raise DaemonError(f"{where}.url_file: {ch.url_file}: {exc.strerror}") from None
        url, source = (lines[0].strip() if lines else ""), ch.url_file
        if not url:
            raise DaemonError(f"{where}.url_file: {ch.url_file} is empty")
    register_secret(url)
    if not valid_url(url):
        raise DaemonError(f"{where}: the URL in {source} is not an apprise URL apprise knows")
    return url


def build_dispatcher(cfg: AlertsConfig, env: Mapping[str, str]) -> AlertDispatcher:
    channels = []
    for i, ch in enumerate(cfg.channels):
        url = channel_url(cfg, i, env)
        events = None if ch.events == "all" else frozenset(ch.events)
        name = ch.name or ch.url_env or f"channel{i}"
        channels.append(Channel(name, apprise_sender(url), events, ch.min_level))
    return AlertDispatcher(
        channels,
        dedup_window_s=cfg.dedup_window_s,
        max_per_minute=cfg.max_per_minute,
        queue_size=cfg.queue_size,
        send_timeout_s=cfg.send_timeout_s,
    )


async def start_alerts(
    cfg: KashbotConfig,
    core: Core,
    stack: contextlib.AsyncExitStack,
    status: Callable[[], dict[str, Any]],
    env: Mapping[str, str] | None = None,
) -> AlertService | None:
    """The alert service on ``core``'s bus, stopped by ``stack``; None when no channel."""
    if not cfg.alerts.active:
        return None
    dispatcher = build_dispatcher(cfg.alerts, os.environ if env is None else env)
    service = AlertService(
        cfg.alerts,
        dispatcher,
        status=status,
        unknown_intents=lambda: core.router.executor.unknown_intents,
    )
    service.attach(core.engine.bus)
    errors = core.engine.errors

    def paused(sid: str, n: int, err: str) -> None:  # a strategy stopped after repeated errors
        dispatcher.submit(strategy_paused_alert(sid, n, err, errors.pauses.get(sid, 1)))

    errors.on_pause.append(paused)
    service.start()
    stack.push_async_callback(service.stop)
    log.info("alerts_started", channels=[c.name for c in dispatcher.channels])
    return service


async def alert_startup_failure(cfg: KashbotConfig, error: BaseException) -> None:
    """Startup recovery failed: send that one alert directly (bounded), then let it raise."""
    if not isinstance(error, RecoveryError) or not cfg.alerts.active:
        return
    try:
        dispatcher = build_dispatcher(cfg.alerts, os.environ)
    except DaemonError as exc:
        log.warning("alerts_unavailable", error=str(exc))
        return
    dispatcher.submit(recovery_alert(error))
    sender = asyncio.create_task(dispatcher.run())
    await dispatcher.flush(cfg.alerts.send_timeout_s)
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    dispatcher.close()
