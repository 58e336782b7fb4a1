"""The sizing rule buy_intent and sell_intent share: what the pool says, cut to ``cap``; no intent
when that is under ``least``; a sell always closes, a buy never does."""

from __future__ import annotations

from kashbot import amm
from kashbot.engine.state import MarketView
from kashbot.events import Side
from kashbot.money import WAD
from kashbot.strategies.pricing import buy_intent, sell_intent

U = 10**6


POOL = amm.seed_pool(1_000 * U)


def _view() -> MarketView:
    view = MarketView("m1")
    view.pool = POOL
    return view


def test_buy_is_cut_to_cap_and_dropped_under_least() -> None:
    view, target = _view(), WAD * 6 // 10
    worth = amm.buy_amount_to_reach(POOL, 0, target, view.fees)
    assert worth > 10 * U
    full = buy_intent(view, "s", 0, target, worth + 1, 1, "why")
    assert full is not None and full.amount == worth and full.side is Side.BUY
    assert full.limit_probability == target and not full.closing
    cut = buy_intent(view, "s", 0, target, 10 * U, 1, "why")
    assert cut is not None and cut.amount == 10 * U
    assert buy_intent(view, "s", 0, target, 10 * U, 10 * U + 1, "why") is None


def test_sell_is_cut_to_cap_and_dropped_under_least() -> None:
    view, floor, tokens = _view(), WAD * 4 // 10, 50 * WAD
    worth = amm.sell(POOL, 1, tokens, view.fees).payout
    full = sell_intent(view, "s", 1, tokens, floor, worth + 1, 1, "why")
    assert full is not None and full.amount == worth and full.side is Side.SELL
    assert full.limit_probability == floor and full.closing
    cut = sell_intent(view, "s", 1, tokens, floor, worth // 2, 1, "why")
    assert cut is not None and cut.amount == worth // 2
    assert sell_intent(view, "s", 1, tokens, floor, worth, worth + 1, "why") is None
