"""The keeper's creator-fee estimate in the report: others' trades only, per own market."""

from __future__ import annotations

import argparse
from pathlib import Path

from kashbot import amm
from kashbot.backtest.commands import default_seed
from kashbot.backtest.creator_fees import CreatorFeeLog, creator_fee_metrics, ours
from kashbot.events import PredictionSeen, Side
from kashbot.money import WAD
from kashbot.strategies.liquidity_keeper import KeeperParams
from kashbot.valuation import Fill

U = 10**6
OWN, OTHER, QUIET = "own", "other", "quiet"


def seen(ts: float, market: str, pid: str, usdc: int, side: Side = Side.BUY) -> PredictionSeen:
    return PredictionSeen(ts, market, pid, 0, side, usdc, 3 * WAD, WAD // 2)


def keeper(share: int = 2_000) -> KeeperParams:
    return KeeperParams.model_validate({"own_markets": [OWN, QUIET], "revenue_share_bps": share})


def test_only_others_trades_in_own_markets_count() -> None:
    log = CreatorFeeLog({"keep": keeper()})
    for ev in (
        seen(1.0, OWN, "p1", 100 * U),
        seen(2.0, OWN, "p2", 50 * U, Side.SELL),
        seen(3.0, OWN, "p3", 40 * U),  # ours: matches the fill below
        seen(4.0, OTHER, "p4", 1_000 * U),  # not an own market: never kept
        seen(1.0, OWN, "p1", 100 * U),  # the same row seen twice counts once
    ):
        log.on_prediction(ev)
    assert all(t.market_id == OWN for t in log.trades)
    fill = Fill(3.0, "t1", "i1", OWN, 0, Side.BUY, 40 * U, 3 * WAD)
    assert ours(log.trades, [fill]) == {"p3"}
    doc = creator_fee_metrics(log, [fill], {OWN: amm.Fees(protocol_bps=200, amm_sell_bps=100)})
    row = doc["creator_fees_estimate"]["keep"]
    # 2 % protocol fee on 150 USDC of others' trades = 3 USDC; a 20 % share = 0.6 USDC
    assert row["by_market"] == {OWN: "0.6", QUIET: "0"}
    assert row["others_trades"] == {OWN: 2, QUIET: 0}
    assert row["total_usdc"] == "0.6" and row["revenue_share_bps"] == 2_000


def test_no_keeper_adds_nothing() -> None:
    assert creator_fee_metrics(None, [], {}) == {}


def test_seed_defaults_to_the_scenario_files(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3] / "configs" / "sim"
    sc = tmp_path / "sc.yaml"
    text = (root / "heldout" / "trending.yaml").read_text()
    sc.write_text(text.replace("seed: 7101", "seed: 42"))
    ns = argparse.Namespace
    assert default_seed(ns(seed=None, scenario=str(sc), data=None)) == 42
    assert default_seed(ns(seed=None, scenario=str(root / "default.yaml"), data=None)) == 0
    assert default_seed(ns(seed=7, scenario=str(sc), data=None)) == 7
    assert default_seed(ns(seed=0, scenario=str(sc), data=None)) == 0  # an explicit 0 is kept
    assert default_seed(ns(seed=None, scenario=None, data="run.jsonl.gz")) == 0
