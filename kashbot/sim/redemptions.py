"""Positions and redemptions (§13): what a user holds, and payouts on resolved markets."""

from __future__ import annotations

from kashbot import amm
from kashbot.money import Atomic
from kashbot.sim.errors import SimError
from kashbot.sim.models import (
    KeyState,
    Position,
    Redemption,
)
from kashbot.sim.trade_lifecycle import TradeLifecycle


class PortfolioAndRedemptions(TradeLifecycle):
    """A user's positions, balance and redemptions."""

    def user_positions(
        self, api_key: str | KeyState, market_id: str | None = None
    ) -> list[Position]:
        self._sync()
        key = self.key_for(api_key)
        return [
            p
            for (u, mid, _), p in self.positions.items()
            if u == key.user_id and p.shares > 0 and (market_id is None or mid == market_id)
        ]

    def balance(self, api_key: str | KeyState) -> Atomic:
        return self.users[self.key_for(api_key).user_id].balance

    def create_redemption(
        self, api_key: str | KeyState, market_id: str, outcome: int
    ) -> tuple[Redemption, bool]:
        """POST /v1/redemptions -> (redemption, replay). Payout follows §13 on the resolved pool."""
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, self.scenario.api.redemption_scope)
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        if not 0 <= outcome < m.pool.outcome_count:
            raise SimError(
                "OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}"
            )
        for r in self.redemptions.values():
            if (r.user_id, r.market_id, r.outcome) == (key.user_id, market_id, outcome):
                return r, True
        if m.status != "RESOLVED" or m.resolved_pool is None:
            raise self._not_tradeable(m, "not resolved yet")
        pos = self.positions.get((key.user_id, market_id, outcome))
        if pos is None or pos.shares - pos.held <= 0:
            raise SimError("RESOURCE_NOT_FOUND", "no redeemable position for that outcome")
        shares = pos.shares
        payout = amm.redemption(m.resolved_pool, m.winners, shares) if outcome in m.winners else 0
        pos.shares = 0
        pos.cost_basis = 0
        r = Redemption(
            id=self.ids.uuid("redemption"),
            seq=next(self._seq),
            user_id=key.user_id,
            key_id=key.id,
            market_id=market_id,
            outcome=outcome,
            kind="resolved",
            shares=shares,
            payout=payout,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        self.redemptions[r.id] = r
        self._schedule(now + self._scaled(self.scenario.lifecycle.redemption_s), "redemption", r.id)
        return r, False

    def _complete_redemption(self, r: Redemption, at: float) -> None:
        self.users[r.user_id].balance += r.payout
        r.status = "completed"
        r.updated_at = at
