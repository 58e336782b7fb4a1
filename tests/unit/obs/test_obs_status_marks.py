"""One mark rule: the status view and the backtest report value the same positions the same way
(exit value into the pool; at cost, flagged, when the pool is unknown)."""

from __future__ import annotations

from rich.console import Console

from kashbot import amm
from kashbot.backtest.metrics import Book, mark_value
from kashbot.engine.state import EngineState
from kashbot.events import MarketSnapshot, Side, TradeUpdate
from kashbot.money import WAD
from kashbot.obs.status import mark_positions, render, take_snapshot
from kashbot.valuation import Fill, Mark, exit_value, mark_position

U = 10**6
POOL = amm.seed_pool(1_000 * U, (WAD // 4, WAD * 3 // 4))


def _buy(trade_id: str, market_id: str, outcome: int, usdc: int, tokens: int) -> TradeUpdate:
    return TradeUpdate(
        1.0, trade_id, f"i-{trade_id}", market_id, outcome, Side.BUY, usdc, "completed", tokens
    )


def _state() -> tuple[EngineState, dict[str, amm.Pool]]:
    """Three positions: a known pool, a market seen without a pool, one bigger than its pool."""
    state = EngineState()
    small = amm.seed_pool(5 * U, (WAD // 2, WAD // 2))
    state.apply(MarketSnapshot(0.0, "known", "ACTIVE", amm.probabilities(POOL), POOL))
    state.apply(MarketSnapshot(0.0, "nopool", "ACTIVE", (WAD // 2, WAD // 2), None))
    state.apply(MarketSnapshot(0.0, "small", "ACTIVE", amm.probabilities(small), small))
    bought = amm.buy(POOL, 0, 50 * U)
    state.apply(_buy("t1", "known", 0, 50 * U, bought.tokens_out))
    state.apply(_buy("t2", "nopool", 1, 7 * U, 9 * WAD))
    state.apply(_buy("t3", "small", 0, 40 * U, small.supplies[0] * 3))
    return state, {"known": POOL, "small": small}


def test_obs_status_and_backtest_agree_on_the_same_fills() -> None:
    state, pools = _state()
    assert all(isinstance(f, Fill) for f in state.fills)  # one Fill type for both
    book = Book(cash=0)
    for fill in state.fills:
        book.apply(fill)
    snap = take_snapshot(state, uptime_s=1.0, now=2.0)
    cost = sum(p.cost for p in book.positions.values())
    assert snap.unrealized == mark_value(book.positions, pools, state.fees) - cost
    marks = {(p.market_id, p.outcome): p for p in mark_positions(state)}
    for key, pos in book.positions.items():
        both = mark_position(pools.get(key[0]), key[1], pos.tokens, pos.cost, state.fees)
        assert (marks[key].value, marks[key].marked) == (both.value, both.marked)


def test_obs_status_marks_unknown_pool_at_cost_and_flags_it() -> None:
    state, _pools = _state()
    marks = {p.market_id: p for p in mark_positions(state)}
    assert (marks["nopool"].value, marks["nopool"].marked) == (7 * U, False)
    assert marks["known"].marked and marks["known"].value < 50 * U  # fees both ways
    doc = take_snapshot(state, uptime_s=1.0, now=2.0).as_json()
    assert [p["marked"] for p in doc["positions"]] == [True, False, True]
    console = Console(width=200, record=True)
    console.print(render(take_snapshot(state, uptime_s=1.0, now=2.0)))
    assert "(at cost)" in console.export_text()


def test_obs_valuation_exit_value_is_amm_sell_payout_capped_by_the_pool() -> None:
    bought = amm.buy(POOL, 0, 50 * U)
    pool = bought.pool
    assert exit_value(pool, 0, bought.tokens_out) == amm.sell(pool, 0, bought.tokens_out).payout
    too_many = pool.supplies[0] * 2
    most = amm.sell(pool, 0, pool.supplies[0] - 1).payout
    assert exit_value(pool, 0, too_many) == most
    assert exit_value(pool, 0, 0) == 0


def test_obs_valuation_mark_position_rules() -> None:
    assert mark_position(POOL, 0, 0, 5 * U) == Mark(0, True)  # nothing held
    assert mark_position(None, 0, WAD, 5 * U) == Mark(5 * U, False)  # unknown pool: at cost
    assert mark_position(POOL, 7, WAD, 5 * U) == Mark(5 * U, False)  # outcome not in the pool
    assert mark_position(POOL, 1, WAD, 5 * U) == Mark(amm.sell(POOL, 1, WAD).payout, True)
