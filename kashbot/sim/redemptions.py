"""Positions and redemptions (§13, kash-today §5): what a user holds, and payouts once a
market settles — ``R x tokens / total winning supply`` for a winning outcome of a resolved
market, the snapshotted marginal price for any outcome of a cancelled one — paid out
asynchronously (``pending`` -> ``completed`` after ``lifecycle.redemption_s``)."""

from __future__ import annotations

from kashbot import amm
from kashbot.money import ATOMIC_TO_WAD, Atomic, Wad
from kashbot.sim.errors import SimError
from kashbot.sim.models import (
    KeyState,
    MarketState,
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
        """POST /v1/redemptions -> (redemption, replay). One request per (user, market, outcome)
        position, ever: a second POST answers the first request (200, idempotent)."""
        now = self._sync()
        key = self.key_for(api_key)
        self.require_scope(key, self.scenario.api.redemption_scope)
        if not self.scenario.api.redemptions_enabled:
            raise SimError("REDEMPTIONS_NOT_ENABLED", "self-service redemption is switched off")
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
        if not self.users[key.user_id].smart_account_provisioned:
            raise SimError("SMART_ACCOUNT_NOT_PROVISIONED", "smart account is not provisioned yet")
        kind, shares, payout = self._claim(key.user_id, m, outcome)
        pos = self.positions[(key.user_id, market_id, outcome)]
        pos.shares = 0
        pos.cost_basis = 0
        r = Redemption(
            id=self.ids.uuid("redemption"),
            seq=next(self._seq),
            user_id=key.user_id,
            key_id=key.id,
            market_id=market_id,
            outcome=outcome,
            kind=kind,
            shares=shares,
            payout=payout,
            status="pending",
            created_at=now,
            updated_at=now,
        )
        self.redemptions[r.id] = r
        self._schedule(now + self._scaled(self.scenario.lifecycle.redemption_s), "redemption", r.id)
        return r, False

    def _claim(self, user_id: str, m: MarketState, outcome: int) -> tuple[str, Wad, Atomic]:
        """(kind, shares, payout) of a claimable position, else 409 POSITION_NOT_CLAIMABLE."""
        if not m.settled or m.resolved_pool is None:
            state = m.resolution_state or ("trading" if m.status == "ACTIVE" else m.status)
            raise not_claimable(f"market {m.id} is not settled ({state})")
        pos = self.positions.get((user_id, m.id, outcome))
        if pos is None or pos.shares - pos.held <= 0:
            raise not_claimable(f"no shares of outcome {outcome} to redeem (none or redeemed)")
        if m.resolution_state == "cancelled":
            return "cancelled", pos.shares, cancel_refund(m.resolved_pool, outcome, pos.shares)
        if outcome not in m.winners:
            raise not_claimable(f"outcome {outcome} lost; its position pays 0")
        return "resolved", pos.shares, amm.redemption(m.resolved_pool, m.winners, pos.shares)

    def _complete_redemption(self, r: Redemption, at: float) -> None:
        self.users[r.user_id].balance += r.payout
        r.status = "completed"
        r.updated_at = at


def not_claimable(detail: str) -> SimError:
    return SimError("POSITION_NOT_CLAIMABLE", detail)


def cancel_refund(pool: amm.Pool, outcome: int, tokens: Wad) -> Atomic:
    """USDC refunded for ``tokens`` of ``outcome`` of a cancelled market: the snapshotted
    marginal price ``p_i = R a_i s_i / A`` times the tokens (kash-api §13), rounded down, so
    refunding every token of every outcome pays out at most the reserve."""
    a, s = pool.weights[outcome], pool.supplies[outcome]
    return pool.reserve * a * s * tokens // amm.curve_sum(pool) // ATOMIC_TO_WAD
