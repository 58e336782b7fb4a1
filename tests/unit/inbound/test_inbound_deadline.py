"""The guard's total deadline (a timer that cancels the handler's task): a stuck handler is cut
with a 503, a cancel from outside (shutdown) still propagates, and a handler that swallows the
cut leaves no cancel pending on the task."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiohttp import web

from kashbot.inbound import InboundGuard, InboundLimits


def guard(timeout: float) -> InboundGuard:
    return InboundGuard(InboundLimits(request_timeout_s=timeout), label="test")


async def test_a_stuck_handler_is_cut_with_503() -> None:
    g = guard(0.05)

    async def stuck(_: Any) -> web.StreamResponse:
        await asyncio.sleep(60)
        raise AssertionError("not cut")

    resp = await g._within_deadline(None, stuck)  # type: ignore[arg-type]
    assert resp.status == 503 and "Retry-After" in resp.headers and g.timed_out == 1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_an_outside_cancel_propagates() -> None:
    g = guard(30.0)
    started = asyncio.Event()

    async def slow(_: Any) -> web.StreamResponse:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not cancelled")

    task = asyncio.create_task(g._within_deadline(None, slow))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert g.timed_out == 0


async def test_a_swallowed_cut_leaves_no_cancel_pending() -> None:
    g = guard(0.05)

    async def stubborn(_: Any) -> web.StreamResponse:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        return web.Response(text="late")

    resp = await g._within_deadline(None, stubborn)  # type: ignore[arg-type]
    assert resp.status == 200
    await asyncio.sleep(0)  # would raise CancelledError here if a cancel were left pending
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


def test_a_guard_reused_on_a_new_loop_still_cuts() -> None:
    """A timer armed on a loop that has since closed never fires: the guard re-arms on the new
    loop (review finding) instead of trusting a handle that is not None."""
    g = guard(0.05)

    async def stuck(_: Any) -> web.StreamResponse:
        await asyncio.sleep(60)
        raise AssertionError("not cut")

    async def abandon() -> None:
        # leaves a handler (and its armed timer) behind when the loop closes
        t = asyncio.create_task(g._within_deadline(None, stuck))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        t.cancel()

    asyncio.run(abandon())
    assert g._deadline_timer is not None  # the old loop's handle stays behind

    async def again() -> int:
        async with asyncio.timeout(10):
            resp = await g._within_deadline(None, stuck)  # type: ignore[arg-type]
        return resp.status

    assert asyncio.run(again()) == 503
