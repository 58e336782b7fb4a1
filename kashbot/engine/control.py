"""The daemon's control endpoint (loopback only): ``kashbot halt``/``resume``/``reduce``/``status``.

One command core behind two transports: the same ``halt``/``resume`` callables serve a signal, the
CLI (through this endpoint) and tests. It binds loopback only (the config refuses anything else),
because anyone who can reach it can stop trading.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("kashbot.control")


class ControlServer:
    def __init__(
        self,
        *,
        status: Callable[[], dict[str, Any]],
        halt: Callable[[str], None],
        resume: Callable[[str], None],
        reduce: Callable[[str], None],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._status = status
        self._actions = {"halt": halt, "resume": resume, "reduce": reduce}
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=4096)
        app.router.add_get("/status", self._get_status)
        for name in self._actions:
            app.router.add_post(f"/{name}", self._action)
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
        log.info("control_listening", url=f"http://{self.host}:{self.port}")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get_status(self, request: web.Request) -> web.Response:
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
