"""``kashbot run``: logging, the live status view, signals and exit codes around a
:class:`~kashbot.app.daemon.Daemon`.

The first SIGINT/SIGTERM stops gracefully, a second cancels at once; SIGUSR1 halts trading and
SIGUSR2 resumes it (the same gate calls as ``kashbot halt``/``resume``). What startup refuses is
one ``file:line: key: message`` line and exit code 2.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import structlog
from rich.console import Console
from rich.live import Live

from kashbot.app.daemon import Daemon
from kashbot.app.errors import DaemonError
from kashbot.app.sdnotify import run_notifier
from kashbot.app.summary import Summary
from kashbot.client.config import KashConfigError
from kashbot.client.pin_checks import VenueMismatch
from kashbot.config import KashbotConfig
from kashbot.core import CoreError
from kashbot.engine.supervisor import install_signal_handlers
from kashbot.money import MoneyError
from kashbot.obs.logging import configure
from kashbot.risk.limits import CONFIG_KEYS, LimitsError

log = structlog.get_logger("kashbot.daemon")


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
        notifier = asyncio.create_task(run_notifier(lambda: daemon.health().live), name="sdnotify")
        try:
            if console is not None:
                with Live(console=console, refresh_per_second=4, transient=False) as live:
                    summary = await daemon.run(duration, live=live)
            else:
                summary = await daemon.run(duration)
        finally:
            notifier.cancel()
            uninstall()
    return summary


def run_daemon(cfg: KashbotConfig, *, duration: float | None = None, status: bool = True) -> int:
    """Entry point of ``kashbot run``; returns the process exit code."""
    try:
        summary = asyncio.run(run_async(cfg, duration=duration, status=status))
    except (DaemonError, CoreError, VenueMismatch) as exc:
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
