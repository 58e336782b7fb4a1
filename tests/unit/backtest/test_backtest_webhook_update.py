"""Issue 17: the backtest reads its own venue's webhook bodies without the signature check and
the model parse, and must hand the router exactly what the daemon's ``route_to`` hands it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kashbot.backtest.session import webhook_update
from kashbot.client.webhooks import construct_event, sign
from kashbot.sources.webhook import route_to

BASE = {
    "tradeId": "7d1c2f0e-0000-4000-8000-000000000001",
    "marketId": "00000000-0000-4000-8000-000000000001",
    "outcomeIndex": 1,
    "amount": "12.5",
    "metadata": {"strategy": "fv"},
    "chainRef": "base",
}

CASES = [
    (
        "trade.completed",
        {
            "side": "buy",
            "status": "completed",
            "txHash": "0x" + "ab" * 32,
            "tokensOut": str(10**24 + 7),
        },
    ),
    (
        "trade.completed",
        {
            "side": "sell",
            "status": "completed",
            "txHash": "0x" + "cd" * 32,
            "tokensOut": None,
            "tokensIn": str(3 * 10**21),
        },
    ),
    (
        "trade.failed",
        {
            "side": "buy",
            "status": "failed",
            "errorCode": "EXECUTION_REVERTED",
            "errorMessage": "on-chain execution reverted",
        },
    ),
    (
        "trade.rejected",
        {
            "side": "sell",
            "status": "rejected",
            "errorCode": "risk_check_failed",
            "errorMessage": "rejected by the risk engine",
        },
    ),
    (
        "trade.confirmation-required",
        {
            "side": "buy",
            "status": "pending_confirmation",
            "confirmationExpiresAt": "2026-01-01T00:01:00.000Z",
        },
    ),
]


@pytest.mark.parametrize(("kind", "data"), CASES)
async def test_webhook_update_passes_what_route_to_passes(kind: str, data: dict[str, Any]) -> None:
    envelope = {
        "id": "evt_" + "0" * 32,
        "type": kind,
        "apiVersion": "2026-08-19",
        "createdAt": "2026-01-01T00:00:00.000Z",
        "data": {**BASE, **data},
    }
    body = json.dumps(envelope, separators=(",", ":")).encode()
    calls: list[tuple[Any, ...]] = []

    async def on_trade_update(trade_id: str, status: str, **kw: Any) -> bool:
        calls.append((trade_id, status, kw))
        return True

    event = construct_event("whsec_x", sign("whsec_x", body, 1_000), body, now_ms=1_000)
    await route_to(on_trade_update, event)
    assert [webhook_update(body)] == calls
