"""The redeemer: one claim per position, 0-payers closed without a request, operator errors not
retried, and a kill -9 between the POST and its answer never claims twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kashbot import amm
from kashbot.client.errors import (
    KashError,
    KashNetworkError,
    PositionNotClaimable,
    RedemptionsNotEnabled,
)
from kashbot.client.models import Redemption
from kashbot.clock import SimClock
from kashbot.engine.state import EngineState
from kashbot.events import Event, MarketSnapshot, PositionRedeemed
from kashbot.execution.redeem import Redeemer, plan_claims, redemption_key
from kashbot.money import ATOMIC_TO_WAD, USDC_ONE, WAD
from kashbot.store.records import (
    REDEEM_ACCEPTED,
    REDEEM_DISABLED,
    REDEEM_NOT_CLAIMABLE,
    REDEEM_REQUESTED,
    REDEEM_ZERO,
)
from kashbot.store.store import SCHEMA_VERSION, Store

U = USDC_ONE
M = str(uuid.UUID(int=1))
POOL = amm.seed_pool(100 * U, (WAD * 3 // 10, WAD * 7 // 10))


@dataclass
class FakeRedemptions:
    """Kash's per-position idempotency: a second request for a position answers the first."""

    claims: dict[tuple[str, int], Redemption] = field(default_factory=dict)
    keys: list[str | None] = field(default_factory=list)
    lose_answer: int = 0  # the next N answers are lost after the claim was made
    errors: list[KashError] = field(default_factory=list)

    async def create_redemption(
        self, market_id: str, outcome_index: int, *, idempotency_key: str | None = None
    ) -> Redemption:
        self.keys.append(idempotency_key)
        if self.errors:
            raise self.errors.pop(0)
        pos = (market_id, outcome_index)
        first = self.claims.get(pos)
        if first is None:
            first = self.claims[pos] = Redemption(
                id=str(uuid.uuid4()),
                market_id=market_id,
                outcome_index=outcome_index,
                kind="resolved",
                shares_wad=0,
                status="pending",
            )
        if self.lose_answer:
            self.lose_answer -= 1
            raise KashNetworkError("connection reset")
        return first.model_copy(update={"idempotent": first is not None and len(self.keys) > 1})


def settled_state(resolution: str = "resolved", winners: tuple[int, ...] = (1,)) -> EngineState:
    state = EngineState()
    state.apply(
        MarketSnapshot(
            1.0,
            M,
            "RESOLVED",
            (0, WAD),
            pool=POOL,
            resolution_state=resolution,
            winning_outcomes=winners,
        )
    )
    state.set_position(M, 0, 5 * WAD, 3 * U)
    state.set_position(M, 1, 10 * WAD, 6 * U)
    return state


async def rig(
    tmp_path: Path, state: EngineState, venue: FakeRedemptions
) -> tuple[Redeemer, list[Event], Store]:
    store = await Store.open(tmp_path / "r.db")
    events: list[Event] = []

    def emit(ev: Event) -> None:
        events.append(ev)
        state.apply(ev)

    return Redeemer(venue, store, state, emit, SimClock(start=10.0)), events, store


def test_plan_pays_winners_by_the_amm_formula_and_losers_zero() -> None:
    claims = {c.outcome: c for c in plan_claims(settled_state())}
    assert claims[0].kind == "lost" and claims[0].payout == 0 and not claims[0].needs_request
    assert claims[1].payout == POOL.reserve * 10 * WAD // POOL.supplies[1] // ATOMIC_TO_WAD
    refunds = {c.outcome: c for c in plan_claims(settled_state("cancelled", ()))}
    assert refunds[0].kind == "cancelled" and refunds[0].payout == amm.cancellation_refund(
        POOL, 0, 5 * WAD
    )
    assert plan_claims(EngineState()) == []


