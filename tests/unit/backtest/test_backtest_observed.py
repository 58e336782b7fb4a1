"""The observed-replay plan: what is fed, what is flow, where our trades are anchored."""

from __future__ import annotations

from kashbot.backtest.observed import MIN_GAP_S, build_plan, intent_key, match_own_predictions
from kashbot.backtest.recording import Recordable, StrategiesStopped
from kashbot.events import (
    FairValueUpdate,
    OrderIntent,
    PositionSync,
    PredictionSeen,
    PriceChange,
    RiskDenied,
    Side,
    TradeUpdate,
)

M = "610464bf-ef0e-4a59-8144-c69601eef85e"
WAD = 10**18


def _intent(iid: str, side: Side, amount: int, ts: float) -> OrderIntent:
    return OrderIntent(
        iid, "fv", M, 0, side, amount, WAD // 2, closing=side is Side.SELL, created_ts=ts
    )


def _pred(ts: float, pid: str, side: Side, usdc: int, tokens: int) -> PredictionSeen:
    return PredictionSeen(ts, M, pid, 0, side, usdc, tokens, WAD // 2)


def _tu(
    ts: float, iid: str, side: Side, amount: int, status: str, tokens: int | None = None
) -> TradeUpdate:
    return TradeUpdate(ts, "t-" + iid, iid, M, 0, side, amount, status, tokens)


def test_two_equal_sells_each_take_the_first_row_after_their_own_intent() -> None:
    # the first sale's update comes late (after a position sync); a nearest-in-time match
    # would give it the second sale's row
    ev: list[Recordable] = [
        _intent("a", Side.SELL, 10_000_000, 1.0),
        _pred(1.1, "p1", Side.SELL, 10_000_100, 3 * WAD),
        PositionSync(1.5, M, 0, 7 * WAD, 1),
        _intent("b", Side.SELL, 10_000_000, 1.6),
        _pred(1.7, "p2", Side.SELL, 10_000_050, 3 * WAD),
        _tu(1.75, "a", Side.SELL, 10_000_000, "completed"),
        _tu(1.8, "b", Side.SELL, 10_000_000, "completed"),
    ]
    assert match_own_predictions(ev) == {5: 1, 6: 4}


def test_plan_feeds_observations_applies_others_flow_and_anchors_our_trade() -> None:
    ev: list[Recordable] = [
        FairValueUpdate(10.0, M, (WAD // 2, WAD // 2)),  # 0
        _pred(10.5, "x1", Side.BUY, 5_000_000, 9 * WAD),  # 1 others
        PriceChange(10.5, M, (WAD // 2, WAD // 2)),  # 2 same ts: spread apart
        _intent("i1", Side.BUY, 2_000_000, 10.6),  # 3 output
        _tu(10.6, "i1", Side.BUY, 2_000_000, "pending"),  # 4 output
        _pred(10.7, "x2", Side.BUY, 1_000_000, 2 * WAD),  # 5 others
        _pred(10.8, "mine", Side.BUY, 2_000_000, 4 * WAD),  # 6 our fill
        _pred(10.85, "x1", Side.BUY, 5_000_000, 9 * WAD),  # 7 x1 again (poller): fed, not flow
        _tu(10.9, "i1", Side.BUY, 2_000_000, "completed", 4 * WAD),  # 8 output
        RiskDenied(11.0, "i2", "fv", M, "DAILY_CAP"),  # 9 output
        StrategiesStopped(11.5),  # 10
    ]
    plan = build_plan(ev)
    assert plan.observe == [True, True, True, False, False, True, True, True, False, False, False]
    assert plan.flow == [False, True, False, False, False, True, False, False, False, False, False]
    assert plan.times[2] == plan.times[1] + MIN_GAP_S
    assert all(b > a for a, b in zip(plan.times, plan.times[1:], strict=False))
    (rt,) = plan.recorded
    assert (rt.index, rt.execute_before, rt.notify_at) == (3, 6, 8)
    assert rt.fill is ev[6]
    assert plan.times[5] < plan.due_time(6) < plan.times[6]
    assert plan.strategies_stop_at == 10


def test_webhook_before_the_streamed_fill_moves_the_execution_earlier() -> None:
    ev: list[Recordable] = [
        _intent("i1", Side.BUY, 2_000_000, 1.0),
        _tu(1.2, "i1", Side.BUY, 2_000_000, "completed", 4 * WAD),
        _pred(1.3, "mine", Side.BUY, 2_000_000, 4 * WAD),
    ]
    (rt,) = build_plan(ev).recorded
    assert (rt.execute_before, rt.notify_at) == (1, 1)


def test_intent_key_ignores_ids_times_and_reasons() -> None:
    a = _intent("fv-aaaa-1", Side.BUY, 3, 1.0)
    b = OrderIntent("fv-bt-7", "fv", M, 0, Side.BUY, 3, WAD // 2, reason="x", created_ts=9.0)
    assert intent_key(a) == intent_key(b)
    assert intent_key(a) != intent_key(_intent("z", Side.BUY, 4, 1.0))
