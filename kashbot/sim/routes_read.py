"""The simulator's read routes (GET): markets, quotes, trades, portfolio, usage, events.

The pinned version decides what is served: under 2026-04-29 the market list leaves Solana
markets out and get/quote answer 400 CHAIN_NOT_SUPPORTED for them; predictions are not gated.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kashbot.sim import serialize as ser
from kashbot.sim.chains import V_SOLANA, is_solana, serves_solana
from kashbot.sim.errors import SimError
from kashbot.sim.ids import parse_iso
from kashbot.sim.models import MarketState
from kashbot.sim.pagination import parse_limit
from kashbot.sim.replies import (
    VENUE,
    Reply,
    int_param,
    key_of,
    meta_block,
    newest_first,
    page_reply,
    single_reply,
    status_filter,
    version_of,
)

MARKET_STATUSES = ("UNSEEDED", "ACTIVE", "RESOLVED", "ABANDONED")


async def health(request: web.Request) -> Reply:
    return Reply(200, {"status": "ok", "_meta": meta_block(request)}, etag=False)


async def ready(request: web.Request) -> Reply:
    return Reply(200, {"status": "ready", "_meta": meta_block(request)}, etag=False)


async def openapi(request: web.Request) -> Reply:
    """The route list this simulator serves (not Kash's full spec)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in request.app.router.routes():
        info = route.resource.canonical if route.resource else ""
        if info.startswith("/v1/"):
            paths.setdefault(info, {})[route.method.lower()] = {}
    body = {
        "openapi": "3.1.0",
        "info": {"title": "Kash REST API (kashbot simulator)", "version": "sim"},
        "paths": paths,
    }
    return Reply(200, body)


async def list_markets(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    status = request.query.get("status")
    if status and status.upper() not in MARKET_STATUSES:
        raise SimError("VALIDATION_FAILED", "status must be one of " + ", ".join(MARKET_STATUSES))
    limit = parse_limit(request.query.get("limit"), 20)
    version = version_of(request)
    markets = [m for m in venue.list_markets(status) if visible(m, version)]
    order = {m.id: i + 1 for i, m in enumerate(venue.markets.values())}
    return page_reply(
        request,
        markets,
        lambda m: order[m.id],
        limit,
        {"status": (status or "").upper()},
        lambda m: ser.market(m, version),
        descending=False,
    )


def visible(m: MarketState, version: str) -> bool:
    """2026-04-29 predates Solana: its market list filters Solana markets out."""
    return serves_solana(version) or not is_solana(m.chain)


def served_market(request: web.Request) -> MarketState:
    """The path's market, or 400 CHAIN_NOT_SUPPORTED when the pinned version cannot serve it."""
    m = request.app[VENUE].market(request.match_info["id"])
    require_chain(m, version_of(request))
    return m


def require_chain(m: MarketState, version: str) -> None:
    if not visible(m, version):
        raise SimError(
            "CHAIN_NOT_SUPPORTED",
            f"market {m.id} is on {m.chain}; API version {version} serves Base markets only, "
            f"pin {V_SOLANA} or later",
            chainRef=m.chain,
        )


async def get_market(request: web.Request) -> Reply:
    m = served_market(request)
    return Reply(200, single_reply(request, "market", ser.market(m, version_of(request))))


async def list_predictions(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    side = request.query.get("side")
    if side is not None and side not in ("buy", "sell"):
        raise SimError("VALIDATION_FAILED", "side must be buy or sell", issues=["side"])
    outcome = int_param(request, "outcomeIndex", required=False)
    limit = parse_limit(request.query.get("limit"), 50)
    preds = [
        p
        for p in venue.predictions(request.match_info["id"])
        if (side is None or p.side == side) and (outcome is None or p.outcome == outcome)
    ]
    filters = {"side": side, "outcomeIndex": outcome}
    return newest_first(request, preds, limit, filters, ser.prediction)


async def get_quote(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    outcome = int_param(request, "outcomeIndex")
    action = request.query.get("action")
    if action not in ("buy", "sell"):
        raise SimError("VALIDATION_FAILED", "action must be buy or sell", issues=["action"])
    amount = int_param(request, "amount")
    assert outcome is not None and amount is not None
    m = served_market(request)
    q = venue.quote(m.id, outcome, action, amount)
    body = {
        "quote": ser.quote(q),
        "market": ser.market_summary(m, version_of(request)),
        "units": {"usdc": "atomic-6", "token": "wad-18"},
        "_meta": meta_block(request),
    }
    return Reply(200, body, {"Cache-Control": "public, max-age=10"})


async def list_trades(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    statuses = status_filter(request)
    market_id = request.query.get("marketId")
    limit = parse_limit(request.query.get("limit"), 20)
    trades = venue.list_trades(key_of(request), statuses, market_id)
    filters = {"status": sorted(statuses or ()), "marketId": market_id}
    version = version_of(request)
    return newest_first(request, trades, limit, filters, lambda t: ser.trade(venue, t, version))


async def get_trade(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    t = venue.get_trade(key_of(request), request.match_info["id"])
    return Reply(200, single_reply(request, "trade", ser.trade(venue, t, version_of(request))))


async def get_trace(request: web.Request) -> Reply:
    t = request.app[VENUE].trace(key_of(request), request.match_info["id"])
    return Reply(200, single_reply(request, "trace", ser.trace(t)))


async def get_portfolio(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    key = key_of(request)
    positions = venue.user_positions(key)
    user = venue.users[key.user_id]
    data = {
        "smartAccountAddress": user.smart_account,
        "activePositions": len(positions),
        "totalCostBasisAtomic": str(sum(p.cost_basis for p in positions)),
        "usdcBalance": str(user.balance - user.held),  # §17: INSUFFICIENT_BALANCE page field
    }
    return Reply(200, single_reply(request, "portfolio", data))


async def list_positions(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    market_id = request.query.get("marketId")
    limit = parse_limit(request.query.get("limit"), 20)
    positions = venue.user_positions(key_of(request), market_id)
    order = {id(p): i + 1 for i, p in enumerate(positions)}
    return page_reply(
        request,
        positions,
        lambda p: order[id(p)],
        limit,
        {"marketId": market_id},
        ser.position,
        descending=False,
    )


async def account_usage(request: web.Request) -> Reply:
    data = request.app[VENUE].usage(key_of(request))
    return Reply(200, {"data": data, "_meta": meta_block(request)})


async def list_events(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    statuses = status_filter(request)
    since_raw = request.query.get("from")
    since = None
    if since_raw:
        try:
            since = parse_iso(since_raw)
        except (ValueError, OverflowError):
            raise SimError("VALIDATION_FAILED", "from must be an ISO timestamp") from None
    limit = parse_limit(request.query.get("limit"), 25)
    events = venue.list_events(key_of(request), statuses, since)
    filters = {"status": sorted(statuses or ()), "from": since_raw}
    return newest_first(request, events, limit, filters, ser.webhook_event)
