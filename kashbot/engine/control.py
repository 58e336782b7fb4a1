"""The daemon's control endpoint (loopback only): ``kashbot halt``/``resume``/``reduce``/``status``.

One command core behind two transports: the same ``halt``/``resume`` callables serve a signal, the
CLI (through this endpoint) and tests. It binds loopback only (the config refuses anything else),
because anyone who can reach it can stop trading.

Extra read-only GET routes (``/metrics``, ``/healthz``, ``/readyz`` from :mod:`kashbot.obs.http`)
can be mounted on the same listener; with no actions and only routes, the same class is the
metrics listener of its own when ``metrics.port`` is set.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("kashbot.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlServer:
    def __init__(
        self,
        *,
        status: Callable[[], dict[str, Any]] | None = None,
        halt: Callable[[str], None] | None = None,
        resume: Callable[[str], None] | None = None,
        reduce: Callable[[str], None] | None = None,
        routes: Mapping[str, Handler] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        label: str = "control",
    ) -> None:
        self._status = status
        actions = {"halt": halt, "resume": resume, "reduce": reduce}
        self._actions = {name: fn for name, fn in actions.items() if fn is not None}
        self._routes = dict(routes or {})
        self.label = label
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=4096)
        if self._status is not None:
            app.router.add_get("/status", self._get_status)
        for name in self._actions:
            app.router.add_post(f"/{name}", self._action)
        for path, handler in self._routes.items():
            app.router.add_get(path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        log.info(f"{self.label}_listening", url=self.url, routes=sorted(self._routes))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get_status(self, request: web.Request) -> web.Response:
        assert self._status is not None
        return web.json_response(self._status(), dumps=lambda o: json.dumps(o, default=str))

    async def _action(self, request: web.Request) -> web.Response:
        name = request.path.strip("/")
        reason = "operator via control endpoint"
        if request.can_read_body:
            try:
                body = await request.json()
                if isinstance(body, dict) and isinstance(body.get("reason"), str):
                    reason = body["reason"][:200]
            except (ValueError, UnicodeDecodeError):
                return web.json_response({"error": "body must be JSON"}, status=400)
        self._actions[name](reason)
        log.warning("operator_action", action=name, reason=reason)
        return web.json_response({"ok": True, "action": name, "reason": reason})
