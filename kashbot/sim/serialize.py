"""Venue records -> the exact JSON shapes of §7 (camelCase, atomic/WAD integer strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kashbot import amm
from kashbot.money import WAD, usdc_str
from kashbot.sim.chains import LATEST, evm_chain_id, is_solana, serves_solana
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


def chain_fields(m: MarketState, version: str) -> dict[str, Any]:
    """``chainId`` (EVM only, key omitted on Solana) and, from 2026-08-19, ``chainRef``."""
    out: dict[str, Any] = {}
    chain_id = evm_chain_id(m.chain)
    if chain_id is not None:
        out["chainId"] = chain_id
    if serves_solana(version):
        out["chainRef"] = m.chain
    return out


def resolution(m: MarketState) -> dict[str, Any] | None:
    p = m.proposal
    if p is None:
        return None
    return {
        "proposedOutcomeIndex": p.outcome,
        "proposedAt": iso(p.proposed_at),
        "finalizableAt": iso(p.finalizable_at),
        "settlementStatus": p.settlement_status,
        "disputeOpen": p.dispute_open,
    }


def market(m: MarketState, version: str = LATEST) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "contractAddress": m.contract_address}
    out.update(chain_fields(m, version))
    out.update(
        {
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
    )
    if serves_solana(version):
        out["resolution"] = resolution(m)
        out["resolutionState"] = m.resolution_state
        # simulator extension: the per-market fees its pool charges (Kash's REST has none)
        out["protocolFeeBps"] = m.fees.protocol_bps
        out["sellFeeBps"] = m.fees.amm_sell_bps
    return out


def market_summary(m: MarketState, version: str = LATEST) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "contractAddress": m.contract_address}
    out.update(chain_fields(m, version))
    out.update({"outcomes": outcomes(m), "status": m.status})
    return out


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


def trade(venue: Venue, t: TradeRecord, version: str | None = None) -> dict[str, Any]:
    """The §7.4 trade; ``version`` None = the server's default version."""
    chain = venue.markets[t.market_id].chain
    version = version or venue.scenario.api.default_version
    out: dict[str, Any] = {
        "id": t.id,
        "marketId": t.market_id,
        "outcomeIndex": t.outcome,
        "amount": usdc_str(t.amount),
        "side": t.side,
        "status": t.status,
        "correlationId": t.correlation_id,
        "clientRequestId": t.client_request_id,
        "txHash": None if is_solana(chain) else t.tx_hash,  # null on Solana, every version
        "tokensOut": _opt_str(t.tokens_out),
        "errorCode": t.error_code,
        "errorMessage": t.error_message,
        "webhookDelivery": venue.webhook_delivery_summary(t),
        "metadata": dict(t.metadata),
        "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
    }
    if serves_solana(version):
        out["chainRef"] = chain
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
