"""A backtest's records do not grow its memory with the run's length (issue 17): fills,
inventory and intents are spooled to disk, the equity curve keeps exact statistics and a
thinned sample, denials are counted, the intent reasons are a bounded window."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from kashbot.backtest.config import BacktestSettings
from kashbot.backtest.metrics import (
    Book,
    EquityCurve,
    EquityPoint,
    max_drawdown,
    sharpe_daily,
    sharpe_of_days,
)
from kashbot.backtest.spool import Spool
from kashbot.backtest.tape import REASONS_KEPT, Tape
from kashbot.events import OrderIntent, Side
from kashbot.valuation import Fill

WAD = 10**18


def test_spool_keeps_only_a_count_in_memory_and_reads_back_in_order() -> None:
    spool: Spool[Fill] = Spool()
    made = [Fill(i * 0.1, f"t{i}", f"i{i}", "m", i % 3, Side.BUY, i, WAD) for i in range(5_000)]
    for f in made:
        spool.append(f)
    assert len(spool) == 5_000 and spool._file.tell() > 0  # on disk, not in a list
    assert list(spool) == made  # floats, ints and strings round-trip exactly
    assert spool[0] == made[0] and spool[-1] == made[-1] and spool[10:13] == made[10:13]
    it = iter(spool)
    next(it)
    spool.append(made[0])  # appending mid-iteration does not disturb the reader
    assert next(it) == made[1] and len(spool) == 5_001
    assert spool == [*made, made[0]]
    spool.close()


points = st.lists(
    st.tuples(
        st.floats(0, 10 * 86_400, allow_nan=False),
        st.integers(-(10**12), 10**12),
        st.integers(0, 10**12),
    ),
    max_size=300,
)


@given(points, st.integers(2, 16))
def test_equity_curve_statistics_match_the_full_list(
    rows: list[tuple[float, int, int]], cap: int
) -> None:
    initial = 10**9
    full = [EquityPoint(ts, 0, eq - initial, eq, risk) for ts, eq, risk in sorted(rows)]
    curve = EquityCurve(initial, cap=cap)
    for p in full:
        curve.append(p)
    want = max_drawdown([(initial, 0), *((p.equity, p.at_risk) for p in full)])
    assert curve.drawdown() == want
    assert curve.appended == len(full) and len(curve) <= cap
    assert sharpe_of_days(initial, curve.daily()) == sharpe_daily(initial, full)
    if full:
        assert curve[0] == full[0] and curve[-1] == full[-1]  # the ends of the sample are exact
        assert all(p in full for p in curve)


def test_equity_curve_sample_stays_at_its_cap() -> None:
    curve = EquityCurve(0, cap=64)
    for i in range(100_000):
        curve.append(EquityPoint(float(i), 0, 0, random.randint(-5, 5), 1))
    assert len(curve) <= 64 and curve.appended == 100_000
    assert len(curve.daily()) == 2  # one entry a simulated day (100,000 s)
    assert [p.ts for p in curve] == sorted(p.ts for p in curve)


def test_tape_denials_counted_and_reasons_a_window() -> None:
    tape = Tape(BacktestSettings(), Book(cash=10**9))
    for i in range(REASONS_KEPT + 500):
        tape.on_intent(
            OrderIntent(
                intent_id=f"i{i}",
                strategy="s",
                market_id="m",
                outcome=0,
                side=Side.BUY,
                amount=1,
                created_ts=float(i),
                reason="r",
            )
        )
    assert len(tape.reasons) == REASONS_KEPT and f"i{REASONS_KEPT + 499}" in tape.reasons
    assert "i0" not in tape.reasons
    assert len(tape.intents) == REASONS_KEPT + 500  # every intent still in intents.jsonl
    assert isinstance(tape.intents, Spool) and isinstance(tape.fills, Spool)
