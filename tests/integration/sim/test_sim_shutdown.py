"""The simulator stops even when work is scheduled in the same loop step as the stop.

``SimServer._tick`` and ``WebhookDeliverer._run`` used to park in
``asyncio.wait_for(event.wait(), t)``. On Python 3.11 ``wait_for`` returns the inner result and
drops a cancellation that arrives while the inner wait has just completed, so ``stop()`` awaited a
task that kept looping (now ``asyncio.timeout``): a teardown hang seen in the full suite
(``run_sim`` fixture teardown, after pytest-timeout had already been cancelled by the test's
failure, so nothing ever ended the run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kashbot.clock import WallClock
from kashbot.sim.app import SimServer
from kashbot.sim.deliverer import WebhookDeliverer
from kashbot.sim.embedded import prepare_scenario
from kashbot.sim.venue import Venue


def _venue() -> Venue:
    return Venue(prepare_scenario(None, noise=False), clock=WallClock(), seed=1)


async def _settle() -> None:
    """Let the loops park in their timed waits (a few steps, well inside their 50 ms timeouts)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _stops(stop: Callable[[], Awaitable[None]], leftover: list[asyncio.Task[None]]) -> bool:
    """Run ``stop`` and report whether it ended; a stuck stop is unstuck so nothing leaks."""
    stopping = asyncio.ensure_future(stop())
    done, _ = await asyncio.wait({stopping}, timeout=2.0)  # ~10 ms when it works
    if not done:
        for task in leftover:
            task.cancel()  # a second cancel lands: the wake is not set again
        await asyncio.wait_for(stopping, 5.0)
    return bool(done)


async def test_server_stop_right_after_a_kick_returns() -> None:
    server = SimServer(_venue())
    await server.start()
    await _settle()
    assert server._ticker is not None
    server.kick()  # e.g. an admin change or a scheduled webhook, in the stop's loop step
    assert await _stops(server.stop, [server._ticker])


async def test_deliverer_stop_right_after_a_wake_returns() -> None:
    deliverer = WebhookDeliverer(_venue())
    await deliverer.start()
    await _settle()
    assert deliverer._main is not None
    deliverer.wake.set()  # a delivery became due in the stop's loop step
    assert await _stops(deliverer.stop, [deliverer._main])
