"""Deadlines and a concurrency cap for every inbound HTTP listener (aiohttp has neither).

aiohttp waits for ever on a peer that sends its headers or body slowly, and admits any number
of requests at once. :class:`InboundGuard` adds, per listener:

- a **header deadline**: a connection that has not delivered a complete request head within
  ``header_timeout_s`` of connecting is aborted (a slow peer: one warning line);
- a **keep-alive idle limit**: after an answer, the next head must start arriving within
  ``keepalive_idle_s`` (longer than aiohttp clients' own 15 s idle close, so a pooled client
  connection is never cut just as it is reused); an idle connection is closed quietly;
- a **body deadline**: :meth:`InboundGuard.read_body` gives up after ``body_timeout_s``
  (the caller answers 408 and the connection is closed);
- a **total deadline**: a request whose handler is still running after ``request_timeout_s``
  is answered 503 with ``Retry-After`` (None: no total deadline, e.g. the simulator's hangs);
- a **cap**: more than ``max_concurrent`` requests in handlers at once -> 503 + ``Retry-After``
  at once, without reading the body.

A slow peer only ever costs its own connection: nothing here waits on one peer for another.
The header deadline lives on the connection (a timer armed when it is accepted), because
aiohttp calls no handler before the head is complete; :func:`serve` installs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger("kashbot.inbound")


def _peer_fault_is_no_traceback(record: logging.LogRecord) -> bool:
    """aiohttp logs a traceback at ERROR for a request it cannot parse (a 4xx it answers
    itself: line too long, bad header ...). That is the peer's fault: one WARNING line."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.msg = f"{record.msg} ({type(exc).__name__}, answered {exc.code})"
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


# Pass as ``web.AppRunner(app, logger=HTTP_LOG)``: aiohttp's server log for our listeners.
HTTP_LOG = logging.getLogger("kashbot.inbound.http")
HTTP_LOG.addFilter(_peer_fault_is_no_traceback)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_EARLY_S = 0.001  # a connection deadline may fire this much early (timer granularity)


@dataclass(frozen=True, slots=True)
class InboundLimits:
    header_timeout_s: float = 5.0
    body_timeout_s: float = 5.0
    request_timeout_s: float | None = 8.0  # Kash gives a delivery 10 s before it retries
    keepalive_idle_s: float = 30.0  # after an answer; > aiohttp clients' 15 s keep-alive
    max_concurrent: int = 64
    retry_after_s: int = 5  # sent with a 503 for the cap or the total deadline


class BodyTimeout(Exception):
    """The peer did not send its body within ``body_timeout_s``."""


class BodyTooLarge(Exception):
    """The body is larger than the caller allows."""


