"""``/_sim/...``: ground truth and runtime fault switches (no auth; loopback clients only).

Ground truth: true probabilities and pools, every trade (users', noise, external), every request
(key, route, status, time), webhook outbox, keys with caps used. Switches: arm/clear faults,
register a key's webhook URL, revoke keys, fund users, step a market's lifecycle (freeze,
propose, finalize, cancel, resolve), inject trades,
drop streams, and advance virtual time when the venue runs on a SimClock.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from kashbot import amm
from kashbot.clock import SimClock
from kashbot.money import MoneyError, usdc_str, usdc_to_atomic
from kashbot.sim import serialize as ser
from kashbot.sim.errors import SimError
from kashbot.sim.models import MarketState
from kashbot.sim.scenario import FaultSpec
from kashbot.sim.stream import StreamHub
from kashbot.sim.venue import Venue
from kashbot.wire import ascii_decimal

LOOPBACK = frozenset({"127.0.0.1", "::1"})
ADMIN_VENUE: web.AppKey[Venue] = web.AppKey("admin_venue", Venue)
ADMIN_HUB: web.AppKey[StreamHub] = web.AppKey("admin_hub", StreamHub)
ADMIN_KICK: web.AppKey[Callable[[], None]] = web.AppKey("admin_kick", object)  # type: ignore[arg-type]

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data, default=str).encode(), content_type="application/json"
    )


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise SimError("VALIDATION_FAILED", "admin body is not JSON") from None
    if not isinstance(data, dict):
        raise SimError("VALIDATION_FAILED", "admin body must be an object")
    return data


def _winners(body: dict[str, Any]) -> tuple[int, ...]:
    """``winners`` of a resolve or a proposal: outcome indices (the venue checks the range)."""
    winners = body.get("winners")
    if not isinstance(winners, list) or not all(isinstance(w, int) for w in winners):
        raise SimError("VALIDATION_FAILED", "winners must be a list of outcome indices")
    return tuple(winners)


@web.middleware
async def admin_guard(request: web.Request, handler: AdminHandler) -> web.StreamResponse:
    if not request.path.startswith("/_sim/"):
        return await handler(request)
    if request.remote not in LOOPBACK:
        return _json({"error": "admin API is loopback-only"}, 403)
    try:
        return await handler(request)
    except SimError as err:
        return _json(err.problem(instance=request.path, request_id=""), err.status)
    except MoneyError as err:  # e.g. a balance that is not a USDC decimal
        return _json({"error": "invalid amount", "detail": str(err)}, 400)
    except ValidationError as err:
        return _json({"error": "invalid fault spec", "detail": err.errors()}, 400)


def _venue(request: web.Request) -> Venue:
    return request.app[ADMIN_VENUE]


async def state(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    venue.advance()
    markets = []
    for m in venue.markets.values():
        markets.append(
            {
                "id": m.id,
                "title": m.title,
                "status": m.status,
                "labels": list(m.labels),
                "reserve": str(m.pool.reserve),
                "supplies": [str(s) for s in m.pool.supplies],
                "weights": [str(w) for w in m.pool.weights],
                "c": str(amm.coefficient(m.pool)),
                "probabilities": [ser.wad_str(q) for q in amm.probabilities(m.pool)],
                "trueProbabilities": [ser.wad_str(q) for q in venue.truth(m.id)],
                "winners": list(m.winners),
                "freezeAt": m.freeze_at,
                "chainRef": m.chain,
                "resolutionState": m.resolution_state,
                "fees": {"protocolBps": m.fees.protocol_bps, "sellBps": m.fees.amm_sell_bps},
                "trades": m.executions,
            }
        )
    return _json(
        {
            "now": venue.clock.now(),
            "seed": venue.seed,
            "timeScale": venue.time_scale,
            "markets": markets,
        }
    )


async def truth(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    venue.advance()
    return _json(
        {
            m.id: {
                "trueProbabilities": [ser.wad_str(q) for q in venue.truth(m.id)],
                "poolProbabilities": [ser.wad_str(q) for q in amm.probabilities(m.pool)],
            }
            for m in venue.markets.values()
        }
    )


async def all_trades(request: web.Request) -> web.StreamResponse:
    """Executed trades (users', noise, external) oldest first -- the newest
    ``api.prediction_log_size`` of each market -- plus every user trade."""
    venue = _venue(request)
    venue.advance()
    source = request.query.get("source")
    preds = sorted((p for m in venue.markets.values() for p in m.predictions), key=lambda p: p.seq)
    executions = [
        {**ser.prediction(p), "source": p.source, "tradeId": p.trade_id}
        for p in preds
        if source is None or p.source == source
    ]
    trades = [
        {**ser.trade(venue, t), "keyName": venue.keys[t.key_id].name, "userId": t.user_id}
        for t in venue.trades.values()
    ]
    return _json({"executions": executions, "trades": trades})


async def requests_log(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    q = request.query
    since = ascii_decimal(q["since"], 32) if "since" in q else None
    if "since" in q and since is None:
        raise SimError("VALIDATION_FAILED", "since must be epoch seconds (digits[.digits])")
    rows = [
        r
        for r in venue.requests
        if ("key" not in q or q["key"] in (r["keyName"], r["keyId"]))
        and ("route" not in q or r["route"] == q["route"])
        and ("status" not in q or str(r["status"]) == q["status"])
        and (since is None or r["time"] >= float(since))
    ]
    return _json({"requests": rows})


async def keys(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    now = venue.clock.now()
    out = []
    for k in venue.keys.values():
        user = venue.users[k.user_id]
        out.append(
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "tier": k.tier,
                "userId": k.user_id,
                "scopes": sorted(k.scopes),
                "revoked": k.revoked,
                "webhookUrl": k.webhook_url,
                "requestsPerMinute": k.requests_per_minute,
                "perTradeCap": usdc_str(k.per_trade_cap),
                "dailyCap": usdc_str(k.daily_cap),
                "dailyUsed": usdc_str(k.volume.used(now)),
                "highValueThreshold": usdc_str(k.threshold) if k.threshold is not None else None,
                "balance": usdc_str(user.balance),
                "held": usdc_str(user.held),
            }
        )
    return _json({"keys": out})


async def set_webhook(request: web.Request) -> web.StreamResponse:
    """Register a key's webhook receiver: {url, secret?}; answers the secret to verify with."""
    venue = _venue(request)
    body = await _body(request)
    url = body.get("url")
    if url is not None and not isinstance(url, str):
        raise SimError("VALIDATION_FAILED", "url must be a string or null")
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret.startswith("whsec_")):
        raise SimError("VALIDATION_FAILED", "secret must start with whsec_")
    key = venue.set_webhook(request.match_info["ref"], url, secret)
    request.app[ADMIN_KICK]()
    return _json(
        {"keyId": key.id, "name": key.name, "url": key.webhook_url, "secret": key.webhook_secret}
    )


