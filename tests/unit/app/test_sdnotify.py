"""sd_notify over a real unix datagram socket: READY=1, WATCHDOG=1 while alive, STOPPING=1."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from kashbot.app.sdnotify import notify, run_notifier, watchdog_interval


def test_no_socket_no_op() -> None:
    assert notify("READY=1", env={}) is False
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000"}) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None


async def test_ready_watchdog_stopping(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.setblocking(False)
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}  # ping every 0.05 s
    alive = True
    task = asyncio.create_task(run_notifier(lambda: alive, env))
    loop = asyncio.get_running_loop()
    got: list[str] = []
    try:
        async with asyncio.timeout(30):
            while got.count("WATCHDOG=1") < 2:
                got.append((await loop.sock_recv(server, 256)).decode())
        alive = False
        task.cancel()
        async with asyncio.timeout(30):
            while got[-1] != "STOPPING=1":
                got.append((await loop.sock_recv(server, 256)).decode())
    finally:
        task.cancel()
        server.close()
    assert got[0] == "READY=1"
    assert set(got) == {"READY=1", "WATCHDOG=1", "STOPPING=1"}
