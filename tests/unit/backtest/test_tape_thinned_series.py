"""ThinnedSeries: a plain list below its cap; above it an even, bounded sample whose last
element is always the newest point (the report reads ``series[-1]``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kashbot.backtest.tape import ThinnedSeries


def _point(i: int) -> tuple[float, tuple[int, ...]]:
    return (float(i), (i, -i))


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 64), st.integers(0, 2_000))
def test_bounded_even_sample_with_the_newest_last(cap: int, n: int) -> None:
    series = ThinnedSeries(cap)
    for i in range(n):
        series.append(_point(i))
        assert series[-1] == _point(i)
        assert len(series) <= cap
    if n <= cap - 1:
        assert list(series) == [_point(i) for i in range(n)]
        return
    body = series[:-1] if series.tail else series[:]
    assert [p[0] for p in body] == [float(i) for i in range(0, n, series.stride)][: len(body)]
    assert [p[0] for p in body] == [float(i) for i in range(0, n, series.stride)]
    assert len(series) >= cap // 2  # thinning halves at most once per cap points


def test_a_plain_list_below_the_cap() -> None:
    series = ThinnedSeries(10)
    for i in range(9):
        series.append(_point(i))
    assert series == [_point(i) for i in range(9)] and series.stride == 1
