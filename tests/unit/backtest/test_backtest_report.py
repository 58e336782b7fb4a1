"""Report outputs: stable report.json, trades.csv columns, PNGs, the terminal summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console

from kashbot.backtest import metrics as m
from kashbot.backtest.recording import write_journal
from kashbot.backtest.replay import ReplaySource
from kashbot.backtest.report import RunArtifacts, print_summary, write_outputs
from kashbot.events import FairValueUpdate, PriceChange, Side, Timer
from kashbot.money import WAD
from kashbot.valuation import Fill

H = WAD // 2


def _artifacts() -> RunArtifacts:
    fills = [
        Fill(60.0, "t1", "i1", "mk", 0, Side.BUY, 5_000_000, 9 * WAD, 50_000, WAD // 3, WAD // 2),
        Fill(120.0, "t2", "i2", "mk", 0, Side.SELL, 2_000_000, 3 * WAD, 40_400, WAD // 2, WAD // 3),
    ]
    book = m.Book(cash=100_000_000)
    for f in fills:
        book.apply(f)
    equity = [m.EquityPoint(t, 95_000_000, 4_000_000, 99_000_000) for t in (0.0, 60.0, 180.0)]
    inventory = [
        m.InventoryPoint(60.0, "mk", 0, 9 * WAD),
        m.InventoryPoint(120.0, "mk", 0, 6 * WAD),
    ]
    totals = m.RunTotals(
        100_000_000, book, fills, equity, inventory, [], 4, 60, 0, 10, 0.0, 180.0, 4_000_000
    )
    return RunArtifacts(
        inputs={"seed": 1, "data_sha256": "abc"},
        metrics=m.compute_metrics(totals),
        fills=fills,
        equity=equity,
        inventory=inventory,
        prices={"mk": [(0.0, (WAD // 3, WAD - WAD // 3)), (60.0, (WAD // 2, WAD // 2))]},
        fair={"mk": [(0.0, (WAD // 2, WAD // 2))]},
        intents=[{"intent_id": "i1"}, {"intent_id": "i2"}],
    )


def test_report_outputs_are_written_and_stable(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    written = write_outputs(a, _artifacts())
    write_outputs(b, _artifacts())
    names = sorted(p.name for p in written)
    assert names == [
        "equity.png",
        "intents.jsonl",
        "inventory.png",
        "prices.png",
        "report.json",
        "trades.csv",
    ]
    assert (a / "report.json").read_bytes() == (b / "report.json").read_bytes()
    assert (a / "trades.csv").read_bytes() == (b / "trades.csv").read_bytes()
    doc = json.loads((a / "report.json").read_text())
    assert doc["format"] == "kashbot-backtest-report"
    assert doc["metrics"]["trades"] == 2
    rows = list(csv.DictReader((a / "trades.csv").open()))
    assert rows[0]["time"] == "1970-01-01T00:01:00.000Z"
    assert rows[1]["side"] == "sell"
    assert rows[1]["usdc"] == "2"
    assert rows[0]["tokens"] == "9"
    assert rows[0]["prob_after"] == "0.5"
    for png in ("equity.png", "prices.png", "inventory.png"):
        assert (a / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_summary_fits_one_screen() -> None:
    console = Console(record=True, width=100)
    print_summary(_artifacts().metrics, console)
    text = console.export_text()
    assert "PnL at mark" in text
    assert "2 (1/1)" in text
    assert len(text.splitlines()) < 30


def test_replay_source_yields_inputs_only_in_order(tmp_path: Path) -> None:
    evs = [
        PriceChange(1.0, "mk", (WAD // 2, WAD // 2)),
        Timer(2.0, "tick"),  # an output of the engine: not replayed
        FairValueUpdate(3.0, "mk", (WAD // 4, WAD - WAD // 4)),
    ]
    path = tmp_path / "j.jsonl.gz"
    write_journal(path, evs, {"scenario": "x"})
    src = ReplaySource(path)
    assert src.header is not None and src.header.meta == {"scenario": "x"}
    assert list(src) == [evs[0], evs[2]]
    assert list(src) == [evs[0], evs[2]]  # re-iterable


async def test_replay_source_paced_by_sim_clock() -> None:
    import asyncio

    from kashbot.clock import SimClock

    clock = SimClock(start=1000.0)
    evs = [PriceChange(10.0, "mk", (1, WAD - 1)), PriceChange(15.0, "mk", (2, WAD - 2))]
    got: list[tuple[float, float]] = []
    src = ReplaySource(evs, clock=clock, speed=2.0)
    task = asyncio.create_task(src.run(lambda e: got.append((clock.now(), e.ts))))
    await asyncio.sleep(0)
    assert got == [(1000.0, 10.0)]
    clock.advance_to(1002.4)
    await asyncio.sleep(0)
    assert len(got) == 1
    clock.advance_to(1002.5)  # 5 s of recording at speed 2
    await task
    assert got == [(1000.0, 10.0), (1002.5, 15.0)]
