"""The simulator's write routes (POST): trades, confirmations, redeliveries, rotation,
redemptions. Bodies are validated as Kash validates them (``VALIDATION_FAILED`` with issues)."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from kashbot.money import MoneyError, parse_usdc_str
from kashbot.sim import serialize as ser
from kashbot.sim.errors import SimError
from kashbot.sim.ids import iso
from kashbot.sim.replies import VENUE, Reply, key_of, single_reply, version_of
from kashbot.sim.routes_read import require_chain

UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
TRADE_FIELDS = frozenset(
    {"marketId", "outcomeIndex", "amount", "side", "clientRequestId", "metadata"}
)


def _trade_body(raw: bytes, strict: bool) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise SimError("VALIDATION_FAILED", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SimError("VALIDATION_FAILED", "body must be a JSON object")
    extra = sorted(set(body) - TRADE_FIELDS)
    if strict and extra:
        raise SimError("VALIDATION_FAILED", f"unknown field {extra[0]}", issues=[extra[0]])
    issues: list[dict[str, str]] = []
    for name in ("marketId", "outcomeIndex", "amount", "side"):
        if name not in body:
            issues.append({"path": name, "message": "required"})
    if not issues:
        if not isinstance(body["marketId"], str) or not UUID_RE.match(body["marketId"]):
            issues.append({"path": "marketId", "message": "must be a uuid"})
        oi = body["outcomeIndex"]
        if not isinstance(oi, int) or isinstance(oi, bool):
            issues.append({"path": "outcomeIndex", "message": "must be an integer"})
        if not isinstance(body["amount"], str):
            issues.append({"path": "amount", "message": "must be a USDC decimal string"})
        if body["side"] not in ("buy", "sell"):
            issues.append({"path": "side", "message": "must be buy or sell"})
        crid = body.get("clientRequestId")
        if crid is not None and not isinstance(crid, str):
            issues.append({"path": "clientRequestId", "message": "must be a string"})
    if issues:
        raise SimError(
            "VALIDATION_FAILED", f"{issues[0]['path']}: {issues[0]['message']}", issues=issues
        )
    return body


async def _lenient_body(request: web.Request) -> Any:
    """The parsed JSON body; None when empty or not JSON (the caller's shape check refuses it)."""
    try:
        return json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        return None


async def create_trade(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    body = _trade_body(await request.read(), venue.scenario.api.strict_bodies)
    try:
        amount = parse_usdc_str(body["amount"])
    except MoneyError:
        raise SimError(
            "VALIDATION_FAILED",
            "amount must match ^\\d+(\\.\\d{1,6})?$",
            issues=[{"path": "amount", "message": "bad USDC decimal string"}],
        ) from None
    m = venue.markets.get(body["marketId"])
    if m is not None and venue.scenario.api.gate_trades_by_version:
        require_chain(m, version_of(request))  # kash-today unknown #2: a choice
    sub = venue.submit_trade(
        key_of(request),
        body["marketId"],
        body["outcomeIndex"],
        body["side"],
        amount,
        idempotency_key=request.headers.get("Idempotency-Key"),
        client_request_id=body.get("clientRequestId"),
        metadata=body.get("metadata"),
    )
    data = ser.trade(venue, sub.trade, version_of(request))
    out = single_reply(request, "trade", data, idempotent=sub.replay)
    if sub.confirmation_token is not None and sub.confirmation_expires_at is not None:
        out["confirmation"] = {
            "token": sub.confirmation_token,
            "expiresAt": iso(sub.confirmation_expires_at),
        }
    headers = {"Idempotent-Replay": "true"} if sub.replay else {}
    return Reply(sub.status_code, out, headers, etag=False)


async def confirm_trade(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    body = await _lenient_body(request)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not 40 <= len(token) <= 64:
        raise SimError("VALIDATION_FAILED", "token must be a 40-64 char string", issues=["token"])
    if isinstance(body, dict) and set(body) - {"token"} and venue.scenario.api.strict_bodies:
        raise SimError("VALIDATION_FAILED", "unknown field in confirm body")
    t = venue.confirm_trade(key_of(request), request.match_info["id"], token)
    data = ser.trade(venue, t, version_of(request))
    return Reply(200, single_reply(request, "trade", data), etag=False)


async def redeliver(request: web.Request) -> Reply:
    ev = request.app[VENUE].redeliver(key_of(request), request.match_info["id"])
    body = single_reply(request, "event", ser.redelivered(ev), message="redelivery enqueued")
    return Reply(202, body, etag=False)


async def rotate_secret(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    key = key_of(request)
    venue.require_scope(key, *venue.scenario.api.rotation_scopes)
    secret, at, until = venue.rotate_webhook_secret(key)
    data = {"secret": secret, "rotatedAt": iso(at), "previousRetainedUntil": iso(until)}
    body = single_reply(request, "webhookSecret", data, message="store this secret now")
    return Reply(200, body, etag=False)


async def create_redemption(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    body = await _lenient_body(request)
    if not isinstance(body, dict) or set(body) != {"marketId", "outcomeIndex"}:
        raise SimError("VALIDATION_FAILED", "body must be {marketId, outcomeIndex}")
    oi = body["outcomeIndex"]
    if not isinstance(oi, int) or isinstance(oi, bool) or not 0 <= oi <= 255:
        raise SimError("VALIDATION_FAILED", "outcomeIndex must be an integer 0..255")
    r, replay = venue.create_redemption(key_of(request), str(body["marketId"]), oi)
    body_out = single_reply(request, "redemption", ser.redemption(r), idempotent=replay)
    return Reply(200 if replay else 201, body_out, etag=False)
