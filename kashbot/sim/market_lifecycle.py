"""A market's life after trading (kash-today §4): freeze, expiry, an outcome proposal with a
dispute window, settlement, or cancellation.

``ACTIVE`` trading → frozen at ``freezeAt`` (still ``ACTIVE``: REST has no ``FROZEN``) →
``resolutionState`` ``resolving`` at ``expiresAt`` → ``proposed`` (``resolution`` with
``disputeOpen``) → ``settling`` once ``finalizableAt`` passes → ``resolved`` with status
``RESOLVED``; or ``cancelled`` with status ``ABANDONED`` (``api.cancelled_market_status``).
The pool is snapshotted when the market settles or is cancelled: redemptions pay from it.
Each step is scheduled on the venue's heap and checks the state it expects, so a step forced
early through the admin API turns the scheduled one into a no-op.
"""

from __future__ import annotations

from kashbot.sim.errors import SimError
from kashbot.sim.markets import MarketsAndNoise
from kashbot.sim.models import MarketState, Proposal
from kashbot.sim.scenario import MarketConfig

STEPS = frozenset({"expiry", "propose", "finalize", "settle", "cancel"})


class MarketLifecycle(MarketsAndNoise):
    """Schedules each market's timeline from its scenario entry and carries the steps out."""

    def _add_market(self, m: MarketConfig) -> None:
        super()._add_market(m)
        market = self.markets[m.id]
        if market.status != "ACTIVE":
            return
        if market.expires_at is not None:
            self._schedule(market.expires_at, "expiry", m.id)
        offset = m.proposal_offset()
        if m.resolve is not None and offset is not None:
            self._schedule(self.start + offset, "cancel" if m.resolve.cancel else "propose", m.id)

    def _run_market_step(self, kind: str, market_id: str, t: float) -> None:
        m = self.markets[market_id]
        if kind == "expiry":
            if m.status == "ACTIVE" and m.resolution_state is None:
                self._set_state(m, "resolving")
        elif kind == "propose":
            cfg = self._market_cfg(market_id).resolve
            if cfg is not None and m.resolution_state in (None, "resolving"):
                self._propose(m, cfg.winners, cfg.dispute_window_s, t, disputed=cfg.disputed)
        elif kind == "finalize":
            p = m.proposal
            if m.resolution_state == "proposed" and p is not None and p.finalizable_at <= t:
                self._finalize(m, t)
        elif kind == "settle":
            if m.resolution_state == "settling":
                self._settle(m, t)
        elif kind == "cancel" and m.resolution_state not in ("resolved", "cancelled"):
            self._cancel(m, t)

    # ------------------------------------------------------------------ transitions

    def _set_state(self, m: MarketState, state: str) -> None:
        m.resolution_state = state
        m.version += 1

    def _propose(
        self,
        m: MarketState,
        winners: tuple[int, ...],
        window_s: float,
        at: float,
        *,
        disputed: bool = False,
    ) -> None:
        if m.freeze_at is None or m.freeze_at > at:
            m.freeze_at = at  # a proposal ends trading whatever the timeline said
        m.winners = winners
        m.proposal = Proposal(
            outcome=winners[0],
            proposed_at=at,
            finalizable_at=at + window_s,
            settlement_status="disputed" if disputed else "proposed",
        )
        self._set_state(m, "proposed")
        self._schedule(at + window_s, "finalize", m.id)

    def _finalize(self, m: MarketState, at: float) -> None:
        assert m.proposal is not None
        m.proposal.settlement_status = "finalized"
        m.proposal.dispute_open = False
        self._set_state(m, "settling")
        cfg = self._market_cfg(m.id).resolve
        self._schedule(at + (cfg.settle_s if cfg is not None else 0.0), "settle", m.id)

    def _settle(self, m: MarketState, at: float) -> None:
        m.status = "RESOLVED"
        m.resolved_at = at
        m.resolved_pool = m.pool
        self._set_state(m, "resolved")

    def _cancel(self, m: MarketState, at: float) -> None:
        if m.proposal is not None:
            m.proposal.settlement_status = "cancelled"
            m.proposal.dispute_open = False
        if m.freeze_at is None or m.freeze_at > at:
            m.freeze_at = at
        m.status = self.scenario.api.cancelled_market_status
        m.resolved_at = at
        m.winners = ()
        m.resolved_pool = m.pool
        self._set_state(m, "cancelled")

    # ------------------------------------------------------------------ forced (admin, tests)

    def _open_market(self, market_id: str) -> MarketState:
        m = self.market(market_id)
        if m.resolution_state in ("resolved", "cancelled") or m.status not in ("ACTIVE",):
            raise SimError(
                "VALIDATION_FAILED", f"market {m.id} is already {m.resolution_state or m.status}"
            )
        return m

    def freeze_market(self, market_id: str) -> MarketState:
        """Stop trading now (freezeAt = now); the market stays ACTIVE."""
        m = self.market(market_id)
        m.freeze_at = self.clock.now()
        m.version += 1
        return m

    def propose_outcome(
        self,
        market_id: str,
        winners: tuple[int, ...] | list[int],
        *,
        dispute_window_s: float | None = None,
        disputed: bool = False,
    ) -> MarketState:
        """Propose the outcome now; finalizable after the window (default: the scenario's)."""
        m = self._open_market(market_id)
        self._check_winners(m, winners)
        if dispute_window_s is None:
            cfg = self._market_cfg(market_id).resolve
            dispute_window_s = cfg.dispute_window_s if cfg is not None else 0.0
        self._propose(m, tuple(winners), dispute_window_s, self.clock.now(), disputed=disputed)
        return m

    def finalize_market(self, market_id: str) -> MarketState:
        """Close the dispute window and settle now: status RESOLVED (needs a proposal)."""
        m = self._open_market(market_id)
        if m.proposal is None:
            raise SimError("VALIDATION_FAILED", f"market {m.id} has no proposal to finalize")
        now = self.clock.now()
        if m.resolution_state == "proposed":
            self._finalize(m, now)
        self._settle(m, now)
        return m

    def cancel_market(self, market_id: str) -> MarketState:
        """Cancel now: refunds at the snapshotted marginal prices (kash-api §13)."""
        m = self._open_market(market_id)
        self._cancel(m, self.clock.now())
        return m

    def resolve_market(
        self, market_id: str, winners: tuple[int, ...] | list[int], *, at: float | None = None
    ) -> MarketState:
        """Propose, finalize and settle in one go (``winners`` may name several outcomes)."""
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        self._check_winners(m, winners)
        when = self.clock.now() if at is None else at
        self._propose(m, tuple(winners), 0.0, when)
        self._finalize(m, when)
        self._settle(m, when)
        return m

    @staticmethod
    def _check_winners(m: MarketState, winners: tuple[int, ...] | list[int]) -> None:
        if not winners or any(not 0 <= w < m.pool.outcome_count for w in winners):
            raise SimError("VALIDATION_FAILED", "winners must be valid outcome indices")