class InboundGuard:
    """One listener's deadlines and cap; :meth:`middleware` goes first in the app."""

    def __init__(self, limits: InboundLimits, *, label: str) -> None:
        self.limits = limits
        self.label = label
        self.in_flight = 0
        self.refused_busy = 0
        self.timed_out = 0  # header, body and total deadlines together
        self.idle_closed = 0  # keep-alive connections closed for idleness (not a fault)
        self._active: set[RequestHandler] = set()
        # each connection's deadline (when, idle); absent while a handler runs. At most one
        # timer per connection: moving a deadline later only updates _due, and the timer, when
        # it fires early, re-arms itself (cancelling and re-arming on every request cost more
        # than the request's own work, and filled the loop's heap with cancelled timers). Every
        # timer fires or is cancelled, so both maps hold only live connections.
        self._due: dict[RequestHandler, tuple[float, bool]] = {}
        self._timers: dict[RequestHandler, asyncio.TimerHandle] = {}
        self._cut_tasks: set[asyncio.Task[object]] = set()  # handlers past the total deadline
        # handlers running, each with its total deadline, oldest first (every one gets the same
        # request_timeout_s, so insertion order is deadline order); one timer for the oldest
        self._deadlines: dict[asyncio.Task[object], float] = {}
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_loop: asyncio.AbstractEventLoop | None = None  # the loop of that timer

    # ---- connection level: the header deadline

    def watch(self, proto: RequestHandler, *, idle: bool = False) -> RequestHandler:
        """Arm the connection's deadline: the header deadline for a connection just accepted,
        the keep-alive idle limit (``idle``) for one just answered. Re-arming replaces the old
        deadline, so a deadline from an earlier request never cuts a later one."""
        delay = self.limits.keepalive_idle_s if idle else self.limits.header_timeout_s
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        self._due[proto] = (due, idle)
        timer = self._timers.get(proto)
        if timer is None or timer.when() > due:  # none, or one that would fire too late
            if timer is not None:
                timer.cancel()
            self._timers[proto] = loop.call_at(due, self._expire, proto)
        return proto

    def _disarm(self, proto: RequestHandler) -> None:
        """No deadline while a handler runs (its timer lapses when it fires)."""
        self._due.pop(proto, None)

    def _expire(self, proto: RequestHandler) -> None:
        self._timers.pop(proto, None)
        entry = self._due.pop(proto, None)
        if entry is None:
            return  # disarmed: the next watch() arms a new timer
        due, idle = entry
        loop = asyncio.get_running_loop()
        if loop.time() + _EARLY_S < due:  # the deadline moved later since this timer was armed
            self._due[proto] = entry
            self._timers[proto] = loop.call_at(due, self._expire, proto)
            return
        transport = proto.transport
        if proto in self._active or transport is None or transport.is_closing():
            return  # a handler runs (its own deadlines apply), or the connection is gone
        if idle:
            self.idle_closed += 1
            log.debug("inbound_idle_closed", listener=self.label)
        else:
            self.timed_out += 1
            log.warning("inbound_cut", listener=self.label, reason="header_deadline")
        transport.abort()

    # ---- request level: cap, total deadline, body deadline

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        proto = request.protocol
        self._disarm(proto)  # the head is in: the request's own deadlines apply now
        self._active.add(proto)
        resp: web.StreamResponse | None = None
        try:
            if self.in_flight >= self.limits.max_concurrent:
                self.refused_busy += 1
                log.warning("inbound_busy", listener=self.label, in_flight=self.in_flight)
                resp = self.refusal(503, "busy: too many concurrent requests", close=True)
                return resp
            self.in_flight += 1
            try:
                resp = await self._within_deadline(request, handler)
                return resp
            finally:
                self.in_flight -= 1
        finally:
            self._active.discard(proto)
            # keep-alive: the next head must start within the idle limit; a connection we close
            # (or whose handler raised) keeps the short deadline, so a peer that never finishes
            # its unread body cannot hold it through aiohttp's lingering close
            self.watch(proto, idle=resp is not None and resp.keep_alive is not False)

    async def _within_deadline(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The handler, cut at ``request_timeout_s`` (503): the task is cancelled, as
        ``asyncio.timeout`` would, but only a cancel this guard made is turned into the 503; any
        other (shutdown) propagates. One timer for all requests (:meth:`_sweep`), not one per
        request: at full rate thousands of cancelled 8 s timers filled the loop's heap, each
        push and purge paying Python-level comparisons."""
        timeout = self.limits.request_timeout_s
        task = asyncio.current_task()
        if timeout is None or task is None:
            return await handler(request)
        cancelling = task.cancelling()
        loop = asyncio.get_running_loop()
        due = loop.time() + timeout
        self._deadlines[task] = due
        if self._deadline_timer is None or self._deadline_loop is not loop:
            # (a timer of another, closed loop never fires: a guard reused on a new loop re-arms)
            self._deadline_timer = loop.call_at(due, self._sweep)
            self._deadline_loop = loop
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if task not in self._cut_tasks:
                raise
            self._cut_tasks.discard(task)
            if task.uncancel() > cancelling:
                raise  # cancelled from outside as well
            self.timed_out += 1
            log.warning("inbound_cut", listener=self.label, reason="total_deadline")
            return self.refusal(503, "request took too long", close=True)
        finally:
            self._deadlines.pop(task, None)
            if task in self._cut_tasks:  # cut, but the handler swallowed the cancel
                self._cut_tasks.discard(task)
                task.uncancel()

    def _sweep(self) -> None:
        """Cut every handler past its deadline; re-arm for the oldest one left."""
        self._deadline_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + _EARLY_S
        while self._deadlines:
            task, due = next(iter(self._deadlines.items()))
            if due > now:
                self._deadline_timer = loop.call_at(due, self._sweep)
                self._deadline_loop = loop
                return
            del self._deadlines[task]  # cut once; its finally finds it gone
            self._cut(task)

    def _cut(self, task: asyncio.Task[object]) -> None:
        self._cut_tasks.add(task)
        task.cancel()

    async def read_body(self, request: web.Request, max_bytes: int) -> bytes:
        """The whole body within ``body_timeout_s``; raises BodyTimeout or BodyTooLarge."""
        if request.content_length is not None and request.content_length > max_bytes:
            raise BodyTooLarge
        content = request.content
        if content.is_eof():  # all of it arrived with the head: one call, no deadline to arm
            body = content.read_nowait()
            if len(body) > max_bytes:
                raise BodyTooLarge
            return body
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.content.iter_chunked(16_384):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BodyTooLarge
                    chunks.append(chunk)
        except TimeoutError:
            self.timed_out += 1
            log.warning("inbound_cut", listener=self.label, reason="body_deadline")
            raise BodyTimeout from None
        return b"".join(chunks)

    def refusal(self, status: int, message: str, *, close: bool = False) -> web.Response:
        """A JSON error; 503 carries Retry-After; ``close`` drops the connection after it."""
        headers = {"Retry-After": str(self.limits.retry_after_s)} if status == 503 else {}
        resp = web.json_response({"error": message}, status=status, headers=headers)
        if close:
            resp.force_close()  # an unread body must not be parsed as the next request
        return resp


async def serve(
    runner: web.AppRunner, guard: InboundGuard, host: str, port: int
) -> asyncio.AbstractServer:
    """Listen on ``host:port`` with the guard's header deadline on every accepted connection.

    Used instead of ``web.TCPSite`` (whose protocol factory cannot be wrapped). Close the
    returned server before ``runner.cleanup()``.
    """
    protocols = runner.server
    assert protocols is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: guard.watch(protocols()), host, port)


def bound_port(server: asyncio.AbstractServer, default: int) -> int:
    sockets = getattr(server, "sockets", None)
    return int(sockets[0].getsockname()[1]) if sockets else default


def http_url(host: str, port: int, path: str = "") -> str:
    """``http://host:port/path``, an IPv6 host in brackets."""
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}{path}"


