"""Venue records -> the exact JSON shapes of §7 (camelCase, atomic/WAD integer strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kashbot import amm
from kashbot.money import WAD, usdc_str
from kashbot.sim.ids import iso
from kashbot.sim.models import (
    MarketState,
    Position,
    Prediction,
    QuoteResult,
    Redemption,
    TradeRecord,
    WebhookEvent,
)
from kashbot.sim.venue import Venue

CHAIN_ID = 84532  # Base Sepolia: the simulator plays the staging environment (kash_test_ keys)


def wad_str(x: int) -> str:
    """A WAD as a plain decimal string (``"0.4125"``), exact."""
    text = f"{Decimal(x) / WAD:.18f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _opt_iso(ts: float | None) -> str | None:
    return iso(ts) if ts is not None else None


def _opt_str(x: int | None) -> str | None:
    return str(x) if x is not None else None


def outcomes(m: MarketState) -> list[dict[str, Any]]:
    q = amm.probabilities(m.pool)
    return [
        {"index": i, "label": label, "probability": q[i] / WAD} for i, label in enumerate(m.labels)
    ]


def market(m: MarketState) -> dict[str, Any]:
    return {
        "id": m.id,
        "contractAddress": m.contract_address,
        "chainId": CHAIN_ID,
        "title": m.title,
        "description": m.description,
        "imageUrl": None,
        "status": m.status,
        "outcomeCount": len(m.labels),
        "outcomes": outcomes(m),
        "createdAt": iso(m.created_at),
        "expiresAt": _opt_iso(m.expires_at),
        "resolvedAt": _opt_iso(m.resolved_at),
        "freezeAt": _opt_iso(m.freeze_at),
    }


def market_summary(m: MarketState) -> dict[str, Any]:
    return {
        "id": m.id,
        "contractAddress": m.contract_address,
        "chainId": CHAIN_ID,
        "outcomes": outcomes(m),
        "status": m.status,
    }


def prediction(p: Prediction) -> dict[str, Any]:
    return {
        "id": p.id,
        "marketId": p.market_id,
        "outcomeIndex": p.outcome,
        "side": p.side,
        "usdcIn": _opt_str(p.usdc_in),
        "usdcOut": _opt_str(p.usdc_out),
        "tokensIn": _opt_str(p.tokens_in),
        "tokensOut": _opt_str(p.tokens_out),
        "price": wad_str(p.price),
        "probability": wad_str(p.probability),
        "timestamp": iso(p.ts),
        "blockNumber": str(p.block_number),
        "transactionHash": p.tx_hash,
        "logIndex": p.log_index,
    }


def quote(q: QuoteResult) -> dict[str, Any]:
    out: dict[str, Any] = {"outcomeIndex": q.outcome, "action": q.action}
    if q.action == "buy":
        assert q.tokens_out is not None
        out["amountIn"] = str(q.amount_in)
        out["tokensOut"] = str(q.tokens_out)
        effective = q.amount_in / q.tokens_out if q.tokens_out else None
    else:
        assert q.usdc_out is not None and q.gross_release is not None
        out["tokensIn"] = str(q.amount_in)
        out["usdcOut"] = str(q.usdc_out)
        out["grossRelease"] = str(q.gross_release)
        effective = q.usdc_out / q.amount_in
    out.update(
        {
            "reserveAfter": str(q.reserve_after),
            "c": str(q.c_after),
            "pAfter": [str(x) for x in q.p_after],
            "qAfter": [str(x) for x in q.q_after],
            "effectivePrice": effective,
            "impliedProbability": q.p_after[q.outcome] / WAD,
        }
    )
    return out


def trade(venue: Venue, t: TradeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "marketId": t.market_id,
        "outcomeIndex": t.outcome,
        "amount": usdc_str(t.amount),
        "side": t.side,
        "status": t.status,
        "correlationId": t.correlation_id,
        "clientRequestId": t.client_request_id,
        "txHash": t.tx_hash,
        "tokensOut": _opt_str(t.tokens_out),
        "errorCode": t.error_code,
        "errorMessage": t.error_message,
        "webhookDelivery": venue.webhook_delivery_summary(t),
        "metadata": dict(t.metadata),
        "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
    }
    if t.side == "sell":  # simulator extension: what a completed sell burned and paid
        out["tokensIn"] = _opt_str(t.tokens_in)
        out["usdcOut"] = _opt_str(t.payout)
    return out


def trace(t: TradeRecord) -> dict[str, Any]:
    return {
        "correlationId": t.correlation_id,
        "events": [
            {
                "type": e.type,
                "occurredAt": iso(e.occurred_at),
                "sequenceNumber": e.seq,
                "data": e.data,
            }
            for e in t.trace
        ],
    }


def position(p: Position) -> dict[str, Any]:
    return {
        "marketId": p.market_id,
        "outcomeIndex": p.outcome,
        "shares": str(p.shares),
        "costBasisAtomic": str(p.cost_basis),
        "tradeCount": p.trade_count,
        "firstTradeAt": _opt_iso(p.first_trade_at),
        "lastTradeAt": _opt_iso(p.last_trade_at),
    }


def webhook_event(ev: WebhookEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "eventType": ev.type,
        "tradeRequestId": ev.trade_id,
        "emittedAt": iso(ev.created_at),
        "outboxEmittedAt": _opt_iso(ev.outbox_emitted_at),
        "replayCount": ev.replay_count,
        "status": ev.status,
        "delivery": {
            "attempts": ev.attempts,
            "lastAttemptedAt": _opt_iso(ev.last_attempted_at),
            "lastDeliveredAt": _opt_iso(ev.last_delivered_at),
            "lastStatusCode": ev.last_status_code,
            "lastFailureCode": ev.last_failure_code,
            "lastErrorMessage": ev.last_error_message,
            "terminalFailureAt": _opt_iso(ev.terminal_failure_at),
        },
    }


def redelivered(ev: WebhookEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "eventType": ev.type,
        "apiKeyId": ev.key_id,
        "tradeRequestId": ev.trade_id,
        "emittedAt": iso(ev.created_at),
        "lastDeliveredAt": _opt_iso(ev.last_delivered_at),
        "deliveryAttempts": ev.attempts,
    }


def redemption(r: Redemption) -> dict[str, Any]:
    return {
        "id": r.id,
        "marketId": r.market_id,
        "outcomeIndex": r.outcome,
        "kind": r.kind,
        "sharesWad": str(r.shares),
        "status": r.status,
        "payoutAtomic": str(r.payout),  # simulator extension
        "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
    }
