"""Who listens on a local TCP port: for the message of a daemon that cannot bind its endpoint.

Linux only, best effort and read-only: the listening socket's inode from ``/proc/net/tcp{,6}``,
then the process whose ``/proc/PID/fd`` holds it (only our own user's processes are readable).
Only its pid and name (``/proc/PID/comm``) are given, never its arguments (they may hold secrets).
Anything else (another OS, another user's process) answers None and the message says so.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_LISTEN = "0A"
_PROC = Path("/proc")


def _listening_inodes(port: int, proc: Path) -> set[str]:
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / "net" / table).read_text().splitlines()[1:]:
                cols = line.split()
                if (
                    len(cols) > 9
                    and cols[3] == _LISTEN
                    and int(cols[1].rsplit(":", 1)[1], 16) == port
                ):
                    found.add(cols[9])
    return found


def port_owner(port: int, proc: Path = _PROC) -> str | None:
    """``"pid 123 (python3)"`` for the process listening on ``port``, or None if unknown."""
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port, proc)}
    if not inodes:
        return None
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return f"pid {pid_dir.name} ({_name(pid_dir)})"
    return None


def _name(pid_dir: Path) -> str:
    with contextlib.suppress(OSError):
        return (pid_dir / "comm").read_text().strip() or "name unknown"
    return "name unknown"
