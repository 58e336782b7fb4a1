"""Table-driven backtests: short hand-written event sequences, exact trades, fees and PnL.

The strategy below acts on ``FairValueUpdate`` events whose ``source`` spells an order
(``"buy:0:10"`` = buy 10 USDC of outcome 0), so each table row is just a list of events. The
expected numbers are computed with :mod:`kashbot.amm` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kashbot import amm
from kashbot.backtest.metrics import usdc_signed
from kashbot.backtest.recording import Recordable, write_journal
from kashbot.backtest.runner import run_backtest_async
from kashbot.backtest.session import webhook_update
from kashbot.engine.state import EngineState
from kashbot.engine.strategy import Strategy, StrategyParams
from kashbot.events import (
    Event,
    FairValueUpdate,
    MarketSnapshot,
    OrderIntent,
    PredictionSeen,
    Side,
    TradeUpdate,
)
from kashbot.money import USDC_ONE, WAD

M = "11111111-2222-4333-8444-555555555555"
T0 = 1_767_225_600.0
FEES = amm.DEFAULT_FEES
POOL = amm.seed_pool(1_000 * USDC_ONE, (WAD // 2, WAD // 2))


class Scripted(Strategy[StrategyParams]):
    """Turns ``FairValueUpdate(source="side:outcome:usdc")`` into one intent."""

    name: ClassVar[str] = "scripted"
    handles = (FairValueUpdate,)

    def decide(
        self, state: EngineState, event: Event, params: StrategyParams, now: float
    ) -> list[OrderIntent]:
        assert isinstance(event, FairValueUpdate)
        side, outcome, usdc = event.source.split(":")
        return [
            OrderIntent(
                "",
                "",
                event.market_id,
                int(outcome),
                Side(side),
                int(usdc) * USDC_ONE,
                reason=event.source,
            )
        ]


def _config(**backtest: Any) -> dict[str, Any]:
    return {
        "venue": {"mode": "paper", "sim": {"key_tier": "developer"}},
        "risk": {"per_trade_cap_usdc": 100, "max_market_exposure_usdc": 1000},
        "markets": [M],
        "strategies": [{"name": f"{__name__}:Scripted", "id": "s"}],
        "backtest": {"latency_s": 0, "plots": False, "settle_s": 5, **backtest},
    }


def _snap(ts: float, pool: amm.Pool = POOL) -> MarketSnapshot:
    return MarketSnapshot(T0 + ts, M, "ACTIVE", amm.probabilities(pool), pool, None, ("Y", "N"))


def _order(ts: float, spec: str) -> FairValueUpdate:
    return FairValueUpdate(T0 + ts, M, (WAD // 2, WAD // 2), spec)


def _ext(ts: float, outcome: int, side: Side, amount: int, pid: str) -> PredictionSeen:
    return PredictionSeen(
        T0 + ts,
        M,
        pid,
        outcome,
        side,
        amount if side is Side.BUY else 0,
        amount if side is Side.SELL else 0,
        0,
    )


@dataclass
class Expect:
    trades: list[tuple[str, int, int, int]]  # side, usdc, tokens, fee
    pnl_realised: int
    pnl_at_mark: int
    denials: dict[str, int]


def _buy_then_ext() -> tuple[list[Recordable], Expect]:
    b = amm.buy(POOL, 0, 10 * USDC_ONE, FEES)
    ext = amm.buy(b.pool, 1, 50 * USDC_ONE, FEES)  # others trade after us, on the moved pool
    mark = amm.sell(ext.pool, 0, b.tokens_out, FEES).payout
    events: list[Recordable] = [
        _snap(0),
        _order(1, "buy:0:10"),
        _ext(5, 1, Side.BUY, 50 * USDC_ONE, "p1"),
    ]
    return events, Expect(
        [("buy", 10 * USDC_ONE, b.tokens_out, b.protocol_fee)], 0, mark - 10 * USDC_ONE, {}
    )


def _buy_then_sell() -> tuple[list[Recordable], Expect]:
    b = amm.buy(POOL, 0, 20 * USDC_ONE, FEES)
    tokens = amm.tokens_for_payout(b.pool, 0, 5 * USDC_ONE, FEES)
    s = amm.sell(b.pool, 0, tokens, FEES)
    cost_out = 20 * USDC_ONE * tokens // b.tokens_out
    left = b.tokens_out - tokens
    mark = amm.sell(s.pool, 0, left, FEES).payout
    events: list[Recordable] = [_snap(0), _order(1, "buy:0:20"), _order(3, "sell:0:5")]
    return events, Expect(
        [
            ("buy", 20 * USDC_ONE, b.tokens_out, b.protocol_fee),
            ("sell", s.payout, tokens, s.amm_fee + s.protocol_fee),
        ],
        s.payout - cost_out,
        s.payout - 20 * USDC_ONE + mark,
        {},
    )


def _latency_lets_others_first() -> tuple[list[Recordable], Expect]:
    # With 2 s latency the external buy at +1 s lands before ours: we buy on the moved pool.
    ext = amm.buy(POOL, 0, 40 * USDC_ONE, FEES)
    b = amm.buy(ext.pool, 0, 10 * USDC_ONE, FEES)
    mark = amm.sell(b.pool, 0, b.tokens_out, FEES).payout
    events: list[Recordable] = [
        _snap(0),
        _order(1, "buy:0:10"),
        _ext(2, 0, Side.BUY, 40 * USDC_ONE, "p1"),
    ]
    return events, Expect(
        [("buy", 10 * USDC_ONE, b.tokens_out, b.protocol_fee)], 0, mark - 10 * USDC_ONE, {}
    )


def _cap_denied_and_own_trade_skipped() -> tuple[list[Recordable], Expect]:
    # 150 USDC is over the 100 per-trade cap: denied, no trade. The recording also holds a
    # trade of ours from the recorded run (a completed TradeUpdate and its prediction row):
    # it must not be replayed as someone else's flow.
    ours = amm.buy(POOL, 1, 7 * USDC_ONE, FEES)
    events: list[Recordable] = [
        _snap(0),
        _order(1, "buy:0:150"),
        PredictionSeen(T0 + 2, M, "p-ours", 1, Side.BUY, 7 * USDC_ONE, ours.tokens_out, 0),
        TradeUpdate(
            T0 + 2, "t-old", "i-old", M, 1, Side.BUY, 7 * USDC_ONE, "completed", ours.tokens_out
        ),
    ]
    return events, Expect([], 0, 0, {"PER_TRADE_CAP": 1})


CASES = {
    "buy_then_external": (_buy_then_ext, {}),
    "buy_then_sell": (_buy_then_sell, {}),
    "latency_lets_others_first": (_latency_lets_others_first, {"latency_s": 2}),
    "cap_denied_own_trade_skipped": (_cap_denied_and_own_trade_skipped, {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_backtest_table(name: str, tmp_path: Path) -> None:
    build, extra = CASES[name]
    events, want = build()
    path = tmp_path / "in.jsonl.gz"
    write_journal(path, events)
    report = await run_backtest_async(_config(**extra), data=path, progress=False)
    fills = report.artifacts.fills
    got = [(f.side.value, f.usdc, f.tokens, f.fee) for f in fills]
    assert got == want.trades
    m = report.metrics
    assert m["pnl_realised_usdc"] == usdc_signed(want.pnl_realised)
    assert m["pnl_at_mark_usdc"] == usdc_signed(want.pnl_at_mark)
    assert m["fees_paid_usdc"] == usdc_signed(sum(t[3] for t in want.trades))
    assert m["volume_usdc"] == usdc_signed(sum(t[1] for t in want.trades))
    assert m["denials_by_reason"] == want.denials
    assert m["trades"] == len(want.trades)


POSITIONS_ROUTE = "GET /v1/portfolio/positions"


def _strip_tokens_in(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """Route a webhook as Kash sends it: no ``tokensIn`` on sells."""
    trade_id, status, fields = webhook_update(body)
    fields.pop("tokens_in", None)
    return trade_id, status, fields


@pytest.mark.parametrize("with_tokens_in", [True, False])
async def test_sell_position_from_webhook_tokens_in_else_one_positions_request(
    with_tokens_in: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue's webhook reports a sell's tokensIn: the position moves without asking the
    venue. Without it (as on Kash) the executor falls back to one more positions request,
    and the fills come out the same."""
    if not with_tokens_in:
        monkeypatch.setattr("kashbot.backtest.session.webhook_update", _strip_tokens_in)
    events, want = _buy_then_sell()
    path = tmp_path / "in.jsonl.gz"
    write_journal(path, events)
    report = await run_backtest_async(_config(), data=path, progress=False)
    got = [(f.side.value, f.usdc, f.tokens, f.fee) for f in report.artifacts.fills]
    assert got == want.trades
    assert report.metrics["pnl_realised_usdc"] == usdc_signed(want.pnl_realised)
    routes = report.metrics["requests_by_route"]
    # one request is recovery's position reload at startup
    assert routes[POSITIONS_ROUTE] == (1 if with_tokens_in else 2)