async def revoke_key(request: web.Request) -> web.StreamResponse:
    key = _venue(request).find_key(request.match_info["ref"])
    key.revoked = True
    return _json({"keyId": key.id, "revoked": True})


async def set_balance(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    user = venue.users.get(request.match_info["id"])
    if user is None:
        raise SimError("RESOURCE_NOT_FOUND", "no such user")
    body = await _body(request)
    user.balance = usdc_to_atomic(str(body.get("usdc", "")))
    for flag in ("smartAccountProvisioned", "delegationEnabled"):
        if flag in body:
            attr = "smart_account_provisioned" if flag.startswith("smart") else "delegation_enabled"
            setattr(user, attr, bool(body[flag]))
    return _json({"userId": user.id, "balance": usdc_str(user.balance)})


async def resolve(request: web.Request) -> web.StreamResponse:
    winners = _winners(await _body(request))
    m = _venue(request).resolve_market(request.match_info["id"], winners)
    return _json({"id": m.id, "status": m.status, "winners": list(m.winners)})


async def freeze(request: web.Request) -> web.StreamResponse:
    m = _venue(request).freeze_market(request.match_info["id"])
    return _json({"id": m.id, "freezeAt": m.freeze_at})


def _lifecycle(m: MarketState) -> dict[str, Any]:
    return {
        "id": m.id,
        "chainRef": m.chain,
        "status": m.status,
        "freezeAt": m.freeze_at,
        "expiresAt": m.expires_at,
        "resolutionState": m.resolution_state,
        "resolution": ser.resolution(m),
        "winners": list(m.winners),
    }


async def propose(request: web.Request) -> web.StreamResponse:
    """{winners: [i, ...], disputeWindowS?, disputed?}: propose the outcome now."""
    body = await _body(request)
    winners = _winners(body)
    window = body.get("disputeWindowS")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int | float)):
        raise SimError("VALIDATION_FAILED", "disputeWindowS must be a number of seconds")
    m = _venue(request).propose_outcome(
        request.match_info["id"],
        winners,
        dispute_window_s=None if window is None else max(float(window), 0.0),
        disputed=bool(body.get("disputed", False)),
    )
    request.app[ADMIN_KICK]()
    return _json(_lifecycle(m))


