"""Webhook receiver: verify Kash's signature on the raw bytes, dedupe on event id, ack fast.

Order of checks (kash-api §9): size (413) -> signature over the *raw* body, current or previous
secret (401 for malformed/stale/mismatch) -> JSON and schema (400) -> persistent dedupe on the
event id (a redelivery gets 200 and is not processed again) -> enqueue and answer 200. A queue
slot is held before the dedupe await, so a delivery that finds none is answered 503 with
Retry-After and not marked seen (Kash retries 5xx), never acked and dropped. Processing
happens in a worker task, so the answer never waits for the router (Kash wants < 2 s; its hard
timeout is 10 s and a timeout means a retry).

Stopping gives a delivery still being answered ``shutdown_timeout_s``, cancels it and gives it
as long again (aiohttp's two phases; its default of 60 s each let one delivery stuck in the
dedupe await hold ``stop()`` -- and the daemon's shutdown -- for two minutes). An unanswered
delivery is retried by Kash; an answer normally takes milliseconds.

Dedupe is persistent through :class:`SeenEvents` (the Store implements it), so a redelivery after
a restart is still recognised. An event is marked seen before it is processed: if the process
dies in between, the executor's poll fallback still finds the trade's state.

Hostile or slow peers (:mod:`kashbot.inbound`): a connection must send its head within
``limits.header_timeout_s`` and its body within ``limits.body_timeout_s`` (else it is cut, or
answered 408); a delivery is answered within ``limits.request_timeout_s`` (else 503 +
Retry-After, like a stuck store at shutdown); more than ``limits.max_concurrent`` at once -> 503 +
Retry-After. An authentic event of a type Kash added after the four we know is acked (200),
logged once per type, counted in ``stats.unknown_types`` and not processed: a 4xx would be final.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from aiohttp import web

from kashbot.client.webhooks import (
    SIGNATURE_HEADER,
    WebhookEvent,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookUnknownEventType,
    construct_event,
)
from kashbot.clock import Clock
from kashbot.events import Event
from kashbot.inbound import (
    BodyTimeout,
    BodyTooLarge,
    GuardedSite,
    InboundLimits,
    http_url,
)

log = structlog.get_logger("kashbot.webhook")

# The answers every accepted delivery gets, serialised once (json_response dumps per request).
_OK = b'{"ok": true}'
_DUPLICATE = b'{"ok": true, "duplicate": true}'


def _answer(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


WebhookHandler = Callable[[WebhookEvent], Awaitable[object]]
PRUNE_EVERY_S = 6 * 3600.0  # how often old dedupe ids are forgotten
_MAX_UNKNOWN_TYPES = 32  # distinct unknown type names counted by name (metric labels)


class SeenEvents(Protocol):
    """Persistent set of processed webhook event ids (``kashbot.store.Store`` satisfies it)."""

    async def seen(self, event_id: str) -> bool:
        """Record ``event_id``; True if it had been recorded before (a redelivery)."""
        ...


class MemorySeenEvents:
    """In-memory :class:`SeenEvents` for tests and store-less runs (forgets on restart)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    async def seen(self, event_id: str) -> bool:
        if event_id in self._ids:
            return True
        self._ids.add(event_id)
        return False


@dataclass(slots=True)
class WebhookStats:
    accepted: int = 0
    duplicates: int = 0
    bad_signature: int = 0
    malformed: int = 0
    too_large: int = 0
    busy: int = 0  # refused with 503: the queue was full
    handler_errors: int = 0
    slow: int = 0  # answered 408: the body did not arrive within the body deadline
    unknown_types: dict[str, int] = field(default_factory=dict)  # acked, not processed

    def count_unknown(self, event_type: str) -> bool:
        """Count an unknown type; True the first time it is seen (log it once). At most
        ``_MAX_UNKNOWN_TYPES`` names are kept; later ones share the ``other`` label."""
        if event_type not in self.unknown_types and len(self.unknown_types) >= _MAX_UNKNOWN_TYPES:
            event_type = "other"
        first = event_type not in self.unknown_types
        self.unknown_types[event_type] = self.unknown_types.get(event_type, 0) + 1
        return first


