"""The daemon's event sources: webhook receiver, stream, poller and (paper) the simulator's truth.

Each is built from its config section, added to the engine, and reported on by
:class:`DaemonSources` (status line, metrics readings, readiness checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from kashbot.app.errors import DaemonError
from kashbot.app.venue_access import VenueAccess, register_sim_webhook
from kashbot.client import KashClient
from kashbot.client.models import Market
from kashbot.clock import Clock
from kashbot.config import SourcesConfig
from kashbot.core import Core
from kashbot.inbound import InboundLimits
from kashbot.money import usdc_to_atomic
from kashbot.obs.metrics import Readings
from kashbot.sources.poller import PollerSource
from kashbot.sources.sim_truth import SimTruthSource
from kashbot.sources.stream import StreamSource, stream_api_key
from kashbot.sources.webhook import WebhookReceiver, route_to

log = structlog.get_logger("kashbot.daemon")


@dataclass(frozen=True, slots=True)
class Discovery:
    """Markets the selection takes while running (``markets: all`` or ``{chains: [...]}``)."""

    selects: Callable[[Market], bool]
    on_new: Callable[[list[str]], None]
    retire: Callable[[str], bool]


@dataclass(slots=True)
class DaemonSources:
    """The sources that run (None: disabled), and what the status view and metrics say of them."""

    receiver: WebhookReceiver | None = None
    stream: StreamSource | None = None
    poller: PollerSource | None = None

    def status_lines(self) -> dict[str, str]:
        lines = {}
        if self.receiver is not None:
            st = self.receiver.stats
            lines["webhook"] = (
                f"{st.accepted} ok, {st.duplicates} dup, {st.bad_signature} bad sig, "
                f"{st.malformed} malformed"
            )
        if self.stream is not None:
            lines["stream"] = f"{self.stream.connects} connects, {self.stream.messages} msgs"
        if self.poller is not None:
            lines["poller"] = f"{self.poller.requests} requests, {self.poller.errors} errors"
        return lines

    def read_into(self, r: Readings) -> None:
        """The sources' counters, at scrape time."""
        if self.receiver is not None:
            st = self.receiver.stats
            r.webhook = {
                "accepted": st.accepted,
                "duplicate": st.duplicates,
                "bad_signature": st.bad_signature,
                "malformed": st.malformed,
                "too_large": st.too_large,
            }
            r.webhook_unknown_types = dict(st.unknown_types)
        if self.stream is not None:
            r.stream_connects = self.stream.connects
            r.stream_disconnects = self.stream.disconnects
        if self.poller is not None:
            r.poller_requests = self.poller.requests
            r.poller_errors = self.poller.errors

    def checks(self) -> dict[str, bool]:
        """Readiness: each running source is live."""
        checks = {}
        if self.receiver is not None:
            checks["webhook_listening"] = True  # start_sources raised otherwise
        if self.stream is not None:
            checks["stream_connected"] = self.stream.connects > self.stream.disconnects
        if self.poller is not None:
            checks["poller_answered"] = self.poller.requests > self.poller.errors
        return checks


async def start_sources(
    cfg: SourcesConfig,
    access: VenueAccess,
    client: KashClient,
    core: Core,
    clock: Clock,
    stack: contextlib.AsyncExitStack,
    *,
    webhook_port: int | None = None,
    discovery: Discovery | None = None,
) -> DaemonSources:
    """Build the enabled sources for ``core.markets`` and add them to the engine (which starts
    them when it runs); the webhook receiver listens at once (``stack`` stops it)."""
    found = DaemonSources()
    if cfg.webhook.enabled:
        found.receiver = await _start_receiver(cfg, access, core, clock, stack, webhook_port)
        core.engine.add_source(found.receiver)
    if cfg.stream.enabled:
        url = cfg.stream.url or access.stream_url
        if url is None:
            raise DaemonError("sources.stream is enabled but has no url (Kash has no stream)")
        key = stream_api_key(url, client.base_url, access.api_key)
        if key is None:
            log.warning("stream_without_api_key", reason="not the REST API's host")
        found.stream = StreamSource(
            url,
            key,
            list(core.markets),
            clock,
            heartbeat_timeout=cfg.stream.heartbeat_timeout_s,
            stale_after=cfg.stream.stale_after_s,
            backoff_initial=cfg.stream.backoff_initial_s,
            backoff_max=cfg.stream.backoff_max_s,
        )
        core.engine.add_source(found.stream)
    if cfg.poller.enabled:
        found.poller = PollerSource(
            client,
            list(core.markets),
            clock,
            markets_interval=cfg.poller.markets_interval_s,
            predictions_interval=cfg.poller.predictions_interval_s,
            quotes_interval=cfg.poller.quotes_interval_s,
            quote_amount=usdc_to_atomic(cfg.poller.quote_amount_usdc),
            reserve_fraction=cfg.poller.reserve_fraction,
            stale_after=cfg.poller.stale_after_s,
            on_error=core.gate.note_error,  # a wrong API version pin halts, naming the pin
            discover_interval=cfg.poller.discover_interval_s,
            selects=discovery.selects if discovery is not None else None,
            on_new_markets=discovery.on_new if discovery is not None else None,
            retire=discovery.retire if discovery is not None else None,
        )
        core.engine.add_source(found.poller)
    if cfg.sim_truth.enabled and access.admin_url is not None:
        core.engine.add_source(SimTruthSource(access.admin_url, clock, cfg.sim_truth.interval_s))
    return found


async def _start_receiver(
    cfg: SourcesConfig,
    access: VenueAccess,
    core: Core,
    clock: Clock,
    stack: contextlib.AsyncExitStack,
    port: int | None,
) -> WebhookReceiver:
    """Listen for trade webhooks (routed to the order router); paper: register our URL."""
    wh = cfg.webhook
    if not access.webhook_secrets and access.admin_url is None:
        raise DaemonError("sources.webhook is enabled but no webhook secret is configured")
    router = core.router
    receiver = WebhookReceiver(
        secrets=lambda: access.webhook_secrets,  # paper: replaced when the webhook is registered
        seen=core.store,
        handler=lambda ev: route_to(router.on_trade_update, ev),
        clock=clock,
        host=wh.host,
        port=port if port is not None else wh.port,
        path=wh.path,
        max_body_bytes=wh.max_body_bytes,
        tolerance_ms=int(wh.tolerance_s * 1000),
        limits=InboundLimits(
            header_timeout_s=wh.header_timeout_s,
            body_timeout_s=wh.body_timeout_s,
            request_timeout_s=wh.request_timeout_s,
            max_concurrent=wh.max_concurrent,
        ),
    )
    await receiver.start()
    stack.push_async_callback(receiver.stop)
    if access.admin_url is not None and access.key_name is not None:
        await register_sim_webhook(access, receiver.url)
    return receiver
