"""The engine's fill log: totals and per-market sums exact over every fill, memory bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kashbot.engine.fill_log import BUY_HORIZON_S, RECENT_FILLS, FillLog
from kashbot.engine.state import EngineState
from kashbot.events import Side, TradeUpdate
from kashbot.valuation import Fill

WAD = 10**18


def _fill(i: int, market: str = "m1", side: Side = Side.BUY, usdc: int = 1_000_000) -> Fill:
    return Fill(float(i), f"t{i}", f"i{i}", market, 0, side, usdc, WAD)


def test_window_stays_at_its_cap_while_totals_count_every_fill() -> None:
    log = FillLog(window=10)
    for i in range(1_000):
        log.append(_fill(i, side=Side.BUY if i % 3 else Side.SELL))
    assert len(log) == 10 and len(log._recent) == 10  # the window, not the uptime
    assert log.total == 1_000 and log.sells == 334 and log.buys == 666
    assert log.volume == 1_000 * 1_000_000
    assert [f.trade_id for f in log.newest(3)] == ["t997", "t998", "t999"]
    assert log[-1].trade_id == "t999" and next(reversed(log)).trade_id == "t999"
    assert next(iter(log)).trade_id == "t990"
    with pytest.raises(ValueError, match="window"):
        FillLog(window=0)


def test_buy_window_per_market_forgets_buys_past_the_horizon() -> None:
    log = FillLog()
    step = 600  # a buy every 10 minutes for 30 days
    n = int(30 * 86_400 / step)
    for i in range(n):
        log.append(Fill(float(i * step), f"t{i}", None, "m1", 0, Side.BUY, 1, WAD))
    kept = len(log._buys["m1"])
    assert kept <= BUY_HORIZON_S / step + 1  # the horizon, not the 30 days
    now = (n - 1) * step
    assert log.bought_since("m1", now - 86_400) == 86_400 // step + 1
    assert log.cash("m1") == -n and log.last_buy_ts("m1") == float(now)
    assert log.bought_since("m2", 0.0) == 0 and log.last_buy_ts("m2") is None


fills = st.lists(
    st.tuples(
        st.integers(0, 200_000),  # ts (s)
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 10**9),
    ),
    max_size=60,
)


@given(fills, st.integers(0, 200_000))
def test_sums_match_a_scan_of_every_fill(rows: list[tuple[int, str, Side, int]], back: int) -> None:
    """What strategies read equals the old scan over a full list (the window of 5 is no help)."""
    log = FillLog(window=5)
    every = [
        Fill(float(ts), f"t{i}", None, m, 0, s, u, WAD) for i, (ts, m, s, u) in enumerate(rows)
    ]
    rows_sorted = sorted(every, key=lambda f: f.ts)  # fills arrive in time order
    for f in rows_sorted:
        log.append(f)
    newest = rows_sorted[-1].ts if rows_sorted else 0.0
    since = newest - min(back, 86_400)  # a daily budget looks back at most one day
    for m in "abc":
        mine = [f for f in rows_sorted if f.market_id == m]
        assert log.cash(m) == sum(f.usdc if f.side is Side.SELL else -f.usdc for f in mine)
        buys = [f for f in mine if f.side is Side.BUY]
        assert log.last_buy_ts(m) == (buys[-1].ts if buys else None)
        assert log.bought_since(m, since) == sum(f.usdc for f in buys if f.ts >= since)
    assert log.total == len(every) and log.volume == sum(f.usdc for f in every)


def test_engine_state_books_fills_into_the_bounded_log() -> None:
    state = EngineState()
    n = RECENT_FILLS + 250
    for i in range(n):
        state.apply(
            TradeUpdate(float(i), f"t{i}", f"i{i}", "m1", 0, Side.BUY, 2, "completed", tokens=WAD)
        )
    assert len(state.fills) == RECENT_FILLS and state.fills.total == n
    assert state.fills.cash("m1") == -2 * n
