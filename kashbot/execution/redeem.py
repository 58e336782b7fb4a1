"""Claim settled positions: ``POST /v1/redemptions`` once per position, crash-safe.

Kash never claims winnings for us (kash-today §5). Once a market's ``resolutionState`` is
``resolved`` or ``cancelled`` (:mod:`kashbot.lifecycle`), every position we hold in it is either
closed without a request (a known loser pays 0) or claimed. A claim row is written to the store
*before* the POST with a per-position Idempotency-Key; after a kill -9 between the POST and its
answer, :meth:`Redeemer.recover` re-sends the same request and the venue's per-position
idempotency answers ``200`` (or ``409`` once that very claim has been paid) instead of paying
twice. ``POSITION_NOT_CLAIMABLE`` and ``REDEMPTIONS_NOT_ENABLED`` are operator messages, never
retries. Each closed position becomes one ``PositionRedeemed`` event at the engine's expected
payout (the venue pays asynchronously and reports no amount): the engine's book and the risk
gate release its cost basis and exposure, the difference is realised PnL.

:func:`plan_claims` is the pure part (what to claim, for how much); :class:`Redeemer` the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog

from kashbot import amm
from kashbot.client.errors import (
    KashError,
    PositionNotClaimable,
    RedemptionsNotEnabled,
)
from kashbot.client.models import Redemption
from kashbot.clock import Clock
from kashbot.engine.state import EngineState, MarketView
from kashbot.events import Event, PositionRedeemed
from kashbot.lifecycle import Phase
from kashbot.money import Atomic, Wad
from kashbot.store.records import (
    REDEEM_ACCEPTED,
    REDEEM_DISABLED,
    REDEEM_NOT_CLAIMABLE,
    REDEEM_REFUSED,
    REDEEM_REQUESTED,
    REDEEM_ZERO,
    RedemptionRecord,
)
from kashbot.store.store import Store

log = structlog.get_logger("kashbot.redeem")


@runtime_checkable
class RedemptionVenue(Protocol):
    async def create_redemption(
        self, market_id: str, outcome_index: int, *, idempotency_key: str | None = None
    ) -> Redemption: ...


@dataclass(frozen=True, slots=True)
class RedeemSettings:
    """``redemption.*`` in the config (see docs/lifecycle.md)."""

    enabled: bool = True
    interval_s: float = 30.0
    # 409 POSITION_NOT_CLAIMABLE on a fresh claim: book the position at 0 (frees its exposure)
    write_off_not_claimable: bool = True


@dataclass(frozen=True, slots=True)
class Claim:
    """One position to close: ``payout`` is what the engine expects it to pay."""

    market_id: str
    outcome: int
    shares: Wad
    cost: Atomic
    kind: str  # resolved | cancelled | lost (0, no request)
    payout: Atomic

    @property
    def needs_request(self) -> bool:
        return self.kind != "lost"


def redemption_key(market_id: str, outcome: int) -> str:
    """The Idempotency-Key of a position's claim: one per position, stable across restarts."""
    return f"kb-redeem:{market_id}:{outcome}"


def expected_payout(view: MarketView, outcome: int, shares: Wad, cost: Atomic) -> Atomic:
    """The AMM's redemption formula on the last pool seen (§13); without a pool (REST markets
    whose pool was never recovered from a quote) the cost basis: PnL 0 until the venue says more.
    """
    pool = view.last_pool
    cancelled = view.phase(0.0) is Phase.CANCELLED
    if pool is None or not 0 <= outcome < pool.outcome_count:
        return cost
    if not cancelled and not view.winning_outcomes:
        return cost
    return amm.settlement_payout(
        pool, outcome, shares, winners=view.winning_outcomes, cancelled=cancelled
    )


def plan_claims(state: EngineState) -> list[Claim]:
    """Every position we hold in a settled (resolved or cancelled) market, and its payout."""
    out: list[Claim] = []
    for (market_id, outcome), held in sorted(state.portfolio.holdings.items()):
        if held.shares <= 0:
            continue
        view = state.markets.get(market_id)
        if view is None:
            continue
        phase = view.phase(0.0)  # settled phases do not depend on the time
        if phase is Phase.CANCELLED:
            kind = "cancelled"
        elif phase is Phase.RESOLVED:
            known_loser = bool(view.winning_outcomes) and outcome not in view.winning_outcomes
            kind = "lost" if known_loser else "resolved"
        else:
            continue
        payout = 0 if kind == "lost" else expected_payout(view, outcome, held.shares, held.cost)
        out.append(Claim(market_id, outcome, held.shares, held.cost, kind, payout))
    return out


