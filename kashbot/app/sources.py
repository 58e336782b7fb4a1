"""The daemon's event sources: webhook receiver, stream, poller, fair values (the
:class:`~kashbot.fairvalue.FairValueHub`) and (paper) the simulator's truth.

Each is built from its config section, added to the engine, and reported on by
:class:`DaemonSources` (status line, metrics readings, readiness checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from kashbot.app.errors import DaemonError
from kashbot.app.venue_access import VenueAccess, register_sim_webhook
from kashbot.client import KashClient
from kashbot.client.models import Market
from kashbot.clock import Clock
from kashbot.config import SourcesConfig
from kashbot.core import Core
from kashbot.fairvalue import FairValueConfigError, FairValueHub, FairValuesConfig
from kashbot.inbound import InboundLimits
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
    fair_values: FairValueHub | None = None

    def fair_value_view(self) -> dict[str, Any] | None:
        """Per market: seconds since a source last vouched for its fair value (None: never),
        the stale ones (buys refused), and each source's restarts; None without sources."""
        hub = self.fair_values
        if hub is None:
            return None
        return {
            "age_s": {m: None if a is None else round(a, 1) for m, a in sorted(hub.ages().items())},
            "stale": sorted(hub.stale()),
            "restarts": _restarts(hub),
        }

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
        fv = self.fair_value_view()
        if fv is not None:
            lines["fair_values"] = (
                f"{len(fv['restarts'])} sources, {len(fv['age_s'])} markets, "
                f"{len(fv['stale'])} stale, {sum(fv['restarts'].values())} restarts"
            )
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
        hub = self.fair_values
        if hub is not None:
            ages = hub.ages()
            r.fair_value_age_s = {m: a for m, a in ages.items() if a is not None}
            stale = hub.stale()
            r.fair_value_stale = {m: m in stale for m in ages}
            r.fair_value_restarts = {
                s.source_id: hub.restarts.get(s.source_id, 0) for s in hub.sources
            }

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


def _restarts(hub: FairValueHub) -> dict[str, int]:
    """Every source's restart count (0 for one that never died)."""
    return {s.source_id: hub.restarts.get(s.source_id, 0) for s in hub.sources}


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
    fair_values: FairValuesConfig | None = None,
) -> DaemonSources:
    """Build the enabled sources for ``core.markets`` and add them to the engine (which starts
    them when it runs); the webhook receiver listens at once (``stack`` stops it)."""
    found = DaemonSources()
    if fair_values is not None and fair_values.sources:
        found.fair_values = _fair_value_hub(fair_values, core, clock)
        core.engine.add_source(found.fair_values)
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
        found.stream = StreamSource(url, key, list(core.markets), clock, cfg.stream)
        core.engine.add_source(found.stream)
    if cfg.poller.enabled:
        found.poller = PollerSource(
            client,
            list(core.markets),
            clock,
            cfg.poller,
            on_error=core.gate.note_error,  # a wrong API version pin halts, naming the pin
            selects=discovery.selects if discovery is not None else None,
            on_new_markets=discovery.on_new if discovery is not None else None,
            retire=discovery.retire if discovery is not None else None,
            budget_paced=True,  # the client's RequestBudget paces every request on its bucket
        )
        core.engine.add_source(found.poller)
    if cfg.sim_truth.enabled and access.admin_url is not None:
        core.engine.add_source(SimTruthSource(access.admin_url, clock, cfg.sim_truth.interval_s))
    return found


def _fair_value_hub(cfg: FairValuesConfig, core: Core, clock: Clock) -> FairValueHub:
    """The hub runs under the engine's supervisor like the other sources (each of its own
    sources is restarted by the hub); the gate refuses buys where its values are stale."""
    try:
        hub = FairValueHub.from_config(cfg, clock, on_stale_change=core.gate.set_fair_value_stale)
    except FairValueConfigError as exc:  # a config not validated by kashbot.config.check
        raise DaemonError(f"fair_values: {exc}") from None
    log.info("fair_values_configured", sources=[s.source_id for s in hub.sources])
    return hub


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
        forget_seen_before=core.store.forget_seen_before,
        dedupe_retention_s=wh.dedupe_retention_days * 86_400.0,
    )
    await receiver.start()
    stack.push_async_callback(receiver.stop)
    if access.admin_url is not None and access.key_name is not None:
        await register_sim_webhook(access, receiver.url)
    return receiver
