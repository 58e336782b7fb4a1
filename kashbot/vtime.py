"""Virtual loop time: an asyncio loop whose clock jumps ahead whenever it would sit idle.

The request budget's buckets (and asyncio timeouts, sleeps, aiohttp) read ``loop.time()``, not a
kashbot Clock. To run minutes of rate-limited traffic in a fraction of a second — with real sockets
on 127.0.0.1 still working — the loop's ``time()`` is virtual: when nothing is ready and no socket
becomes readable within a short real grace period, time advances straight to the next timer. I/O in
flight on loopback is seen within the grace, so it is never skipped. ``LoopClock`` is a
:class:`kashbot.clock.Clock` on the same time, to give a simulator or client the same view.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, grace_s: float) -> None:
        super().__init__()
        self.grace_s = grace_s
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only I/O can wake us
            result: list[tuple[selectors.SelectorKey, int]] = super().select(None)
            return result
        events = super().select(min(self.grace_s, timeout))
        if not events and self.loop is not None:
            self.loop.virtual_now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``time()`` starts at 0 and moves only by jumps over idle periods (see module docstring)."""

    def __init__(self, grace_s: float = 0.002) -> None:
        selector = _JumpingSelector(grace_s)
        super().__init__(selector)
        selector.loop = self
        self.virtual_now = 0.0

    def time(self) -> float:
        return self.virtual_now


class LoopClock:
    """A Clock reading the running loop's time, offset to an epoch start."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.start = start

    def now(self) -> float:
        return self.start + asyncio.get_running_loop().time()

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def run_virtual(coro: Coroutine[Any, Any, T], *, grace_s: float = 0.002) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`."""
    loop = VirtualTimeLoop(grace_s)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
