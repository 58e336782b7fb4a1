"""Delivers the venue's webhook outbox over HTTP, one attempt in flight per key (FIFO).

The venue decides what is due and signs it; this shell only POSTs, times out after
``webhooks.timeout_s``, follows no redirects, and books the result back into the venue.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from kashbot.sim.models import Delivery
from kashbot.sim.venue import Venue


class WebhookDeliverer:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._main = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            for d in self.venue.due_deliveries():
                task = asyncio.create_task(self._send(d))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):  # wait_for (3.11) can drop stop()'s cancel
                    await self.wake.wait()
            self.wake.clear()

    async def _post(self, d: Delivery) -> tuple[int | None, bool, str | None]:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.venue.scenario.webhooks.timeout_s)
        try:
            async with self._session.post(
                d.url, data=d.body, headers=d.headers, timeout=timeout, allow_redirects=False
            ) as resp:
                await resp.read()
                return resp.status, False, None
        except TimeoutError:
            return None, True, "timed out"
        except aiohttp.ClientError as exc:
            return None, False, type(exc).__name__

    async def _send(self, d: Delivery) -> None:
        venue = self.venue
        status: int | None
        error: str | None
        if venue.webhook_outage(d.key_id, venue.clock.now()):
            status, timed_out, error = None, False, "receiver outage (fault)"
        else:
            status, timed_out, error = await self._post(d)
            if d.duplicate and status is not None and 200 <= status < 300:
                await self._post(d)
        venue.record_delivery(d.event_id, status, timed_out=timed_out, error=error)
        self.wake.set()
