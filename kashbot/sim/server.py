"""aiohttp double of the Kash REST API v1 over a :class:`~kashbot.sim.venue.Venue`.

The route table. What a request goes through is in :mod:`kashbot.sim.edge` (the middleware),
the handlers in :mod:`kashbot.sim.routes_read` and :mod:`kashbot.sim.routes_write`, response
shapes and ETags in :mod:`kashbot.sim.replies`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from kashbot.sim.edge import kash_edge
from kashbot.sim.replies import VENUE, Handler
from kashbot.sim.routes_read import (
    account_usage,
    get_market,
    get_portfolio,
    get_quote,
    get_trace,
    get_trade,
    health,
    list_events,
    list_markets,
    list_positions,
    list_predictions,
    list_trades,
    openapi,
    ready,
)
from kashbot.sim.routes_write import (
    confirm_trade,
    create_redemption,
    create_trade,
    redeliver,
    rotate_secret,
)

__all__ = ["VENUE", "add_api_routes", "kash_edge"]


def _wrap(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """aiohttp wants handlers returning responses; ours return Reply for the middleware."""
    return fn  # type: ignore[return-value]


def add_api_routes(app: web.Application) -> None:
    r = app.router
    for path, fn in (
        ("/v1/health", health),
        ("/v1/ready", ready),
        ("/v1/openapi.json", openapi),
        ("/v1/markets", list_markets),
        ("/v1/markets/{id}", get_market),
        ("/v1/markets/{id}/predictions", list_predictions),
        ("/v1/markets/{id}/quote", get_quote),
        ("/v1/trades", list_trades),
        ("/v1/trades/{id}", get_trade),
        ("/v1/traces/{id}", get_trace),
        ("/v1/portfolio", get_portfolio),
        ("/v1/portfolio/positions", list_positions),
        ("/v1/account/usage", account_usage),
        ("/v1/webhooks/events", list_events),
    ):
        r.add_get(path, _wrap(fn), allow_head=False)
    for path, fn in (
        ("/v1/trades", create_trade),
        ("/v1/trades/{id}/confirm", confirm_trade),
        ("/v1/webhooks/events/{id}/redeliver", redeliver),
        ("/v1/auth/api-keys/me/webhook-secret/rotate", rotate_secret),
        ("/v1/redemptions", create_redemption),
    ):
        r.add_post(path, _wrap(fn))
