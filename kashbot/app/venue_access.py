"""Where and as whom the daemon trades, and which markets the venue offers it.

Live mode reads the key, tier and webhook secrets from the config. Paper mode starts the simulator
in-process on 127.0.0.1 (or reuses one a test or ``kashbot record`` started), takes its test key
of the configured tier, and later points that key's webhook at our receiver through the
simulator's admin API (what the webapp does for a real key).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from kashbot.app.errors import DaemonError
from kashbot.client import KashClient
from kashbot.client.config import check_api_key
from kashbot.client.errors import KashError
from kashbot.client.pin_checks import check_startup, pin_halt_reason
from kashbot.config import KashbotConfig
from kashbot.core import resolve_markets
from kashbot.obs.logging import register_secret

log = structlog.get_logger("kashbot.daemon")


@dataclass(slots=True)
class VenueAccess:
    """Where and as whom we trade (resolved from config, or from the in-process simulator).

    The key and the webhook secrets stay out of ``repr`` (tracebacks, debug logs print it).
    """

    api_key: str = field(repr=False)
    base_url: str | None
    tier: str
    user_id: str
    webhook_secrets: list[str] = field(repr=False)
    stream_url: str | None
    admin_url: str | None = None  # simulator only
    key_name: str | None = None  # simulator only


@contextlib.asynccontextmanager
async def venue_access(cfg: KashbotConfig, sim: Any | None = None) -> AsyncIterator[VenueAccess]:
    """The config's venue: live, or paper on ``sim`` (``run_sim``'s handle; None: start one)."""
    if cfg.venue.mode == "paper":
        async with _paper_venue(cfg, sim) as access:
            yield access
    else:
        yield _live_venue(cfg)


@contextlib.asynccontextmanager
async def _paper_venue(cfg: KashbotConfig, sim: Any | None) -> AsyncIterator[VenueAccess]:
    """Start (or reuse) the simulator and pick its test key of the configured tier."""
    if sim is None:
        from kashbot.sim.embedded import run_sim

        scfg = cfg.venue.sim
        async with (
            run_sim(scfg.scenario, seed=scfg.seed, time_scale=scfg.time_scale) as started,
            _paper_venue(cfg, started) as access,
        ):
            yield access
        return
    key = sim.key(cfg.venue.sim.key_tier)
    yield VenueAccess(
        api_key=key.api_key,
        base_url=sim.base_url,
        tier=key.tier,
        user_id=cfg.account.user_id if cfg.account.user_id != "default" else key.user_id,
        webhook_secrets=[key.webhook_secret] if key.webhook_secret else [],
        stream_url=sim.stream_url,
        admin_url=sim.admin_url,
        key_name=key.name,
    )


def _live_venue(cfg: KashbotConfig) -> VenueAccess:
    api_key = cfg.venue.resolved_api_key()
    if not api_key:
        raise DaemonError("venue.api_key resolved to an empty value")
    check_api_key(api_key, source="the API key")  # before anything starts, not at the first call
    if cfg.account.tier is None:
        raise DaemonError("account.tier is required in live mode (free|developer|enterprise|mm)")
    return VenueAccess(
        api_key=api_key,
        base_url=cfg.venue.base_url,
        tier=cfg.account.tier,
        user_id=cfg.account.user_id,
        webhook_secrets=cfg.sources.webhook.secrets(),
        stream_url=cfg.sources.stream.url,
    )


async def register_sim_webhook(access: VenueAccess, url: str) -> None:
    """Paper: point the sim key's webhook at our receiver; its new secret replaces ours."""
    assert access.admin_url is not None and access.key_name is not None
    endpoint = f"{access.admin_url}/keys/{access.key_name}/webhook"
    async with (
        aiohttp.ClientSession() as session,
        session.post(endpoint, json={"url": url}) as resp,
    ):
        resp.raise_for_status()
        body = await resp.json()
    secret = body.get("secret")
    if isinstance(secret, str) and secret:
        register_secret(secret)
        access.webhook_secrets = [secret]
    log.info("webhook_registered", url=url)


@dataclass(slots=True)
class VenueMarkets:
    """The markets to trade, their titles (status view) and chains (status view, metrics)."""

    ids: list[str]
    titles: dict[str, str]
    chains: dict[str, str]


async def venue_markets(cfg: KashbotConfig, client: KashClient) -> VenueMarkets:
    """The markets to trade (:func:`kashbot.core.resolve_markets` over the venue's ACTIVE
    markets) with their titles (an id when the venue does not say) and chains.

    Refuses to start (:class:`~kashbot.client.pin_checks.VenueMismatch`, naming the pinned API
    version) when the selection finds nothing, or a named market answers CHAIN_NOT_SUPPORTED /
    API_VERSION_UNSUPPORTED: under ``2026-04-29`` Kash hides every Solana market."""
    titles: dict[str, str] = {}
    chains: dict[str, str] = {}
    active: list[str] = []
    errors: list[BaseException] = []
    if cfg.discovers_markets:
        try:
            async for m in client.iter_markets(status="ACTIVE"):
                if m.chain is not None:
                    chains[m.id] = m.chain
                if cfg.selects(m.chain):
                    active.append(m.id)
                    titles[m.id] = m.title or m.id
        except KashError as exc:
            if pin_halt_reason(exc) is None:
                raise  # not a version problem: the error as it is
            errors.append(exc)
        listed = len(active)
    else:
        assert isinstance(cfg.markets, list)
        for mid in cfg.markets:
            try:
                m = await client.get_market(mid)
            except KashError as exc:
                errors.append(exc)
                continue
            titles[mid] = m.title or mid
            if m.chain is not None:
                chains[mid] = m.chain
        listed = len(cfg.markets)
    # `markets: []` names none: nothing expected (resolve_markets refuses it below)
    expected = cfg.discovers_markets or listed > 0
    check_startup(pin=client.api_version, listed=listed, expected=expected, errors=errors)
    markets = resolve_markets(cfg, active, chains)
    log.info("markets", count=len(markets), ids=markets)
    return VenueMarkets(markets, titles, chains)