class WebhookReceiver:
    """An aiohttp server for one path; a Source whose ``run`` serves until cancelled."""

    name = "webhook"

    def __init__(
        self,
        *,
        secrets: Sequence[str] | Callable[[], Sequence[str]],
        seen: SeenEvents,
        handler: WebhookHandler,
        clock: Clock,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/kash/webhook",
        max_body_bytes: int = 65_536,
        tolerance_ms: int = 300_000,
        queue_size: int = 10_000,
        retry_after_s: int = 30,
        shutdown_timeout_s: float = 1.0,
        limits: InboundLimits | None = None,
        forget_seen_before: Callable[[float], Awaitable[int]] | None = None,
        dedupe_retention_s: float = 90 * 86_400.0,
    ) -> None:
        self._secrets = secrets
        # the dedupe store's pruning (Store.forget_seen_before); None: never pruned
        self._forget_seen_before = forget_seen_before
        self.dedupe_retention_s = dedupe_retention_s
        self._seen = seen
        self._handler = handler
        self._clock = clock
        self.host = host
        self.port = port
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.tolerance_ms = tolerance_ms
        self.stats = WebhookStats()
        self.retry_after_s = retry_after_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self._queue: asyncio.Queue[WebhookEvent] = asyncio.Queue(queue_size)
        self._reserved = 0  # slots held by deliveries awaiting the dedupe store
        self._site = GuardedSite(limits or InboundLimits(), label="webhook")
        self.guard = self._site.guard

    @property
    def url(self) -> str:
        return http_url(self.host, self.port, self.path)

    def _current_secrets(self) -> Sequence[str]:
        return self._secrets() if callable(self._secrets) else self._secrets

    async def start(self) -> None:
        """Bind (port 0 picks a free port, readable from ``.port`` afterwards)."""
        if self._site.runner is not None:
            return
        app = self._site.application(self.max_body_bytes)
        app.router.add_post(self.path, self._receive)
        self.port = await self._site.start(
            app, self.host, self.port, shutdown_timeout=self.shutdown_timeout_s
        )
        log.info("webhook_listening", url=self.url)

    async def stop(self) -> None:
        await self._site.stop()

    async def run(self, emit: Callable[[Event], None]) -> None:
        """Serve and process until cancelled (``emit`` is unused: the handler routes updates)."""
        await self.start()
        pruner = None
        if self._forget_seen_before is not None:
            pruner = asyncio.create_task(self._prune_seen(), name="webhook-seen-prune")
        try:
            while True:
                event = await self._queue.get()
                try:
                    await self._handler(event)
                except Exception:
                    self.stats.handler_errors += 1
                    log.exception("webhook_handler_failed", event_id=event.id, type=event.type)
        finally:
            if pruner is not None:
                pruner.cancel()
                await asyncio.gather(pruner, return_exceptions=True)
            await self.stop()

    async def _prune_seen(self) -> None:
        """Forget dedupe ids older than the retention at start and every PRUNE_EVERY_S: the
        table otherwise only grows, and once it outgrows the store's in-memory window every
        new id costs a lookup on disk. Ids are stamped with wall time (``Store.seen``)."""
        assert self._forget_seen_before is not None
        while True:
            try:
                n = await self._forget_seen_before(time.time() - self.dedupe_retention_s)
                if n:
                    log.info("webhook_seen_pruned", ids=n, retention_s=self.dedupe_retention_s)
            except Exception:
                log.exception("webhook_seen_prune_failed")
            await self._clock.sleep(PRUNE_EVERY_S)

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            body = await self.guard.read_body(request, self.max_body_bytes)
        except BodyTooLarge:
            self.stats.too_large += 1
            log.warning("webhook_rejected", status=413, reason="too_large")
            return web.json_response({"error": "payload too large"}, status=413)
        except BodyTimeout:  # Kash retries a 408; the connection is closed
            self.stats.slow += 1
            return self.guard.refusal(408, "body not received in time", close=True)
        header = request.headers.get(SIGNATURE_HEADER, "")
        try:
            event = construct_event(
                self._current_secrets(),
                header,
                body,
                now_ms=self._clock.now_ms(),
                tolerance_ms=self.tolerance_ms,
            )
        except WebhookSignatureError as exc:
            self.stats.bad_signature += 1
            log.warning("webhook_rejected", status=401, reason=exc.reason)
            return web.json_response(
                {"error": "invalid signature", "reason": exc.reason}, status=401
            )
        except WebhookUnknownEventType as exc:
            if self.stats.count_unknown(exc.event_type):
                log.warning("webhook_unknown_type_ignored", type=exc.event_type)
            return web.json_response({"ok": True, "ignored": True})
        except WebhookPayloadError:
            self.stats.malformed += 1
            log.warning("webhook_rejected", status=400, reason="malformed_body")
            return web.json_response({"error": "malformed body"}, status=400)
        if self._queue.maxsize and self._queue.qsize() + self._reserved >= self._queue.maxsize:
            # Not taken and not marked seen: Kash retries a 5xx, and the retry is processed.
            self.stats.busy += 1
            log.error("webhook_queue_full", event_id=event.id)
            return web.json_response(
                {"error": "busy"}, status=503, headers={"Retry-After": str(self.retry_after_s)}
            )
        self._reserved += 1  # hold a slot across the dedupe await
        # Past the total deadline this await is cancelled as at shutdown: the slot is freed and
        # Kash retries the 503 (an id the store recorded anyway is then a duplicate, and the
        # executor's poll fallback finds the trade's state, as after a crash).
        return _answer(_DUPLICATE if await self._admit(event) else _OK)

    async def _admit(self, event: WebhookEvent) -> bool:
        """Dedupe and enqueue (the caller reserved a slot); True for a duplicate."""
        try:
            duplicate = await self._seen.seen(event.id)
        finally:
            self._reserved -= 1
        if duplicate:
            self.stats.duplicates += 1
            log.info("webhook_duplicate", event_id=event.id, type=event.type)
            return True
        self._queue.put_nowait(event)  # cannot be full: the slot was held (no await since)
        self.stats.accepted += 1
        # no log line per accepted delivery: even filtered, a structlog call cost ~27k
        # instructions (~5 % of the request); stats.accepted and the deliveries metric count
        # them, and the executor logs what each update changes (trade_finished)
        return False


async def route_to(on_trade_update: Callable[..., Awaitable[object]], event: WebhookEvent) -> None:
    """Adapter: a webhook event -> ``OrderRouter.on_trade_update(trade_id, status, ...)``.

    ``tokens_in`` is passed only when the event carries it (the simulator does for sells; Kash
    documents no such field), so a router without the keyword still works with Kash's events.
    """
    d = event.data
    extra = {} if d.tokens_in is None else {"tokens_in": d.tokens_in}
    await on_trade_update(
        d.trade_id, d.status, tokens_out=d.tokens_out, error_code=d.error_code, **extra
    )
