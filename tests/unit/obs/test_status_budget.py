"""The live view on an 80x24 terminal leaves rows for the log lines, and names outcomes by label."""

from __future__ import annotations

import io

from rich.console import Console

from kashbot.obs.status import LOG_ROWS, PositionMark, StatusSnapshot, render


def snapshot(markets: int) -> StatusSnapshot:
    rows = [
        {
            "market_id": f"m{i:03d}",
            "chain": "evm:8453",
            "status": "ACTIVE",
            "phase": "OPEN",
            "pool": ["0.5000", "0.5000"],
            "fair": None,
            "pool_known": True,
            "stale": [],
            "labels": ["Yes", "No"],
        }
        for i in range(markets)
    ]
    pos = [PositionMark("m000", 1, 10**19, 5_000_000, 6_000_000, True, "No")]
    return StatusSnapshot("ACTIVE", 5.0, rows, pos, 0, 1_000_000, 1, 0, [], {})


def test_view_fits_24_rows_minus_the_log_rows() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=False, color_system=None)
    console.print(render(snapshot(30)))
    lines = out.getvalue().splitlines()
    assert len(lines) <= 24 - LOG_ROWS
    assert "more line(s)" in lines[-1]


def test_small_view_is_whole_and_shows_labels() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=False, color_system=None)
    console.print(render(snapshot(1)))
    text = out.getvalue()
    assert "more line(s)" not in text
    assert " No " in text  # the position's outcome by label, not "1"


def test_view_names_a_paused_strategy_and_how_to_resume_it() -> None:
    snap = snapshot(1)
    snap.strategy_errors = {
        "mm": {"total": 5, "in_row": 5, "paused": True, "last_error": "ValueError: boom"},
        "fv": {"total": 2, "in_row": 0, "paused": False, "last_error": "KeyError: 'x'"},
        "ok": {"total": 0, "in_row": 0, "paused": False, "last_error": None},
    }
    out = io.StringIO()
    console = Console(file=out, width=200, height=40, force_terminal=False, color_system=None)
    console.print(render(snap))
    text = out.getvalue()
    assert "strategy mm PAUSED after 5 exceptions in a row (last: ValueError: boom)" in text
    assert "kashbot strategy resume mm" in text
    assert "strategy exceptions: fv 2" in text and "ok 0" not in text
    assert snap.as_json()["strategy_errors"]["mm"]["paused"] is True


def test_view_without_strategy_errors_has_no_strategy_line() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, height=40, force_terminal=False, color_system=None)
    console.print(render(snapshot(1)))
    assert "strategy" not in out.getvalue()
