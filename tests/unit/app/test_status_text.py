"""`kashbot status`'s default view: lines, outcome labels, held trades with what they do."""

from __future__ import annotations

from kashbot.app.status_text import status_text

DOC = {
    "state": "ACTIVE",
    "uptime_s": 12.0,
    "fills": 3,
    "pending_intents": 0,
    "pnl_usdc": {"realized": "0.00", "unrealized": "1.50", "total": "1.50"},
    "spend_used_usdc": "40.00",
    "spend_cap_usdc": "2000.00",
    "markets": [
        {
            "market_id": "m-1",
            "phase": "OPEN",
            "labels": ["Yes", "No"],
            "pool": ["0.6", "0.4"],
            "fair": ["0.7", "0.3"],
            "stale": [],
        },
    ],
    "positions": [
        {
            "market_id": "m-1",
            "outcome": 1,
            "outcome_label": None,
            "shares": "10",
            "cost_usdc": "4.00",
            "value_usdc": "5.50",
            "marked": True,
        },
    ],
    "held_trades": ["t-9"],
    "held": [
        {
            "trade_id": "t-9",
            "market_id": "m-1",
            "outcome": 0,
            "side": "buy",
            "amount_usdc": "3000.00",
            "strategy": "fv",
        }
    ],
    "last_denials": [["i-1", "DAILY_CAP", "over the cap"]],
}


def test_status_text_is_multi_line_with_labels_and_held_details() -> None:
    text = status_text(DOC)
    lines = text.splitlines()
    assert len(lines) > 8
    assert any(line.startswith("state") and "ACTIVE" in line for line in lines)
    assert "pool Yes 0.6  No 0.4" in text
    assert "m-1 No: 10 shares" in text  # outcome 1 by its label
    assert "t-9: buy 3000.00 USDC of Yes in m-1 (fv)" in text
    assert "kashbot confirm TRADE_ID" in text
    assert "DAILY_CAP i-1" in text


def test_status_text_falls_back_to_ids_and_indices() -> None:
    doc = {**DOC, "held": None, "markets": []}
    text = status_text(doc)
    assert "  t-9" in text and "m-1 #1:" in text
