"""What the daemon refuses at startup, for ``kashbot run`` to print as one line (exit code 2)."""

from __future__ import annotations


class DaemonError(RuntimeError):
    """The daemon cannot start with this config (the message says what to change)."""
