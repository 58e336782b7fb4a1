"""systemd's notify protocol (``Type=notify``, ``WatchdogSec=``): READY=1 once the daemon runs,
WATCHDOG=1 while its engine is alive, STOPPING=1 on the way out.

A datagram to ``$NOTIFY_SOCKET`` is the whole protocol (sd_notify(3)); without the variable
(not under systemd) every call is a no-op. The watchdog pings at half ``$WATCHDOG_USEC`` and
only while ``alive()`` holds, so a wedged loop or a dead engine gets the unit restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("kashbot.sdnotify")


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one notify message; False when not under systemd or the socket refuses it."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify_failed", error=str(exc), message=message)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), None when no watchdog is set for us."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    with contextlib.suppress(ValueError):
        return max(int(usec) / 2_000_000, 0.05)
    return None


async def run_notifier(alive: Callable[[], bool], env: Mapping[str, str] | None = None) -> None:
    """READY=1 now, then WATCHDOG=1 every interval while ``alive()``; STOPPING=1 when cancelled."""
    if not notify("READY=1", env):
        return
    interval = watchdog_interval(env)
    try:
        while interval is not None:
            await asyncio.sleep(interval)
            if alive():
                notify("WATCHDOG=1", env)
        await asyncio.Event().wait()  # no watchdog: just wait to send STOPPING=1
    finally:
        notify("STOPPING=1", env)
