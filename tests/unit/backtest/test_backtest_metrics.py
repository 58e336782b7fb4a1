"""Backtest accounting: exact PnL, fees, drawdown and the Sharpe-like ratio."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from kashbot import amm
from kashbot.backtest import metrics as m
from kashbot.events import Side
from kashbot.money import WAD
from kashbot.valuation import Fill

DAY = 86_400.0


def _buy(ts: float, usdc: int, tokens: int, fee: int, tid: str = "t") -> Fill:
    return Fill(ts, tid, "i", "mk", 0, Side.BUY, usdc, tokens, fee)


def _sell(ts: float, usdc: int, tokens: int, fee: int, tid: str = "t") -> Fill:
    return Fill(ts, tid, "i", "mk", 0, Side.SELL, usdc, tokens, fee)


def test_metrics_average_cost_realised_pnl_is_exact() -> None:
    book = m.Book(cash=1_000_000_000)
    assert book.apply(_buy(1, 10_000_000, 30 * WAD, 100_000)) == 0
    assert book.apply(_buy(2, 20_000_000, 30 * WAD, 200_000)) == 0
    # 60 tokens cost 30 USDC: selling a third (20 tokens) releases 10 USDC of basis.
    assert book.apply(_sell(3, 12_000_000, 20 * WAD, 240_000)) == 2_000_000
    pos = book.positions[("mk", 0)]
    assert (pos.tokens, pos.cost) == (40 * WAD, 20_000_000)
    assert book.cash == 1_000_000_000 - 30_000_000 + 12_000_000
    assert (book.fees, book.volume, book.buys, book.sells) == (540_000, 42_000_000, 2, 1)
    assert book.realised == 2_000_000


def test_metrics_selling_more_than_held_is_an_error() -> None:
    book = m.Book(cash=0)
    with pytest.raises(ValueError, match="holds 0"):
        book.apply(_sell(1, 1, WAD, 0))


def test_metrics_mark_is_exact_exit_value_from_amm() -> None:
    pool = amm.seed_pool(1_000 * 10**6, (WAD // 4, WAD * 3 // 4))
    bought = amm.buy(pool, 0, 50 * 10**6)
    book = m.Book(cash=0)
    book.apply(_buy(1, 50 * 10**6, bought.tokens_out, bought.protocol_fee))
    expected = amm.sell(bought.pool, 0, bought.tokens_out).payout
    assert m.mark_value(book.positions, {"mk": bought.pool}) == expected
    assert expected < 50 * 10**6  # fees both ways: a round trip loses money
    assert m.mark_value(book.positions, {}) == 50 * 10**6  # unknown pool: at cost


@pytest.mark.parametrize(
    ("points", "dd", "frac"),
    [
        # equity and capital at risk: the fall over the most at risk between peak and trough
        ([(100, 0), (120, 40), (90, 60), (130, 60), (125, 60)], 30, 0.5),
        ([(100, 0), (100, 0), (100, 0)], 0, 0.0),
        ([(100, 0), (50, 200), (200, 100), (100, 100)], 100, 1.0),
        ([(1_000, 0), (990, 50), (1_010, 20), (1_000, 40)], 10, 0.2),  # first fall: 10 of 50
        ([], 0, 0.0),
    ],
)
def test_metrics_max_drawdown_on_capital_at_risk(
    points: list[tuple[int, int]], dd: int, frac: float
) -> None:
    assert m.max_drawdown(points) == (dd, frac)


def test_metrics_sharpe_daily_known_values() -> None:
    pts = [
        m.EquityPoint(0.5 * DAY, 0, 0, 1_010),
        m.EquityPoint(0.9 * DAY, 0, 0, 1_020),  # the day's last point counts
        m.EquityPoint(1.5 * DAY, 0, 0, 1_010),
        m.EquityPoint(2.5 * DAY, 0, 0, 1_040),
    ]
    rets = [20 / 1000, -10 / 1000, 30 / 1000]
    mean = sum(rets) / 3
    sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / 2)
    assert m.sharpe_daily(1_000, pts) == round(mean / sd * math.sqrt(365), 6)
    assert m.sharpe_daily(1_000, pts[:2]) is None  # one day only
    flat = [m.EquityPoint(i * DAY, 0, 0, 1_000) for i in range(3)]
    assert m.sharpe_daily(1_000, flat) is None  # no variance


def test_metrics_compute_block_uses_exact_strings() -> None:
    book = m.Book(cash=100_000_000)
    fills = [_buy(1, 10_000_000, 5 * WAD, 100_000), _sell(2, 4_500_001, 2 * WAD, 90_000)]
    for f in fills:
        book.apply(f)
    totals = m.RunTotals(
        initial_cash=100_000_000,
        book=book,
        fills=fills,
        equity=[m.EquityPoint(1, 90_000_000, 9_000_000, 99_000_000)],
        inventory=[m.InventoryPoint(1, "mk", 0, 5 * WAD), m.InventoryPoint(2, "mk", 0, 3 * WAD)],
        denials=["DAILY_CAP", "PER_TRADE_CAP", "DAILY_CAP"],
        requests_used=7,
        request_budget=300,
        failed_trades=1,
        events=42,
        start_ts=0.0,
        end_ts=60.0,
        final_mark=5_000_000,
    )
    out = m.compute_metrics(totals)
    assert out["pnl_realised_usdc"] == "0.500001"  # 4.500001 - 2/5 of 10
    assert out["pnl_at_mark_usdc"] == "-0.499999"  # cash 94.500001 + mark 5 - 100
    assert out["fees_paid_usdc"] == "0.19"
    assert out["volume_usdc"] == "14.500001"
    assert out["denials_by_reason"] == {"DAILY_CAP": 2, "PER_TRADE_CAP": 1}
    assert out["final_inventory_tokens"] == {"mk/0": "3"}
    assert out["inventory_over_time"][1] == {"ts": 2, "position": "mk/0", "tokens": "3"}
    assert out["request_budget_used_fraction"] == round(7 / 300, 6)
    assert out["max_drawdown_usdc"] == "1"


@pytest.mark.parametrize(
    ("atomic", "text"),
    [(0, "0"), (1, "0.000001"), (-1_500_000, "-1.5"), (12_000_000, "12")],
)
def test_metrics_usdc_signed(atomic: int, text: str) -> None:
    assert m.usdc_signed(atomic) == text


def test_metrics_metric_decimal_is_exact() -> None:
    assert m.metric_decimal({"a": "-1.5"}, "a") == Decimal("-1.5")
    assert m.metric_decimal({"a": "12345678901.000001"}, "a") == Decimal("12345678901.000001")
    assert m.metric_decimal({"a": 3}, "a") == 3
    assert m.metric_decimal({"a": 0.25}, "a") == Decimal("0.25")
    for absent in ({"a": None}, {}, {"a": "n/a"}, {"a": "NaN"}, {"a": math.nan}, {"a": True}):
        assert m.metric_decimal(absent, "a") is None
