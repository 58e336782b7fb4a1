"""Assembles the simulator: HTTP API + admin + stream + webhook deliverer + the clock ticker."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from kashbot.inbound import HTTP_LOG, InboundGuard, InboundLimits, bound_port, serve
from kashbot.sim.admin import ADMIN_HUB, ADMIN_KICK, ADMIN_VENUE, add_admin_routes, admin_guard
from kashbot.sim.deliverer import WebhookDeliverer
from kashbot.sim.server import VENUE, add_api_routes, kash_edge
from kashbot.sim.stream import StreamHub
from kashbot.sim.venue import Venue

TICK_S = 0.25  # longest the ticker sleeps; it wakes earlier when work is scheduled sooner


# Slow heads and bodies are cut (5 s); no total deadline, so armed `hang` faults still hang.
SIM_LIMITS = InboundLimits(request_timeout_s=None, max_concurrent=1024)


def build_app(
    venue: Venue, hub: StreamHub | None = None, guard: InboundGuard | None = None
) -> web.Application:
    hub = hub or StreamHub(venue)
    first = [guard.middleware] if guard is not None else []
    app = web.Application(middlewares=[*first, admin_guard, kash_edge])
    app[VENUE] = venue
    app[ADMIN_VENUE] = venue
    app[ADMIN_HUB] = hub
    app[ADMIN_KICK] = lambda: None
    app.router.add_get("/v1/stream", hub.handle)
    add_api_routes(app)
    add_admin_routes(app)
    return app


class SimServer:
    """Runs a venue behind HTTP on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, venue: Venue, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.venue = venue
        self.host = host
        self.port = port
        self.hub = StreamHub(venue)
        self.guard = InboundGuard(SIM_LIMITS, label="sim")
        self.app = build_app(venue, self.hub, self.guard)
        self.app[ADMIN_KICK] = self.kick
        self.deliverer = WebhookDeliverer(venue)
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.port}/_sim"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/stream"

    def kick(self) -> None:
        """Run due work now (after an admin change or a manual clock advance)."""
        self._wake.set()
        self.deliverer.wake.set()

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app,
            handler_cancellation=True,
            shutdown_timeout=0.5,
            access_log=None,
            logger=HTTP_LOG,
        )
        await self._runner.setup()
        self._server = await serve(self._runner, self.guard, self.host, self.port)
        self.port = bound_port(self._server, self.port)
        self.venue.on_schedule = lambda _t: self.kick()
        await self.deliverer.start()
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        venue = self.venue
        while True:
            venue.advance()
            due = venue.next_due()
            delay = TICK_S if due is None else min(TICK_S, max(0.0, due - venue.clock.now()))
            self._wake.clear()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):  # wait_for (3.11) can drop stop()'s cancel
                        await self._wake.wait()
            else:
                await asyncio.sleep(0)

    async def stop(self) -> None:
        self.venue.on_schedule = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.deliverer.stop()
        await self.hub.close_all()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
