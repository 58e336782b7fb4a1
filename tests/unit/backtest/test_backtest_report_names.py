"""Display names in the summary and plots: titles and outcome labels, dust hidden, ids kept."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from kashbot.backtest.inputs import market_names
from kashbot.backtest.recording import read_journal, write_journal
from kashbot.backtest.report import (
    MarketNames,
    RunArtifacts,
    holding_rows,
    print_summary,
    write_outputs,
)
from kashbot.events import MarketSnapshot
from kashbot.money import WAD
from kashbot.sim.scenario import load_scenario

MK = "38fcee42-9cb4-4fd0-b4c6-5508cd084e33"
NAMES = {MK: MarketNames("Which team tops the league?", ("Red", "Blue"))}
CHANCES = {MK: (WAD // 10, WAD - WAD // 10)}


def test_holdings_show_titles_rounded_and_hide_dust() -> None:
    inv = {f"{MK}/0": "0.000003456987373748", f"{MK}/1": "383.920254409504334556"}
    rows, dust = holding_rows(inv, NAMES, CHANCES)
    assert rows == [("Which team tops the league? / Blue", "383.9203 tokens")]
    assert dust == 1


def test_dust_is_judged_by_value_at_the_final_chance() -> None:
    inv = {f"{MK}/0": "0.05", f"{MK}/1": "0.05"}  # worth 0.005 and 0.045 USDC
    rows, dust = holding_rows(inv, NAMES, CHANCES)
    assert [name for name, _ in rows] == ["Which team tops the league? / Blue"]
    assert dust == 1


def test_unknown_market_falls_back_to_id_and_token_threshold() -> None:
    inv = {"other/2": "0.0000001", "other/0": "1234.5"}
    rows, dust = holding_rows(inv, {}, {})
    assert rows == [("other / #0", "1,234.5000 tokens")]
    assert dust == 1


def test_summary_lists_titles_not_ids_and_report_keeps_dust(tmp_path: Path) -> None:
    metrics = {"final_inventory_tokens": {f"{MK}/0": "0.000001", f"{MK}/1": "2.5"}}
    art = RunArtifacts(
        inputs={},
        metrics=metrics,
        prices={MK: [(0.0, CHANCES[MK])]},
        markets=dict(NAMES),
    )
    console = Console(record=True, width=100)
    print_summary(metrics, console, art=art)
    text = console.export_text()
    assert "Which team tops the league? / Blue" in text
    assert "2.5000 tokens" in text
    assert MK not in text
    assert "1 worth < 0.01 USDC" in text
    write_outputs(tmp_path, art, plots=False)
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["metrics"]["final_inventory_tokens"] == metrics["final_inventory_tokens"]
    assert "Which team" not in (tmp_path / "report.json").read_text()


def test_market_names_from_scenario_and_journal(tmp_path: Path) -> None:
    names = market_names(load_scenario("configs/sim/default.yaml"), {}, ())
    assert names[MK].title == "Which team tops the spring league table?"
    assert names[MK].outcome(1) == "Blue"
    path = tmp_path / "j.jsonl.gz"
    snap = MarketSnapshot(1.0, "mk", "ACTIVE", (WAD // 2, WAD // 2), labels=("Yes", "No"))
    write_journal(path, [snap], {"mode": "live"})
    header, events = read_journal(path)
    from_journal = market_names(None, header.meta, events)
    assert from_journal == {"mk": MarketNames("mk", ("Yes", "No"))}


def test_plots_with_many_outcomes_and_long_titles(tmp_path: Path) -> None:
    from kashbot.backtest.metrics import InventoryPoint
    from kashbot.backtest.plots import plot_inventory, plot_prices

    q = tuple([WAD // 4] * 4)
    art = RunArtifacts(
        inputs={},
        metrics={},
        inventory=[InventoryPoint(0.0, MK, 3, WAD)],
        prices={MK: [(0.0, q), (60.0, q)], "b": [(0.0, q)]},
        markets={MK: MarketNames("x" * 200, ("A", "B", "C", "D"))},
    )
    for png in (plot_prices(tmp_path / "p.png", art), plot_inventory(tmp_path / "i.png", art)):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    two = _png_height(tmp_path / "p.png")
    art.prices.pop("b")
    one = _png_height(plot_prices(tmp_path / "p1.png", art))
    assert 1.8 * one < two < 2.2 * one  # the figure grows with the panels, no dead space


def _png_height(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[20:24], "big")
