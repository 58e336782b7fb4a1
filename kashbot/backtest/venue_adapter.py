"""The executor's ``TradingVenue`` over the simulator's in-process ``Venue``: no HTTP, same answers.

Every call goes through the venue's own request accounting (the user's sliding read window and
write token bucket at the key's tier rate), so a backtest spends the request budget as a live
run would and gets the same ``429 RATE_LIMIT_EXCEEDED`` when it overspends. Results are the
client's pydantic models, as the simulator's JSON serialisers would produce them (trades are built
directly, :mod:`~kashbot.backtest.trade_model`), and venue errors
into the client's typed exceptions, so the executor cannot tell this from ``KashClient``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from kashbot.backtest.trade_model import ms, trade_model
from kashbot.client.errors import KashError, RequestDeadlineExceeded, error_from_problem
from kashbot.client.models import Confirmation, Page, Position, Redemption, Trade, TradeCreated
from kashbot.execution.venue import Action
from kashbot.money import usdc_to_atomic
from kashbot.sim import serialize
from kashbot.sim.errors import SimError
from kashbot.sim.models import KeyState, TradeRecord
from kashbot.sim.venue import Venue


def _to_client_error(exc: SimError) -> KashError:
    problem = exc.problem(instance="backtest", request_id="backtest")
    return error_from_problem(exc.status, problem, retry_after=exc.retry_after)


class SimVenueAdapter:
    """Implements ``kashbot.execution.venue.TradingVenue`` for one key of a sim ``Venue``."""

    def __init__(self, venue: Venue, api_key: str, *, enforce_rate_limit: bool = True) -> None:
        self.venue = venue
        self._key: KeyState = venue.authenticate(api_key)
        self._api_key = api_key
        self.enforce_rate_limit = enforce_rate_limit
        self.requests: Counter[str] = Counter()  # by route, e.g. "POST /v1/trades"
        self.rate_limited = 0
        # Optional per-trade latency by clientRequestId (seconds from now to execution); None
        # from it, or no hook, means the scenario's lifecycle. Observed replays use it to put our
        # fill where the recorded run's was (kashbot.backtest.observed).
        self.latency_for: Callable[[str | None], float | None] | None = None

    def __repr__(self) -> str:  # the key stays out of reprs
        return f"SimVenueAdapter(key={self._key.name!r}, tier={self._key.tier!r})"

    @property
    def requests_used(self) -> int:
        return sum(self.requests.values())

    def budget_over(self, seconds: float) -> int:
        """Requests the key's tier allows in ``seconds`` (reads and writes share one quota here)."""
        return math.ceil(self._key.requests_per_minute * max(seconds, 0.0) / 60.0)

    def _request(self, route: str, *, write: bool) -> None:
        self.requests[route] += 1
        if not self.enforce_rate_limit:
            return
        decision = self.venue.rate_check(self._key, write=write)
        if not decision.allowed:
            self.rate_limited += 1
            raise _to_client_error(
                SimError(
                    "RATE_LIMIT_EXCEEDED",
                    "request budget exhausted",
                    retry_after=decision.retry_after_s,
                )
            )

    def _trade(self, record: TradeRecord) -> Trade:
        return trade_model(self.venue, record)

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
        # In-process: one attempt, nothing sent before it, so a passed deadline is "never sent".
        if not_after is not None and self.venue.clock.now() > not_after:
            raise RequestDeadlineExceeded("POST /v1/trades: deadline passed before sending")
        self._request("POST /v1/trades", write=True)
        latency = self.latency_for(client_request_id) if self.latency_for is not None else None
        venue = self.venue
        try:
            # The venue's pending_s places the first step; validating/executing are 0 in
            # replays that set a latency, so this one number places the execution (passed to
            # this trade alone: no copy of the scenario per order).
            sub = venue.submit_trade(
                self._key,
                market_id,
                outcome_index,
                side,
                usdc_to_atomic(amount),
                idempotency_key=idempotency_key,
                client_request_id=client_request_id,
                metadata=dict(metadata) if metadata is not None else None,
                pending_s=None if latency is None else latency * venue.time_scale,
            )
        except SimError as exc:
            raise _to_client_error(exc) from None
        token, expires = sub.confirmation_token, sub.confirmation_expires_at
        confirmation = (
            Confirmation.model_construct(
                {"token", "expires_at"}, token=token, expires_at=ms(expires)
            )
            if token is not None and expires is not None
            else None
        )
        fields: dict[str, Any] = {  # what the client reads from the 201/202 body
            "trade": self._trade(sub.trade),
            "confirmation": confirmation,
            "idempotent_replay": sub.replay,
            "idempotency_key": sub.idempotency_key or idempotency_key or "",
            "status_code": sub.status_code,
        }
        return TradeCreated.model_construct(set(fields), **fields)

    async def confirm_trade(self, trade_id: str, token: str) -> Trade:
        self._request("POST /v1/trades/{id}/confirm", write=True)
        try:
            return self._trade(self.venue.confirm_trade(self._key, trade_id, token))
        except SimError as exc:
            raise _to_client_error(exc) from None

    async def get_trade(self, trade_id: str) -> Trade:
        self._request("GET /v1/trades/{id}", write=False)
        try:
            return self._trade(self.venue.get_trade(self._key, trade_id))
        except SimError as exc:
            raise _to_client_error(exc) from None

    async def list_trades(
        self,
        *,
        status: str | Sequence[str] | None = None,
        market_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Trade]:
        """One page, newest first; the cursor is the offset (opaque to the caller)."""
        self._request("GET /v1/trades", write=False)
        statuses = {status} if isinstance(status, str) else set(status or ())
        try:
            rows = self.venue.list_trades(self._key, statuses or None, market_id)
        except SimError as exc:
            raise _to_client_error(exc) from None
        start = int(cursor) if cursor else 0
        size = limit or 50
        chunk = rows[start : start + size]
        more = start + size < len(rows)
        return Page(
            [self._trade(t) for t in chunk],
            str(start + size) if more else None,
            more,
            size,
        )

    async def list_positions(self, market_id: str | None = None) -> list[Position]:
        self._request("GET /v1/portfolio/positions", write=False)
        try:
            rows = self.venue.user_positions(self._key, market_id)
        except SimError as exc:
            raise _to_client_error(exc) from None
        return [Position.model_validate(serialize.position(p)) for p in rows]

    async def create_redemption(
        self, market_id: str, outcome_index: int, *, idempotency_key: str | None = None
    ) -> Redemption:
        """``POST /v1/redemptions`` in process: one claim per position, a repeat answers the
        first (``idempotent``), as the venue does over HTTP."""
        self._request("POST /v1/redemptions", write=True)
        try:
            r, replay = self.venue.create_redemption(self._key, market_id, outcome_index)
        except SimError as exc:
            raise _to_client_error(exc) from None
        found = Redemption.model_validate(serialize.redemption(r))
        return found.model_copy(update={"idempotent": replay})