class GuardedSite:
    """An aiohttp app served through its own :class:`InboundGuard` (:func:`serve`): build the
    app with the guard's middleware, bind, stop. The webhook receiver and the control server
    both serve this way, so the guard and the site are made together, here."""

    def __init__(self, limits: InboundLimits, *, label: str) -> None:
        self.guard = InboundGuard(limits, label=label)
        self.runner: web.AppRunner | None = None  # set while serving
        self._server: asyncio.AbstractServer | None = None

    def application(self, max_body_bytes: int) -> web.Application:
        """An app whose every request passes the guard (deadlines, concurrency, body size)."""
        return web.Application(client_max_size=max_body_bytes, middlewares=[self.guard.middleware])

    async def start(
        self, app: web.Application, host: str, port: int, *, shutdown_timeout: float = 60.0
    ) -> int:
        """Bind and return the bound port (port 0 picks a free one). A bind that fails or is
        cancelled leaves nothing half set up. ``shutdown_timeout``: aiohttp's, for handlers
        still running at :meth:`stop`."""
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=shutdown_timeout, logger=HTTP_LOG
        )
        await runner.setup()
        try:
            self._server = await serve(runner, self.guard, host, port)
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        return bound_port(self._server, port)

    async def stop(self) -> None:
        """Stop listening, then finish (or cancel) the handlers still running; idempotent."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