class Redeemer:
    """Claims what :func:`plan_claims` finds; ``run`` every ``interval_s``, ``recover`` at start."""

    def __init__(
        self,
        venue: RedemptionVenue,
        store: Store,
        state: EngineState,
        emit: Callable[[Event], None],
        clock: Clock,
        settings: RedeemSettings | None = None,
    ) -> None:
        self.venue = venue
        self.store = store
        self.state = state
        self.emit = emit
        self.clock = clock
        self.settings = settings or RedeemSettings()
        self.disabled_reason: str | None = None  # REDEMPTIONS_NOT_ENABLED: stop asking
        self._booked: set[tuple[str, int]] = set()  # positions this process closed already
        self.pending: dict[tuple[str, int], Claim] = {}  # sent, no answer yet (re-sent later)

    async def run(self) -> None:
        """Claim every ``interval_s`` until cancelled."""
        await self.recover()
        while True:
            await self.run_once()
            await self.clock.sleep(self.settings.interval_s)

    async def recover(self) -> list[RedemptionRecord]:
        """Re-send every claim persisted before a crash whose answer never arrived."""
        rows = [r for r in await self.store.redemptions() if r.status == REDEEM_REQUESTED]
        for row in rows:
            claim = Claim(
                row.market_id,
                row.outcome,
                row.shares,
                row.cost_basis,
                row.kind,
                row.expected_payout,
            )
            await self._send(claim, row)
        return rows

    async def run_once(self) -> list[Claim]:
        """One pass: close or claim every settled position not closed yet; what it handled."""
        if not self.settings.enabled or self.disabled_reason is not None:
            return []
        done: list[Claim] = []
        for claim in plan_claims(self.state):
            key = (claim.market_id, claim.outcome)
            if key in self._booked:
                continue  # closed by this process; the event may still be in the inbox
            row = await self.store.get_redemption(*key)
            if row is not None and row.status != REDEEM_REQUESTED:
                self._settled_before(claim, row)
                continue
            if not claim.needs_request:
                await self._put(claim, REDEEM_ZERO, detail="losing outcome: pays 0")
                self._book(claim, claim.payout, "lost", None)
            else:
                await self._send(claim, row)
            done.append(claim)
        return done

    def status(self) -> dict[str, object]:
        """The redeemer's part of the status view: what is claimable now, what awaits an answer."""
        return {
            "enabled": self.settings.enabled and self.disabled_reason is None,
            "disabled_reason": self.disabled_reason,
            "claimable": [
                (c.market_id, c.outcome, c.kind, c.payout)
                for c in plan_claims(self.state)
                if claim_key(c) not in self._booked and claim_key(c) not in self.pending
            ],
            "pending": [(c.market_id, c.outcome, c.kind, c.payout) for c in self.pending.values()],
        }

    # ---- internals ---------------------------------------------------------------------------

    def _settled_before(self, claim: Claim, row: RedemptionRecord) -> None:
        """A claim a previous run finished: the position is back on a fresh book (recovery from
        the venue, which shows it until the payout lands), so close it again at the same payout."""
        if row.status in (REDEEM_ACCEPTED, REDEEM_ZERO):
            self._book(claim, row.expected_payout, row.kind, row.redemption_id)

    async def _put(
        self,
        claim: Claim,
        status: str,
        *,
        redemption_id: str | None = None,
        detail: str = "",
    ) -> None:
        await self.store.put_redemption(
            RedemptionRecord(
                market_id=claim.market_id,
                outcome=claim.outcome,
                shares=claim.shares,
                cost_basis=claim.cost,
                kind=claim.kind,
                expected_payout=claim.payout,
                idempotency_key=redemption_key(claim.market_id, claim.outcome),
                status=status,
                redemption_id=redemption_id,
                detail=detail,
                updated_ts=self.clock.now(),
            )
        )

    async def _send(self, claim: Claim, row: RedemptionRecord | None) -> None:
        """Persist, POST, and act on the answer; a transient failure stays ``requested``."""
        resent = row is not None
        if row is None:
            await self._put(claim, REDEEM_REQUESTED)
        key = row.idempotency_key if row is not None else redemption_key(*claim_key(claim))
        self.pending[claim_key(claim)] = claim
        try:
            redemption = await self.venue.create_redemption(
                claim.market_id, claim.outcome, idempotency_key=key
            )
        except KashError as exc:
            final = isinstance(exc, PositionNotClaimable | RedemptionsNotEnabled)
            if final or exc.definite_refusal:
                self.pending.pop(claim_key(claim), None)
            await self._refused(claim, exc, resent)
            return
        self.pending.pop(claim_key(claim), None)
        await self._put(claim, REDEEM_ACCEPTED, redemption_id=redemption.id)
        log.info(
            "redemption_accepted",
            market_id=claim.market_id,
            outcome=claim.outcome,
            redemption_id=redemption.id,
            replay=redemption.idempotent,
            status=redemption.status,
            expected_payout=claim.payout,
        )
        self._book(claim, claim.payout, redemption.kind or claim.kind, redemption.id)

    async def _refused(self, claim: Claim, exc: KashError, resent: bool) -> None:
        """Act on a claim's error: operator messages, never a retry, except a transient one."""
        if isinstance(exc, PositionNotClaimable):
            await self._not_claimable(claim, exc, resent)
        elif isinstance(exc, RedemptionsNotEnabled):
            self.disabled_reason = f"REDEMPTIONS_NOT_ENABLED: {exc.detail or exc}"
            await self._put(claim, REDEEM_DISABLED, detail=self.disabled_reason)
            log.error(
                "redemptions_not_enabled",
                detail=exc.detail,
                action="self-service redemption is switched off for this account: claim "
                "the winnings in the Kash app or ask support to enable it; kashbot stops asking",
            )
        elif not exc.definite_refusal:
            log.warning("redemption_retry_later", market_id=claim.market_id, error=str(exc))
            # unknown outcome: the same key is re-sent next pass
        else:
            detail = f"{exc.code or type(exc).__name__}: {exc.detail or exc}"
            await self._put(claim, REDEEM_REFUSED, detail=detail)
            log.error("redemption_refused", market_id=claim.market_id, detail=detail)

    async def _not_claimable(self, claim: Claim, exc: PositionNotClaimable, resent: bool) -> None:
        detail = exc.detail or str(exc)
        if resent:
            # our own claim, sent before a crash, has been paid since: book it as accepted
            await self._put(claim, REDEEM_ACCEPTED, detail=f"after restart: {detail}")
            log.info("redemption_already_paid", market_id=claim.market_id, detail=detail)
            self._book(claim, claim.payout, claim.kind, None)
            return
        await self._put(claim, REDEEM_NOT_CLAIMABLE, detail=detail)
        log.error(
            "position_not_claimable",
            market_id=claim.market_id,
            outcome=claim.outcome,
            detail=detail,
            action="not retried: the market is unsettled, the outcome lost, it was redeemed "
            "already, or an earlier redemption FAILED and holds the slot (contact Kash support)",
        )
        if self.settings.write_off_not_claimable:
            self._book(claim, 0, "written_off", None)

    def _book(self, claim: Claim, payout: Atomic, kind: str, redemption_id: str | None) -> None:
        self._booked.add(claim_key(claim))
        last = not any(
            m == claim.market_id and o != claim.outcome and h.shares > 0
            for (m, o), h in self.state.portfolio.holdings.items()
        )
        self.emit(
            PositionRedeemed(
                ts=self.clock.now(),
                market_id=claim.market_id,
                outcome=claim.outcome,
                shares=claim.shares,
                payout=payout,
                kind=kind,
                redemption_id=redemption_id,
                last=last,
                cost=claim.cost,
            )
        )


def claim_key(claim: Claim) -> tuple[str, int]:
    return claim.market_id, claim.outcome


async def redeem_all(redeemer: Redeemer) -> list[Claim]:
    """``kashbot redeem``: recover, then one pass (the command's whole job)."""
    await redeemer.recover()
    return await redeemer.run_once()
