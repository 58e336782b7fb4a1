"""PnL per market and per strategy: the slices add up to the run's totals, exactly."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from kashbot import amm
from kashbot.backtest import metrics as m
from kashbot.backtest.attribution import Attribution
from kashbot.backtest.report import summary_table, write_trades_csv
from kashbot.events import Side
from kashbot.money import WAD
from kashbot.valuation import Fill, mark_holdings

POOLS = {
    "a": amm.seed_pool(1_000 * 10**6, (WAD * 2 // 5, WAD * 3 // 5)),
    "b": amm.seed_pool(500 * 10**6),
}
FEES = amm.DEFAULT_FEES


def fill(market: str, side: Side, usdc: int, tokens: int, strategy: str, fee: int = 0) -> Fill:
    return Fill(0.0, "t", "i", market, 0, side, usdc, tokens, fee, strategy=strategy)


def total_pnl(book: m.Book, initial: int) -> int:
    return book.cash + mark_holdings(book.positions.items(), POOLS, FEES) - initial


def test_two_markets_two_strategies_add_up() -> None:
    book, att = m.Book(cash=1_000 * 10**6), Attribution()
    fills = [
        fill("a", Side.BUY, 20 * 10**6, 40 * WAD, "x", fee=200_000),
        fill("b", Side.BUY, 10 * 10**6, 18 * WAD, "y", fee=100_000),
        fill("a", Side.SELL, 12 * 10**6, 20 * WAD, "x", fee=240_000),
    ]
    for f in fills:
        book.apply(f)
        att.fill(f, f.strategy)
    out = att.breakdown(POOLS, FEES)
    x, y = out["by_strategy"]["x"], out["by_strategy"]["y"]
    assert (x["trades"], x["buys"], x["sells"]) == (2, 1, 1)
    assert x["pnl_realised_usdc"] == "2"  # 12 - half of 20
    assert x["fees_paid_usdc"] == "0.44" and y["volume_usdc"] == "10"
    assert set(out["by_market"]) == {"a", "b"}
    for part in ("by_market", "by_strategy"):
        got = sum(Decimal(v["pnl_at_mark_usdc"]) for v in out[part].values())
        assert got == Decimal(m.usdc_signed(total_pnl(book, 1_000 * 10**6)))


def test_selling_shares_another_strategy_bought_takes_them_over_at_cost() -> None:
    att = Attribution()
    att.fill(fill("a", Side.BUY, 30 * 10**6, 60 * WAD, "x"), "x")
    att.fill(fill("a", Side.SELL, 20 * 10**6, 30 * WAD, "y"), "y")
    x, y = att.strategies["x"].book, att.strategies["y"].book
    assert x.position("a", 0).shares == 30 * WAD and x.cash == -15 * 10**6  # half handed over
    assert y.position("a", 0).shares == 0 and y.realized == 5 * 10**6  # 20 - 15 at x's cost
    assert x.realized == 0


def test_a_redemption_is_split_by_shares_held() -> None:
    att = Attribution()
    att.fill(fill("a", Side.BUY, 10 * 10**6, 30 * WAD, "x"), "x")
    att.fill(fill("a", Side.BUY, 10 * 10**6, 10 * WAD, "y"), "y")
    att.redeemed("a", 0, 40 * 10**6 + 1)
    assert att.strategies["x"].book.cash == -10 * 10**6 + 30 * 10**6
    assert att.strategies["y"].book.cash == -10 * 10**6 + 10 * 10**6 + 1  # the remainder
    assert att.markets["a"].book.cash == 20 * 10**6 + 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(["x", "y", "z"]),
            st.integers(1, 50 * 10**6),
            st.booleans(),
        ),
        max_size=25,
    )
)
def test_market_slices_always_sum_to_the_total(trades: list[tuple[str, str, int, bool]]) -> None:
    """Buys and sells on the real AMM: per-market PnL at mark adds up to the run's exactly."""
    pools = dict(POOLS)
    book, att = m.Book(cash=10_000 * 10**6), Attribution()
    for market, strategy, usdc, sell in trades:
        held = book.positions.get((market, 0))
        if sell and held is not None and held.tokens > 0:
            res = amm.sell(pools[market], 0, held.tokens // 2 or held.tokens, FEES)
            f = fill(market, Side.SELL, res.payout, held.tokens // 2 or held.tokens, strategy)
        else:
            got = amm.buy(pools[market], 0, usdc, FEES)
            res, f = got, fill(market, Side.BUY, usdc, got.tokens_out, strategy)
        pools[market] = res.pool
        book.apply(f)
        att.fill(f, strategy)
    out = att.breakdown(pools, FEES)
    total = book.cash + mark_holdings(book.positions.items(), pools, FEES) - 10_000 * 10**6
    by_market = sum(Decimal(v["pnl_at_mark_usdc"]) for v in out["by_market"].values())
    assert by_market == Decimal(m.usdc_signed(total))
    realised = sum(Decimal(v["pnl_realised_usdc"]) for v in out["by_market"].values())
    assert realised == Decimal(m.usdc_signed(book.realised))


def test_trades_csv_has_the_reason_and_the_strategy(tmp_path: Path) -> None:
    f = Fill(
        1.0, "t1", "s-1", "a", 0, Side.BUY, 10**6, WAD, 10_000, reason="q=0.4, x", strategy="s"
    )
    write_trades_csv(tmp_path / "t.csv", [f])
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert rows[0]["reason"] == "q=0.4, x" and rows[0]["strategy"] == "s"


def test_summary_shows_strategies_errors_and_markets() -> None:
    metrics = {
        "by_strategy": {"s": {"trades": 3, "pnl_at_mark_usdc": "1.5"}},
        "by_market": {"a": {"pnl_at_mark_usdc": "-2"}, "b": {"pnl_at_mark_usdc": "3.5"}},
        "strategy_errors": {
            "s": {"total": 4, "paused": False},
            "boom": {"total": 20, "paused": True, "last_error": "ValueError: bug"},
        },
    }
    console = Console(width=100, record=True)
    console.print(summary_table(metrics))
    text = console.export_text()
    assert "strategy s (3 trades, 4 errors)" in text and "1.5 USDC" in text
    assert "strategy boom" in text and "no trades, 20 errors" in text
    assert "strategy boom PAUSED" in text and "ValueError: bug" in text
    assert text.index("market b") < text.index("market a")  # largest move first
