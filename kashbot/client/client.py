"""``KashClient``: one async method per Kash REST v1 endpoint (§7).

Usage::

    async with KashClient() as kash:          # KASH_API_KEY / KASH_BASE_URL from the environment
        async for market in kash.iter_markets(status="ACTIVE"):
            ...

Money in: trade amounts as ``Decimal``/``str`` USDC (≤ 6 dp), quote amounts as atomic ints.
Money out: see :mod:`kashbot.client.models`. Errors: :mod:`kashbot.client.errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from kashbot.client.base import ClientBase, csv_list, path_segment, query_params, validate_as
from kashbot.client.errors import (
    KashResponseError,
    OutcomeUnknownError,
    TradeNotAwaitingConfirmation,
)
from kashbot.client.models import (
    AccountUsage,
    ConfirmRequest,
    Market,
    Page,
    Portfolio,
    Position,
    Prediction,
    Quote,
    RedeliveredEvent,
    Redemption,
    RedemptionRequest,
    Trace,
    Trade,
    TradeCreated,
    TradeRequest,
    WebhookEventRecord,
    WebhookSecret,
    amount_to_wire,
    check_idempotency_key,
)
from kashbot.client.pagination import DEFAULT_MAX_PAGES, walk
from kashbot.client.transport import encode_body

Action = Literal["buy", "sell"]


class KashClient(ClientBase):
    """Typed async client for Kash REST v1. Use as ``async with KashClient(...) as c:``."""

    # --- markets ------------------------------------------------------------------------------

    async def list_markets(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Market]:
        route = "GET /v1/markets"
        resp = await self._get(
            "/markets", route, query_params(status=status, limit=limit, cursor=cursor)
        )
        return self._page(resp, Market, route)

    async def iter_markets(
        self,
        status: str | None = None,
        limit: int | None = None,
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[Market]:
        async def fetch(cursor: str | None) -> Page[Market]:
            return await self.list_markets(status=status, limit=limit, cursor=cursor)

        async for market in walk(fetch, max_pages=max_pages):
            yield market

    async def get_market(self, market_id: str) -> Market:
        route = "GET /v1/markets/{id}"
        resp = await self._get(f"/markets/{path_segment(market_id)}", route)
        return self._one(resp, "market", Market, route)

    async def list_predictions(
        self,
        market_id: str,
        *,
        side: Action | None = None,
        outcome_index: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Prediction]:
        route = "GET /v1/markets/{id}/predictions"
        params = query_params(side=side, outcomeIndex=outcome_index, limit=limit, cursor=cursor)
        resp = await self._get(f"/markets/{path_segment(market_id)}/predictions", route, params)
        return self._page(resp, Prediction, route)

    async def iter_predictions(
        self,
        market_id: str,
        *,
        side: Action | None = None,
        outcome_index: int | None = None,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[Prediction]:
        async def fetch(cursor: str | None) -> Page[Prediction]:
            return await self.list_predictions(
                market_id, side=side, outcome_index=outcome_index, limit=limit, cursor=cursor
            )

        async for prediction in walk(fetch, max_pages=max_pages):
            yield prediction

    async def get_quote(
        self, market_id: str, outcome_index: int, action: Action, amount: int
    ) -> Quote:
        """``amount`` is atomic: USDC atomic-6 for a buy, outcome tokens WAD-18 for a sell."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError("amount must be a positive int in atomic units (USDC-6 or WAD-18)")
        if action not in ("buy", "sell"):
            raise ValueError("action must be 'buy' or 'sell'")
        if outcome_index < 0:
            raise ValueError("outcome_index must be >= 0")
        route = "GET /v1/markets/{id}/quote"
        params = query_params(outcomeIndex=outcome_index, action=action, amount=amount)
        resp = await self._get(f"/markets/{path_segment(market_id)}/quote", route, params)
        body = resp.body
        if not isinstance(body, dict) or not isinstance(body.get("quote"), dict):
            raise KashResponseError(f"{route}: missing 'quote'", request_id=resp.request_id)
        merged = {**body["quote"], "market": body.get("market"), "units": body.get("units") or {}}
        return validate_as(Quote, merged, route, resp.request_id)

    # --- trades -------------------------------------------------------------------------------

    async def create_trade(
        self,
        market_id: str,
        outcome_index: int,
        side: Action,
        amount: Decimal | str,
        *,
        client_request_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        not_after: float | None = None,
    ) -> TradeCreated:
        """Place a trade. ``amount`` is USDC: to spend (buy) or to receive (sell).

        One Idempotency-Key (generated unless given) covers every retry, with identical body
        bytes. If the outcome cannot be known (timeout, dropped connection, 5xx) this raises
        :class:`~kashbot.client.errors.OutcomeUnknownError` carrying the key and the body.
        A 202 result has ``confirmation`` set: call :meth:`confirm_trade` before it expires.
        ``not_after`` (the client clock's seconds): once past, no attempt is sent; if none was
        sent before, :class:`~kashbot.client.errors.RequestDeadlineExceeded` (the venue never
        saw the order), else ``OutcomeUnknownError``.
        """
        request = TradeRequest(
            market_id=market_id,
            outcome_index=outcome_index,
            amount=amount_to_wire(amount),
            side=side,
            client_request_id=client_request_id,
            metadata=dict(metadata) if metadata is not None else None,
        )
        key = check_idempotency_key(idempotency_key) if idempotency_key else str(uuid.uuid4())
        return await self._post_trade(encode_body(request.wire()), key, not_after)

    async def replay_trade(self, unknown: OutcomeUnknownError) -> TradeCreated:
        """Resolve an :class:`OutcomeUnknownError`: resend the identical body under the same
        Idempotency-Key. The server returns the original result if the first attempt landed
        (``idempotent_replay``) or creates the trade exactly once if it did not."""
        return await self._post_trade(unknown.body, unknown.idempotency_key)

    async def _post_trade(
        self, body_bytes: bytes, key: str, not_after: float | None = None
    ) -> TradeCreated:
        route = "POST /v1/trades"
        resp = await self._transport.request(
            "POST",
            "/trades",
            route=route,
            body=body_bytes,
            idempotency_key=key,
            outcome_unknown=True,
            not_after=not_after,
        )
        trade = self._one(resp, "trade", Trade, route)
        body: dict[str, Any] = resp.body
        meta = body.get("_meta")
        replay = resp.headers.get("Idempotent-Replay", "").lower() == "true"
        if isinstance(meta, dict) and meta.get("idempotent") is True:
            replay = True
        return validate_as(
            TradeCreated,
            {
                "trade": trade,
                "confirmation": body.get("confirmation"),
                "idempotent_replay": replay,
                "idempotency_key": key,
                "status_code": resp.status,
                "request_id": resp.request_id,
            },
            route,
            resp.request_id,
        )

    async def confirm_trade(self, trade_id: str, token: str) -> Trade:
        """Release a high-value (202) trade, safely.

        GETs the trade first and confirms only while it is ``pending_confirmation``; otherwise
        raises :class:`TradeNotAwaitingConfirmation` with ``.trade`` set to the fetched trade (it
        may already be confirmed, e.g. after a lost response). The confirm POST itself is never
        retried after it may have reached the server, because the token is single-use.
        """
        confirm = ConfirmRequest(token=token)
        current = await self.get_trade(trade_id)
        if not current.awaiting_confirmation:
            error = TradeNotAwaitingConfirmation(
                f"trade {trade_id} is {current.status!r}, not pending_confirmation; not confirming",
            )
            error.trade = current
            raise error
        route = "POST /v1/trades/{id}/confirm"
        resp = await self._transport.request(
            "POST",
            f"/trades/{path_segment(trade_id)}/confirm",
            route=route,
            body=encode_body(confirm.wire()),
            retry="refused-only",
        )
        return self._one(resp, "trade", Trade, route)

    async def get_trade(self, trade_id: str) -> Trade:
        route = "GET /v1/trades/{id}"
        resp = await self._get(f"/trades/{path_segment(trade_id)}", route)
        return self._one(resp, "trade", Trade, route)

    async def list_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Trade]:
        route = "GET /v1/trades"
        params = query_params(
            status=csv_list(status), marketId=market_id, limit=limit, cursor=cursor
        )
        resp = await self._get("/trades", route, params)
        return self._page(resp, Trade, route)

    async def iter_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[Trade]:
        async def fetch(cursor: str | None) -> Page[Trade]:
            return await self.list_trades(
                status=status, market_id=market_id, limit=limit, cursor=cursor
            )

        async for trade in walk(fetch, max_pages=max_pages):
            yield trade

    async def get_trace(self, correlation_id: str) -> Trace:
        route = "GET /v1/traces/{id}"
        resp = await self._get(f"/traces/{path_segment(correlation_id)}", route)
        return self._one(resp, "trace", Trace, route)

    # --- portfolio, account -------------------------------------------------------------------

    async def get_portfolio(self) -> Portfolio:
        route = "GET /v1/portfolio"
        resp = await self._get("/portfolio", route)
        return self._one(resp, "portfolio", Portfolio, route)

    async def list_positions(
        self, market_id: str | None = None, *, max_pages: int = DEFAULT_MAX_PAGES
    ) -> list[Position]:
        """Every position. Docs call this list paginated, the SDK does not (§17): follow
        cursors when the server sends them, so both shapes return the complete list."""
        route = "GET /v1/portfolio/positions"

        async def fetch(cursor: str | None) -> Page[Position]:
            resp = await self._get(
                "/portfolio/positions", route, query_params(marketId=market_id, cursor=cursor)
            )
            return self._page(resp, Position, route)

        return [p async for p in walk(fetch, max_pages=max_pages)]

    async def get_account_usage(self) -> AccountUsage:
        route = "GET /v1/account/usage"
        resp = await self._get("/account/usage", route)
        return self._one(resp, "data", AccountUsage, route)

    # --- webhooks -----------------------------------------------------------------------------

    async def list_webhook_events(
        self,
        *,
        status: str | Sequence[str] | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[WebhookEventRecord]:
        """Newest first. ``since`` is sent as ``from`` (the only documented date parameter)."""
        route = "GET /v1/webhooks/events"
        since_text = since.isoformat() if isinstance(since, datetime) else since
        params = query_params(status=csv_list(status), limit=limit, cursor=cursor)
        if since_text is not None:
            params["from"] = since_text
        resp = await self._get("/webhooks/events", route, params)
        return self._page(resp, WebhookEventRecord, route)

    async def iter_webhook_events(
        self,
        *,
        status: str | Sequence[str] | None = None,
        since: datetime | str | None = None,
        limit: int | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[WebhookEventRecord]:
        async def fetch(cursor: str | None) -> Page[WebhookEventRecord]:
            return await self.list_webhook_events(
                status=status, since=since, limit=limit, cursor=cursor
            )

        async for event in walk(fetch, max_pages=max_pages):
            yield event

    async def redeliver_webhook_event(self, event_id: str) -> RedeliveredEvent:
        """Enqueue one manual replay (≤ 5 per event; not idempotent, so never blindly retried)."""
        route = "POST /v1/webhooks/events/{id}/redeliver"
        resp = await self._transport.request(
            "POST",
            f"/webhooks/events/{path_segment(event_id)}/redeliver",
            route=route,
            retry="refused-only",
        )
        event = self._one(resp, "event", RedeliveredEvent, route)
        message = self._meta(resp).get("message")
        return event.model_copy(update={"message": message}) if isinstance(message, str) else event

    async def rotate_webhook_secret(self) -> WebhookSecret:
        """Rotate the signing secret. Store the returned secret at once: it is shown only once,
        and a lost response must not be 're-rotated' (contact support instead)."""
        route = "POST /v1/auth/api-keys/me/webhook-secret/rotate"
        resp = await self._transport.request(
            "POST", "/auth/api-keys/me/webhook-secret/rotate", route=route, retry="refused-only"
        )
        return self._one(resp, "webhookSecret", WebhookSecret, route)

    # --- redemptions, health ------------------------------------------------------------------

    async def create_redemption(
        self, market_id: str, outcome_index: int, *, idempotency_key: str | None = None
    ) -> Redemption:
        """Claim a settled position. Idempotent per position server-side (a second request for
        the same position answers 200 with ``idempotent``), and sent with an Idempotency-Key
        (``idempotency_key``, e.g. the one persisted before a crash; a fresh one otherwise)."""
        request = RedemptionRequest(market_id=market_id, outcome_index=outcome_index)
        route = "POST /v1/redemptions"
        resp = await self._transport.request(
            "POST",
            "/redemptions",
            route=route,
            body=encode_body(request.wire()),
            idempotency_key=check_idempotency_key(idempotency_key or str(uuid.uuid4())),
        )
        redemption = self._one(resp, "redemption", Redemption, route)
        idempotent = self._meta(resp).get("idempotent") is True
        return redemption.model_copy(update={"idempotent": idempotent})

    async def health(self) -> dict[str, Any]:
        return await self._unauthenticated("/health", "GET /v1/health")

    async def ready(self) -> dict[str, Any]:
        return await self._unauthenticated("/ready", "GET /v1/ready")

    async def _unauthenticated(self, path: str, route: str) -> dict[str, Any]:
        resp = await self._transport.request("GET", path, route=route, auth=False)
        body = resp.body
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise KashResponseError(f"{route}: expected a JSON object", request_id=resp.request_id)
        return body
