"""Properties of the market lifecycle, redemptions and the freeze margin (issue 11).

* The gate never approves a buy at or past ``freezeAt - freeze_margin_s``, whatever the intent.
* After a redemption, the book's exposure for that market is zero and its holdings are gone.
* The engine's expected payout is the AMM redemption formula: ``R * tokens // winning supply``
  for a winner, 0 for a loser, the snapshotted marginal price for a cancelled market; refunds of
  every outcome's whole supply never exceed the reserve.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.events import MarketSnapshot, OrderIntent, Side
from kashbot.lifecycle import Lifecycle, Phase, phase_at
from kashbot.money import ATOMIC_TO_WAD, WAD
from kashbot.portfolio import Portfolio
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits
from kashbot.risk.rules import Denial, Reason

U = 1_000_000


@settings(max_examples=300, deadline=None)
@given(
    freeze_at=st.floats(0, 1e6, allow_nan=False),
    offset=st.floats(-1e5, 1e5, allow_nan=False),
    margin=st.floats(0, 3600, allow_nan=False),
    amount=st.integers(1, 500),
    status=st.sampled_from(["ACTIVE", "UNSEEDED", "RESOLVED", "ABANDONED"]),
    resolution=st.sampled_from(
        [None, "resolving", "proposed", "settling", "resolved", "cancelled"]
    ),
)
def test_the_gate_never_approves_a_buy_past_the_freeze_margin(
    freeze_at: float,
    offset: float,
    margin: float,
    amount: int,
    status: str,
    resolution: str | None,
) -> None:
    now = freeze_at + offset
    clock = SimClock(start=now)
    gate = RiskGate(Limits.for_tier("developer", freeze_margin_s=margin), clock=clock)
    gate.observe(
        MarketSnapshot(
            ts=now - 1,
            market_id="m",
            status=status,
            probabilities=(WAD // 2, WAD // 2),
            freeze_at=freeze_at,
            resolution_state=resolution,
        )
    )
    intent = OrderIntent("i-1", "s", "m", 0, Side.BUY, amount * U // 100)
    verdict = gate.check(intent, now)
    if now >= freeze_at - margin or status != "ACTIVE" or resolution is not None:
        assert isinstance(verdict, Denial)
        assert verdict.reason in (Reason.MARKET_FROZEN, Reason.MARKET_CLOSED)
    else:
        assert not isinstance(verdict, Denial)


pools = st.tuples(st.integers(1, 10_000), st.lists(st.integers(1, 98), min_size=2, max_size=5)).map(
    lambda t: amm.seed_pool(
        t[0] * U,
        tuple(
            [p * WAD // sum(t[1]) for p in t[1][:-1]]
            + [WAD - sum(p * WAD // sum(t[1]) for p in t[1][:-1])]
        ),
    )
)


@settings(max_examples=200, deadline=None)
@given(pool=pools, data=st.data())
def test_payouts_equal_the_amm_redemption_formula(pool: amm.Pool, data: st.DataObject) -> None:
    n = pool.outcome_count
    winner = data.draw(st.integers(0, n - 1))
    outcome = data.draw(st.integers(0, n - 1))
    tokens = data.draw(st.integers(1, pool.supplies[outcome]))
    paid = amm.settlement_payout(pool, outcome, tokens, winners=(winner,), cancelled=False)
    if outcome == winner:
        assert paid == pool.reserve * tokens // pool.supplies[winner] // ATOMIC_TO_WAD
    else:
        assert paid == 0
    refund = amm.settlement_payout(pool, outcome, tokens, winners=(), cancelled=True)
    assert refund == tokens * amm.marginal_prices(pool)[outcome] // WAD // ATOMIC_TO_WAD
    whole = sum(amm.cancellation_refund(pool, i, pool.supplies[i]) for i in range(n))
    assert whole <= pool.reserve // ATOMIC_TO_WAD


@settings(max_examples=200, deadline=None)
@given(
    buys=st.lists(
        st.tuples(
            st.sampled_from(["m", "k"]),
            st.integers(0, 3),
            st.integers(1, 10**20),
            st.integers(1, 10**9),
        ),
        min_size=1,
        max_size=20,
    ),
    payouts=st.dictionaries(st.integers(0, 3), st.integers(0, 10**9)),
    per_outcome=st.booleans(),
)
def test_exposure_after_redemption_is_zero_for_that_market(
    buys: list[tuple[str, int, int, int]], payouts: dict[int, int], per_outcome: bool
) -> None:
    book = Portfolio()
    for market, outcome, tokens, usdc in buys:
        book.buy(market, outcome, tokens, usdc)
        book.expose(market, usdc)
    other = book.exposure("k")
    cash = book.cash
    if per_outcome:
        outcomes = sorted(o for m, o in book.holdings if m == "m")
        for o in outcomes:
            book.redeem("m", o, payouts.get(o, 0))
    else:
        book.settle_market("m", payouts)
    assert book.exposure("m") == 0
    assert not any(m == "m" for m, _ in book.holdings)
    assert book.exposure("k") == other
    held = {o for m, o, *_ in buys if m == "m"}
    assert book.cash == cash + sum(payouts.get(o, 0) for o in held)


@given(t=st.floats(-1e6, 1e6, allow_nan=False), margin=st.floats(0, 1e4, allow_nan=False))
def test_phase_is_monotone_in_time_for_an_active_market(t: float, margin: float) -> None:
    lc = Lifecycle("ACTIVE", freeze_at=0.0)
    order = [Phase.OPEN, Phase.FREEZING, Phase.FROZEN]
    a, b = phase_at(lc, t, margin), phase_at(lc, t + 1.0, margin)
    assert order.index(a) <= order.index(b)
