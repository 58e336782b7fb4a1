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
