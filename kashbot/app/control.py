"""The daemon's control endpoint (loopback only): ``kashbot halt``/``resume``/``reduce``/
``confirm``/``status``, and ``kashbot strategy resume ID`` (``POST /strategy/<id>/resume``: call
a strategy paused after repeated exceptions again).

One command core behind two transports: the same ``halt``/``resume`` callables serve a signal, the
CLI (through this endpoint) and tests. It binds loopback only (the config refuses anything else),
because anyone who can reach it can stop trading, or resume it.

Loopback is not enough on its own: a web page open in the operator's browser can POST to
127.0.0.1 (a "simple" no-cors request needs no preflight). So every control request must carry
``Authorization: Bearer <token>`` (the daemon writes the token to a 0600 file the CLI reads), a
request with an ``Origin`` header (every browser POST has one) is refused unless it comes from
the status page this endpoint serves itself (:func:`kashbot.web.pages.same_origin`: our own
loopback host and port), and POST bodies must be ``Content-Type: application/json`` (which a
page cannot send cross-origin without a CORS preflight, and none is ever answered). Every answer
carries a ``default-src 'self'`` CSP and no-store/no-frame headers.

Every request runs under :mod:`kashbot.inbound`'s deadlines and cap (head and body 5 s each,
25 s in all -- under the CLI's 30 s -- and 16 at once). A confirm still running at the total
deadline is not cancelled (it may have reached the venue): it finishes in the background and
the answer says to check ``kashbot status``.

``reads``: more GET JSON routes behind the token (the page's ``/status/detail``). Extra read-only
GET routes (``/metrics``, ``/healthz``, ``/readyz`` from :mod:`kashbot.obs.http`)
can be mounted on the same listener; with no actions and only routes, the same class is the
metrics listener of its own when ``metrics.port`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from kashbot.inbound import (
    BodyTimeout,
    BodyTooLarge,
    GuardedSite,
    InboundLimits,
    http_url,
)
from kashbot.web.pages import SECURITY_HEADERS, same_origin

log = structlog.get_logger("kashbot.control")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROL_LIMITS = InboundLimits(request_timeout_s=25.0, max_concurrent=16)
MAX_BODY_BYTES = 4096


def write_token(path: Path, token: str) -> None:
    """Write the token readable by this user only (0600), atomically (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file left over from a crash
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove_token(path: Path, token: str) -> None:
    """Delete the token file if it is still ours (another daemon may have replaced it)."""
    with contextlib.suppress(OSError):
        if path.read_text().strip() == token:
            path.unlink()


class ControlServer:
    def __init__(
        self,
        *,
        status: Callable[[], dict[str, Any]] | None = None,
        halt: Callable[[str], None] | None = None,
        resume: Callable[[str], None] | None = None,
        reduce: Callable[[str], None] | None = None,
        confirm: Callable[[str], Awaitable[object]] | None = None,
        resume_strategy: Callable[[str], str] | None = None,
        token: str | None = None,
        routes: Mapping[str, Handler] | None = None,
        reads: Mapping[str, Callable[[], dict[str, Any]]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        label: str = "control",
        limits: InboundLimits = CONTROL_LIMITS,
    ) -> None:
        self._status = status
        actions = {"halt": halt, "resume": resume, "reduce": reduce}
        self._actions = {name: fn for name, fn in actions.items() if fn is not None}
        self._confirm = confirm
        self._resume_strategy = resume_strategy
        if (status or self._actions or confirm or resume_strategy) and not token:
            raise ValueError("token: required for a control endpoint with status or actions")
        self._token = token or ""
        self._routes = dict(routes or {})
        self._reads = dict(reads or {})
        if self._reads and not token:
            raise ValueError("token: required for a control endpoint with reads")
        self.label = label
        self.host = host
        self.port = port
        self._site = GuardedSite(limits, label=label)
        self.guard = self._site.guard
        self._background: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        app = self._site.application(MAX_BODY_BYTES)
        app.on_response_prepare.append(_secure_headers)
        if self._status is not None:
            app.router.add_get("/status", self._get_status)
        for path in self._reads:
            app.router.add_get(path, self._read)
        for name in self._actions:
            app.router.add_post(f"/{name}", self._action)
        if self._confirm is not None:
            app.router.add_post("/confirm", self._confirm_trade)
        if self._resume_strategy is not None:
            app.router.add_post("/strategy/{strategy}/resume", self._strategy_resume)
        for path, handler in self._routes.items():
            app.router.add_get(path, handler)
        self.port = await self._site.start(app, self.host, self.port)
        log.info(f"{self.label}_listening", url=self.url, routes=sorted(self._routes))

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)

    async def stop(self) -> None:
        await self._site.stop()

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Why this request may not control the daemon, as the answer to send; None = allowed."""
        if "Origin" in request.headers and not same_origin(request.headers, self.port):
            log.warning("control_refused", reason="origin", path=request.path)
            return _error(403, "requests from another web page (Origin header) are refused")
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {self._token}".encode()):
            log.warning("control_refused", reason="token", path=request.path)
            resp = _error(401, "Authorization: Bearer <token from the control token file> needed")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp
        if request.method == "POST" and request.content_type != "application/json":
            return _error(415, "Content-Type must be application/json")
        return None

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            raw = await self.guard.read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        except BodyTimeout:
            return self.guard.refusal(408, "body not received in time", close=True)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            return _error(400, "body must be a JSON object")
        return body if isinstance(body, dict) else _error(400, "body must be a JSON object")

    async def _get_status(self, request: web.Request) -> web.Response:
        assert self._status is not None
        if (refused := self._refusal(request)) is not None:
            return refused
        return web.json_response(self._status(), dumps=lambda o: json.dumps(o, default=str))

    async def _read(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        body = self._reads[request.path]()
        return web.json_response(body, dumps=lambda o: json.dumps(o, default=str))

    async def _action(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        name = request.path.strip("/")
        reason = body.get("reason")
        reason = reason[:200] if isinstance(reason, str) else "operator via control endpoint"
        try:
            self._actions[name](reason)
        except ValueError as exc:  # the gate refused the change (e.g. reduce in a venue halt)
            log.warning("operator_action_refused", action=name, error=str(exc))
            return _error(409, str(exc))
        log.warning("operator_action", action=name, reason=reason)
        return web.json_response({"ok": True, "action": name, "reason": reason})

    async def _confirm_trade(self, request: web.Request) -> web.Response:
        """Release a high-value (202) trade the router holds for a human."""
        assert self._confirm is not None
        if (refused := self._refusal(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        trade_id = body.get("trade_id")
        if not isinstance(trade_id, str) or not trade_id:
            return _error(400, "trade_id: a non-empty string is required")
        log.warning("operator_action", action="confirm", trade_id=trade_id)
        # Shielded: a confirm past the total deadline may already be at the venue, so it is
        # left to finish (its outcome is logged) rather than cancelled half-way.
        task: asyncio.Task[object] = asyncio.ensure_future(self._confirm(trade_id))
        self._background.add(task)
        task.add_done_callback(self._confirm_done)
        try:
            status = await asyncio.shield(task)
        except Exception as exc:  # not held, unknown, the venue refused: the operator must know
            log.warning("operator_confirm_failed", trade_id=trade_id, error=str(exc))
            return _error(409, str(exc) or type(exc).__name__)
        if status is False:  # a router that answers "nothing to confirm" instead of raising
            return _error(409, f"trade {trade_id} is not held for confirmation")
        return web.json_response(
            {"ok": True, "action": "confirm", "trade_id": trade_id, "status": str(status)}
        )

    async def _strategy_resume(self, request: web.Request) -> web.Response:
        """Call a paused strategy again: 404 for an id the daemon does not run, 409 for one
        that is not paused (the answer says which)."""
        assert self._resume_strategy is not None
        if (refused := self._refusal(request)) is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        sid = request.match_info["strategy"]
        reason = body.get("reason")
        reason = reason[:200] if isinstance(reason, str) else "operator via control endpoint"
        try:
            paused_by = self._resume_strategy(sid)
        except LookupError as exc:
            return _error(404, str(exc.args[0]) if exc.args else str(exc))
        except ValueError as exc:
            return _error(409, str(exc))
        log.warning("operator_action", action="strategy_resume", strategy=sid, reason=reason)
        return web.json_response(
            {"ok": True, "action": "strategy resume", "strategy": sid, "paused_by": paused_by}
        )

    def _confirm_done(self, task: asyncio.Task[object]) -> None:
        """Retrieve the outcome (also of a confirm whose request hit the total deadline)."""
        self._background.discard(task)
        error = None if task.cancelled() else task.exception()
        log.info("operator_confirm_finished", ok=error is None and not task.cancelled())


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