async def finalize(request: web.Request) -> web.StreamResponse:
    m = _venue(request).finalize_market(request.match_info["id"])
    return _json(_lifecycle(m))


async def cancel(request: web.Request) -> web.StreamResponse:
    m = _venue(request).cancel_market(request.match_info["id"])
    return _json(_lifecycle(m))


async def redemptions(request: web.Request) -> web.StreamResponse:
    """Every redemption request (Kash has no GET for them; ground truth for tests)."""
    venue = _venue(request)
    venue.advance()
    rows = [
        {**ser.redemption(r), "userId": r.user_id, "keyName": venue.keys[r.key_id].name}
        for r in sorted(venue.redemptions.values(), key=lambda r: r.seq)
    ]
    return _json({"redemptions": rows})


async def external_trade(request: web.Request) -> web.StreamResponse:
    """{outcomeIndex, side, amount}: amount is USDC atomic (buy) or WAD tokens (sell)."""
    body = await _body(request)
    try:
        p = _venue(request).apply_external_trade(
            request.match_info["id"],
            int(body["outcomeIndex"]),
            str(body["side"]),
            int(body["amount"]),
        )
    except (KeyError, ValueError, TypeError):
        raise SimError("VALIDATION_FAILED", "need outcomeIndex, side and integer amount") from None
    return _json(ser.prediction(p))


async def list_faults(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    return _json({"faults": [f.to_json() for f in venue.faults.list(venue.clock.now())]})


async def arm_fault(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    spec = FaultSpec.model_validate(await _body(request))
    fid = venue.arm_fault(spec)
    request.app[ADMIN_KICK]()
    return _json({"id": fid}, 201)


async def clear_faults(request: web.Request) -> web.StreamResponse:
    _venue(request).faults.clear()
    return _json({"cleared": True})


async def disarm_fault(request: web.Request) -> web.StreamResponse:
    if not _venue(request).faults.disarm(request.match_info["id"]):
        raise SimError("RESOURCE_NOT_FOUND", "no such fault")
    return _json({"disarmed": request.match_info["id"]})


async def disconnect_streams(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    n = request.app[ADMIN_HUB].disconnect(body.get("key"))
    return _json({"disconnected": n})


async def webhook_outbox(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    rows = [
        {**ser.webhook_event(e), "keyName": venue.keys[e.key_id].name, "body": e.body.decode()}
        for e in sorted(venue.events.values(), key=lambda e: e.seq)
    ]
    return _json({"events": rows})


async def advance(request: web.Request) -> web.StreamResponse:
    venue = _venue(request)
    if not isinstance(venue.clock, SimClock):
        raise SimError("VALIDATION_FAILED", "advance needs a venue on a SimClock", status=409)
    body = await _body(request)
    seconds = body.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 1e9:
        raise SimError("VALIDATION_FAILED", "seconds must be a number in [0, 1e9)")
    venue.clock.advance(float(seconds))
    ran = venue.advance()
    request.app[ADMIN_KICK]()
    return _json({"now": venue.clock.now(), "steps": ran})


def add_admin_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_sim/state", state)
    r.add_get("/_sim/truth", truth)
    r.add_get("/_sim/trades", all_trades)
    r.add_get("/_sim/requests", requests_log)
    r.add_get("/_sim/keys", keys)
    r.add_post("/_sim/keys/{ref}/webhook", set_webhook)
    r.add_post("/_sim/keys/{ref}/revoke", revoke_key)
    r.add_post("/_sim/users/{id}/balance", set_balance)
    r.add_post("/_sim/markets/{id}/resolve", resolve)
    r.add_post("/_sim/markets/{id}/freeze", freeze)
    r.add_post("/_sim/markets/{id}/propose", propose)
    r.add_post("/_sim/markets/{id}/finalize", finalize)
    r.add_post("/_sim/markets/{id}/cancel", cancel)
    r.add_get("/_sim/redemptions", redemptions)
    r.add_post("/_sim/markets/{id}/trade", external_trade)
    r.add_get("/_sim/faults", list_faults)
    r.add_post("/_sim/faults", arm_fault)
    r.add_delete("/_sim/faults", clear_faults)
    r.add_delete("/_sim/faults/{id}", disarm_fault)
    r.add_post("/_sim/stream/disconnect", disconnect_streams)
    r.add_get("/_sim/webhooks", webhook_outbox)
    r.add_post("/_sim/advance", advance)