async def test_each_position_is_claimed_once_and_the_book_is_released(tmp_path: Path) -> None:
    state, venue = settled_state(), FakeRedemptions()
    redeemer, events, store = await rig(tmp_path, state, venue)
    await redeemer.run_once()
    await redeemer.run_once()
    assert list(venue.claims) == [(M, 1)]  # the loser was closed without a request
    assert venue.keys == [redemption_key(M, 1)]
    rows = {r.outcome: r for r in await store.redemptions()}
    assert rows[0].status == REDEEM_ZERO and rows[1].status == REDEEM_ACCEPTED
    assert [type(e) for e in events] == [PositionRedeemed, PositionRedeemed]
    assert not state.portfolio.holdings
    payout = plan_payout = rows[1].expected_payout
    assert state.realized == payout - 9 * U == state.portfolio.redeemed
    assert plan_payout > 0 and await store.schema_version() == SCHEMA_VERSION == 2
    await store.close()


async def test_kill_between_post_and_answer_never_claims_twice(tmp_path: Path) -> None:
    state, venue = settled_state(winners=(1,)), FakeRedemptions(lose_answer=1)
    redeemer, _events, store = await rig(tmp_path, state, venue)
    await redeemer.run_once()  # the claim is made, its answer lost
    assert (await store.get_redemption(M, 1)).status == REDEEM_REQUESTED  # type: ignore[union-attr]
    await store.close()
    # "kill -9": a new process, a fresh book recovered from the venue, the same store file
    state2 = settled_state(winners=(1,))
    redeemer2, _events2, store2 = await rig(tmp_path, state2, venue)
    await redeemer2.recover()
    await redeemer2.run_once()
    assert len(venue.claims) == 1 and set(venue.keys) == {redemption_key(M, 1)}
    assert (await store2.get_redemption(M, 1)).status == REDEEM_ACCEPTED  # type: ignore[union-attr]
    assert not state2.portfolio.holdings
    await store2.close()


async def test_not_claimable_is_an_operator_message_not_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = settled_state(winners=())  # winner unknown: both positions are asked for
    venue = FakeRedemptions(errors=[PositionNotClaimable(status=409, detail="losing outcome")])
    redeemer, events, store = await rig(tmp_path, state, venue)
    await redeemer.run_once()
    await redeemer.run_once()
    assert len(venue.keys) == 2  # one each, never again
    row = await store.get_redemption(M, 0)
    assert row is not None and row.status == REDEEM_NOT_CLAIMABLE and "losing" in row.detail
    kinds = sorted(e.kind for e in events if isinstance(e, PositionRedeemed))
    assert kinds == ["resolved", "written_off"]
    await store.close()


async def test_redemptions_not_enabled_stops_asking(tmp_path: Path) -> None:
    venue = FakeRedemptions(errors=[RedemptionsNotEnabled(status=404)])
    redeemer, _events, store = await rig(tmp_path, settled_state(), venue)
    await redeemer.run_once()
    await redeemer.run_once()
    assert len(venue.keys) == 1 and redeemer.disabled_reason is not None
    assert (await store.get_redemption(M, 1)).status == REDEEM_DISABLED  # type: ignore[union-attr]
    assert redeemer.status()["enabled"] is False
    await store.close()


async def test_a_transient_failure_is_resent_with_the_same_key(tmp_path: Path) -> None:
    venue = FakeRedemptions(errors=[KashNetworkError("reset", unsent=True)])
    redeemer, _, store = await rig(tmp_path, settled_state(), venue)
    await redeemer.run_once()
    await redeemer.run_once()
    assert venue.keys == [redemption_key(M, 1)] * 2 and len(venue.claims) == 1
    await store.close()


async def test_unsettled_markets_are_not_claimed(tmp_path: Path) -> None:
    state = EngineState()
    state.apply(MarketSnapshot(1.0, M, "ACTIVE", (WAD // 2, WAD // 2), resolution_state="proposed"))
    state.set_position(M, 0, WAD, U)
    venue = FakeRedemptions()
    redeemer, events, store = await rig(tmp_path, state, venue)
    assert await redeemer.run_once() == [] and not venue.keys and not events
    await store.close()
