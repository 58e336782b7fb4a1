"""The liquidity keeper's creator-fee estimate in a backtest report.

A run with a :class:`~kashbot.strategies.liquidity_keeper.LiquidityKeeper` (any strategy whose
params are :class:`~kashbot.strategies.liquidity_keeper.KeeperParams`) keeps the
``PredictionSeen`` rows of the keepers' ``own_markets`` as the engine sees them; at the end,
:func:`creator_fee_metrics` calls
:func:`kashbot.strategies.creator_fees.estimate_creator_fees` per keeper, with our own trades
left out (a prediction row is ours when it matches one of our fills: same time, market,
outcome, side, USDC and tokens, which is how the tape books them). A run without a keeper adds
nothing to the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from kashbot import amm
from kashbot.backtest.metrics import usdc_signed
from kashbot.engine.engine import Engine
from kashbot.events import PredictionSeen
from kashbot.strategies.creator_fees import estimate_creator_fees
from kashbot.strategies.liquidity_keeper import KeeperParams
from kashbot.valuation import Fill

METRIC = "creator_fees_estimate"


class CreatorFeeLog:
    """The keepers of a run (strategy id -> params) and the trades seen in their markets."""

    def __init__(self, keepers: Mapping[str, KeeperParams]) -> None:
        self.keepers = dict(keepers)
        self.markets = {m for p in self.keepers.values() for m in p.own_markets}
        self.trades: list[PredictionSeen] = []

    def on_prediction(self, ev: PredictionSeen) -> None:
        if ev.market_id in self.markets:
            self.trades.append(ev)


def attach_creator_fee_log(engine: Engine) -> CreatorFeeLog | None:
    """Subscribe a log to the engine's bus when a keeper runs; None (nothing kept) otherwise."""
    keepers = {
        s.strategy_id: s.params for s, _ in engine.strategies if isinstance(s.params, KeeperParams)
    }
    if not keepers:
        return None
    log = CreatorFeeLog(keepers)
    engine.bus.subscribe(PredictionSeen, log.on_prediction)
    return log


def _key(
    ts: float, market: str, outcome: int, side: str, usdc: int, tokens: int
) -> tuple[Any, ...]:
    return (ts, market, outcome, side, usdc, tokens)


def ours(trades: Iterable[PredictionSeen], fills: Iterable[Fill]) -> set[str]:
    """Prediction ids of the rows that are our own fills (each fill matches one row)."""
    left = Counter(
        _key(f.ts, f.market_id, f.outcome, f.side.value, f.usdc, f.tokens) for f in fills
    )
    found: set[str] = set()
    for t in trades:
        k = _key(t.ts, t.market_id, t.outcome, t.side.value, t.usdc, t.tokens)
        if left[k] > 0:
            left[k] -= 1
            found.add(t.prediction_id)
    return found


def creator_fee_metrics(
    log: CreatorFeeLog | None, fills: Iterable[Fill], fees: Mapping[str, amm.Fees]
) -> dict[str, Any]:
    """``{"creator_fees_estimate": {strategy id: {...}}}`` for the report's metrics, or ``{}``.

    Per keeper: the assumed ``revenue_share_bps``, the estimate per own market and in total
    (USDC), and how many of others' trades it counts per market.
    """
    if log is None:
        return {}
    mine = ours(log.trades, fills)
    out: dict[str, Any] = {}
    for sid, p in sorted(log.keepers.items()):
        est = estimate_creator_fees(log.trades, p.own_markets, p.revenue_share_bps, fees, mine)
        counted = Counter(
            t.market_id
            for t in {t.prediction_id: t for t in log.trades}.values()
            if t.market_id in est and t.prediction_id not in mine
        )
        out[sid] = {
            "revenue_share_bps": p.revenue_share_bps,
            "by_market": {m: usdc_signed(v) for m, v in sorted(est.items())},
            "others_trades": {m: counted.get(m, 0) for m in sorted(est)},
            "total_usdc": usdc_signed(sum(est.values())),
        }
    return {METRIC: out}
