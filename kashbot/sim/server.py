"""aiohttp double of the Kash REST API v1 over a :class:`~kashbot.sim.venue.Venue`.

One middleware does what Kash's edge does, in this order: request id, auth (401/403 codes),
API-version pinning (410), armed HTTP faults, the per-user rate limit (429 + ``X-RateLimit-*``),
optional ``X-Kash-Signature`` verification, scope check; then the handler; then weak ETags
(304), ``Cache-Control`` and the request log that the admin API exposes as ground truth.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiohttp import web

from kashbot.money import MoneyError, parse_usdc_str
from kashbot.sim import serialize as ser
from kashbot.sim.errors import SimError
from kashbot.sim.faults import HTTP_KINDS
from kashbot.sim.ids import iso, parse_iso
from kashbot.sim.limits import LimitDecision
from kashbot.sim.models import KeyState
from kashbot.sim.pagination import paginate, parse_limit
from kashbot.sim.venue import Venue
from kashbot.wire import COUNT_DIGITS, TIMESTAMP_DIGITS, ascii_int

T = TypeVar("T")

VENUE: web.AppKey[Venue] = web.AppKey("venue", Venue)
RID: web.RequestKey[str] = web.RequestKey("kash_request_id", str)
KEY: web.RequestKey[KeyState] = web.RequestKey("kash_key", KeyState)
LOST: web.RequestKey[bool] = web.RequestKey("kash_lost_response", bool)
SIGNATURE_TOLERANCE_MS = 300_000
BODY_TIMEOUT_S = 5.0  # a POST body must arrive within this (kashbot.inbound cuts slow heads)
UNAUTHENTICATED = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json"})
PASSTHROUGH = ("/_sim/", "/v1/stream")  # own handlers: admin (no auth) and the websocket
UUID_RE = re.compile(r"^[0-9a-fA-F-]{36}$")
TRADE_FIELDS = frozenset(
    {"marketId", "outcomeIndex", "amount", "side", "clientRequestId", "metadata"}
)

# route template -> scopes (any one grants), for the scope check
SCOPES: dict[str, tuple[str, ...]] = {
    "GET /v1/markets": ("markets:read",),
    "GET /v1/markets/{id}": ("markets:read",),
    "GET /v1/markets/{id}/predictions": ("markets:read",),
    "GET /v1/markets/{id}/quote": ("markets:quote",),
    "POST /v1/trades": ("trades:write",),
    "POST /v1/trades/{id}/confirm": ("trades:write",),
    "GET /v1/trades": ("trades:read",),
    "GET /v1/trades/{id}": ("trades:read",),
    "GET /v1/traces/{id}": ("trades:read",),
    "GET /v1/portfolio": ("portfolio:read",),
    "GET /v1/portfolio/positions": ("portfolio:read",),
    "GET /v1/account/usage": ("auth:manage",),
    "GET /v1/webhooks/events": ("webhooks:manage",),
    "POST /v1/webhooks/events/{id}/redeliver": ("webhooks:manage",),
}


@dataclass(slots=True)
class Reply:
    """What a handler returns; the middleware turns it into a response with headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True


Handler = Callable[[web.Request], Awaitable[Reply]]


def _meta(request: web.Request, **extra: Any) -> dict[str, Any]:
    venue = request.app[VENUE]
    return {"requestId": request[RID], "timestamp": iso(venue.clock.now()), **extra}


def _single(request: web.Request, name: str, data: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {name: data, "data": data, "_meta": _meta(request, **meta)}


def _page(
    request: web.Request,
    items: Sequence[T],
    seq_of: Callable[[T], int],
    limit: int,
    filters: Mapping[str, object],
    render: Callable[[T], dict[str, Any]],
    *,
    descending: bool,
) -> Reply:
    """One page of ``items`` after the request's cursor (bound to ``filters``), as a list reply."""
    page, cursor, more = paginate(
        items, seq_of, request.query.get("cursor"), limit, filters, descending=descending
    )
    body = {
        "data": [render(x) for x in page],
        "pagination": {"cursor": cursor, "hasMore": more, "limit": limit},
        "_meta": _meta(request),
    }
    return Reply(200, body)


def _statuses(request: web.Request) -> set[str] | None:
    """The ``status`` query as a set (comma-separated); None when absent or empty."""
    raw = request.query.get("status")
    return {s.strip() for s in raw.split(",") if s.strip()} if raw else None


def _key(request: web.Request) -> KeyState:
    key: KeyState = request[KEY]
    return key


def _int_param(request: web.Request, name: str, *, required: bool = True) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise SimError(
                "VALIDATION_FAILED", f"query parameter {name} is required", issues=[name]
            )
        return None
    value = ascii_int(raw, COUNT_DIGITS * 3, signed=True)  # USDC atomic amounts are long
    if value is None:
        raise SimError("VALIDATION_FAILED", f"{name} must be an integer", issues=[name])
    return value


# ---------------------------------------------------------------------------- handlers


async def health(request: web.Request) -> Reply:
    return Reply(200, {"status": "ok", "_meta": _meta(request)}, etag=False)


async def ready(request: web.Request) -> Reply:
    return Reply(200, {"status": "ready", "_meta": _meta(request)}, etag=False)


async def openapi(request: web.Request) -> Reply:
    """The route list this simulator serves (not Kash's full spec)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in request.app.router.routes():
        info = route.resource.canonical if route.resource else ""
        if info.startswith("/v1/"):
            paths.setdefault(info, {})[route.method.lower()] = {}
    body = {
        "openapi": "3.1.0",
        "info": {"title": "Kash REST API (kashbot simulator)", "version": "sim"},
        "paths": paths,
    }
    return Reply(200, body)


async def list_markets(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    status = request.query.get("status")
    if status and status.upper() not in ("UNSEEDED", "ACTIVE", "RESOLVED"):
        raise SimError("VALIDATION_FAILED", "status must be UNSEEDED, ACTIVE or RESOLVED")
    limit = parse_limit(request.query.get("limit"), 20)
    markets = venue.list_markets(status)
    order = {m.id: i + 1 for i, m in enumerate(venue.markets.values())}
    return _page(
        request,
        markets,
        lambda m: order[m.id],
        limit,
        {"status": (status or "").upper()},
        ser.market,
        descending=False,
    )


async def get_market(request: web.Request) -> Reply:
    m = request.app[VENUE].market(request.match_info["id"])
    return Reply(200, _single(request, "market", ser.market(m)))


async def list_predictions(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    side = request.query.get("side")
    if side is not None and side not in ("buy", "sell"):
        raise SimError("VALIDATION_FAILED", "side must be buy or sell", issues=["side"])
    outcome = _int_param(request, "outcomeIndex", required=False)
    limit = parse_limit(request.query.get("limit"), 50)
    preds = [
        p
        for p in venue.predictions(request.match_info["id"])
        if (side is None or p.side == side) and (outcome is None or p.outcome == outcome)
    ]
    return _page(
        request,
        preds,
        lambda p: p.seq,
        limit,
        {"side": side, "outcomeIndex": outcome},
        ser.prediction,
        descending=True,
    )


async def get_quote(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    outcome = _int_param(request, "outcomeIndex")
    action = request.query.get("action")
    if action not in ("buy", "sell"):
        raise SimError("VALIDATION_FAILED", "action must be buy or sell", issues=["action"])
    amount = _int_param(request, "amount")
    assert outcome is not None and amount is not None
    market_id = request.match_info["id"]
    q = venue.quote(market_id, outcome, action, amount)
    body = {
        "quote": ser.quote(q),
        "market": ser.market_summary(venue.markets[market_id]),
        "units": {"usdc": "atomic-6", "token": "wad-18"},
        "_meta": _meta(request),
    }
    return Reply(200, body, {"Cache-Control": "public, max-age=10"})


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
    sub = venue.submit_trade(
        _key(request),
        body["marketId"],
        body["outcomeIndex"],
        body["side"],
        amount,
        idempotency_key=request.headers.get("Idempotency-Key"),
        client_request_id=body.get("clientRequestId"),
        metadata=body.get("metadata"),
    )
    data = ser.trade(venue, sub.trade)
    out = _single(request, "trade", data, idempotent=sub.replay)
    if sub.confirmation_token is not None and sub.confirmation_expires_at is not None:
        out["confirmation"] = {
            "token": sub.confirmation_token,
            "expiresAt": iso(sub.confirmation_expires_at),
        }
    headers = {"Idempotent-Replay": "true"} if sub.replay else {}
    return Reply(sub.status_code, out, headers, etag=False)


async def confirm_trade(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not 40 <= len(token) <= 64:
        raise SimError("VALIDATION_FAILED", "token must be a 40-64 char string", issues=["token"])
    if isinstance(body, dict) and set(body) - {"token"} and venue.scenario.api.strict_bodies:
        raise SimError("VALIDATION_FAILED", "unknown field in confirm body")
    t = venue.confirm_trade(_key(request), request.match_info["id"], token)
    return Reply(200, _single(request, "trade", ser.trade(venue, t)), etag=False)


async def list_trades(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    statuses = _statuses(request)
    market_id = request.query.get("marketId")
    limit = parse_limit(request.query.get("limit"), 20)
    trades = venue.list_trades(_key(request), statuses, market_id)
    return _page(
        request,
        trades,
        lambda t: t.seq,
        limit,
        {"status": sorted(statuses or ()), "marketId": market_id},
        lambda t: ser.trade(venue, t),
        descending=True,
    )


async def get_trade(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    t = venue.get_trade(_key(request), request.match_info["id"])
    return Reply(200, _single(request, "trade", ser.trade(venue, t)))


async def get_trace(request: web.Request) -> Reply:
    t = request.app[VENUE].trace(_key(request), request.match_info["id"])
    return Reply(200, _single(request, "trace", ser.trace(t)))


async def get_portfolio(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    key = _key(request)
    positions = venue.user_positions(key)
    user = venue.users[key.user_id]
    data = {
        "smartAccountAddress": user.smart_account,
        "activePositions": len(positions),
        "totalCostBasisAtomic": str(sum(p.cost_basis for p in positions)),
        "usdcBalance": str(user.balance - user.held),  # §17: INSUFFICIENT_BALANCE page field
    }
    return Reply(200, _single(request, "portfolio", data))


async def list_positions(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    market_id = request.query.get("marketId")
    limit = parse_limit(request.query.get("limit"), 20)
    positions = venue.user_positions(_key(request), market_id)
    order = {id(p): i + 1 for i, p in enumerate(positions)}
    return _page(
        request,
        positions,
        lambda p: order[id(p)],
        limit,
        {"marketId": market_id},
        ser.position,
        descending=False,
    )


async def account_usage(request: web.Request) -> Reply:
    data = request.app[VENUE].usage(_key(request))
    return Reply(200, {"data": data, "_meta": _meta(request)})


async def list_events(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    statuses = _statuses(request)
    since_raw = request.query.get("from")
    since = None
    if since_raw:
        try:
            since = parse_iso(since_raw)
        except (ValueError, OverflowError):
            raise SimError("VALIDATION_FAILED", "from must be an ISO timestamp") from None
    limit = parse_limit(request.query.get("limit"), 25)
    events = venue.list_events(_key(request), statuses, since)
    return _page(
        request,
        events,
        lambda e: e.seq,
        limit,
        {"status": sorted(statuses or ()), "from": since_raw},
        ser.webhook_event,
        descending=True,
    )


async def redeliver(request: web.Request) -> Reply:
    ev = request.app[VENUE].redeliver(_key(request), request.match_info["id"])
    body = _single(request, "event", ser.redelivered(ev), message="redelivery enqueued")
    return Reply(202, body, etag=False)


async def rotate_secret(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    key = _key(request)
    venue.require_scope(key, *venue.scenario.api.rotation_scopes)
    secret, at, until = venue.rotate_webhook_secret(key)
    data = {"secret": secret, "rotatedAt": iso(at), "previousRetainedUntil": iso(until)}
    body = _single(request, "webhookSecret", data, message="store this secret now")
    return Reply(200, body, etag=False)


async def create_redemption(request: web.Request) -> Reply:
    venue = request.app[VENUE]
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or set(body) != {"marketId", "outcomeIndex"}:
        raise SimError("VALIDATION_FAILED", "body must be {marketId, outcomeIndex}")
    oi = body["outcomeIndex"]
    if not isinstance(oi, int) or isinstance(oi, bool) or not 0 <= oi <= 255:
        raise SimError("VALIDATION_FAILED", "outcomeIndex must be an integer 0..255")
    r, replay = venue.create_redemption(_key(request), str(body["marketId"]), oi)
    body_out = _single(request, "redemption", ser.redemption(r), idempotent=replay)
    return Reply(200 if replay else 201, body_out, etag=False)


# ---------------------------------------------------------------------------- middleware


def _problem(request: web.Request, err: SimError) -> web.Response:
    body = err.problem(instance=request.path, request_id=request.get(RID, ""))
    resp = web.Response(
        status=err.status, body=json.dumps(body).encode(), content_type="application/problem+json"
    )
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp


def _version(request: web.Request, venue: Venue) -> str:
    api = venue.scenario.api
    values = request.headers.getall("X-Kash-Api-Version", [])
    if not values:
        return api.default_version
    if len(values) > 1 or "," in values[0] or values[0].strip() not in api.versions:
        raise SimError(
            "API_VERSION_UNSUPPORTED",
            "unknown, sunset or multi-valued X-Kash-Api-Version",
            requested=",".join(values),
            supported=list(api.versions),
            current=api.default_version,
        )
    return values[0].strip()


def _verify_signature(request: web.Request, key: KeyState, raw: bytes, now_ms: int) -> None:
    header = request.headers.get("X-Kash-Signature")
    if header is None:
        return
    t: int | None = None
    sigs: list[str] = []
    for part in header.split(","):
        k, sep, v = part.strip().partition("=")
        if not sep:
            continue
        if k == "t":
            t = ascii_int(v, TIMESTAMP_DIGITS)  # "²" and 5,000 digits are malformed, not a 500
        elif k == "v1":
            sigs.append(v)

    def fail(reason: str) -> SimError:
        return SimError(
            "REQUEST_SIGNATURE_INVALID", f"request signature is {reason}", signatureReason=reason
        )

    if t is None or not sigs:
        raise fail("malformed")
    if abs(now_ms - t) > SIGNATURE_TOLERANCE_MS:
        raise fail("stale")
    canonical = f"{t}.{request.method.upper()}.{request.path}.".encode() + raw
    expected = hmac.new(key.api_key.encode(), canonical, hashlib.sha256).hexdigest()
    if not any(len(s) == len(expected) and hmac.compare_digest(s, expected) for s in sigs):
        raise fail("mismatch")


def _rate_headers(d: LimitDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(d.limit),
        "X-RateLimit-Remaining": str(d.remaining),
        "X-RateLimit-Reset": str(d.reset_epoch_s),
    }


async def _apply_fault(
    request: web.Request, venue: Venue, route: str, key: KeyState | None
) -> web.StreamResponse | None:
    """The armed HTTP fault for this request, if any: a response, or a dropped connection."""
    names = (key.name, key.id, key.prefix) if key else ()
    fault = venue.faults.take(
        HTTP_KINDS,
        venue.clock.now(),
        route=route,
        path=request.path,
        method=request.method,
        key_names=names,
    )
    if fault is None:
        return None
    spec = fault.spec
    kind = spec.kind
    if kind == "lost_response":
        request[LOST] = True
        return None
    if kind == "drop_connection":
        _drop(request)
        raise asyncio.CancelledError
    if kind == "hang":
        await asyncio.sleep(spec.hang_s)
        raise SimError("REQUEST_TIMEOUT", "server timed out", retry_after=spec.retry_after)
    errors = {
        "rate_limit_storm": ("RATE_LIMIT_EXCEEDED", "rate limit exceeded (storm)"),
        "route_disabled": ("ROUTE_DISABLED", "route disabled by kill switch"),
        "trade_halt": ("API_TRADE_PROCESSING_HALTED", "trade processing is halted"),
        "dependency_unavailable": ("DEPENDENCY_UNAVAILABLE", "a dependency is unavailable"),
        "rate_limit_unavailable": ("RATE_LIMIT_UNAVAILABLE", "rate limiter unavailable"),
        "internal_error": ("INTERNAL_ERROR", "unexpected server error"),
        "timeout": ("REQUEST_TIMEOUT", "server timed out"),
    }
    code, detail = errors[kind]
    extra: dict[str, Any] = {}
    if kind == "route_disabled":
        extra["flag"] = spec.flag or "api-" + route.split(" ", 1)[-1].strip("/").replace("/", "-")
    retry = spec.retry_after
    if kind == "rate_limit_storm" and retry is None:
        retry = 1
    raise SimError(code, detail, retry_after=retry, **extra)


async def _read_body_in_time(request: web.Request) -> None:
    """Read (and cache) the body within BODY_TIMEOUT_S; a slower peer is cut off."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            await request.read()
    except TimeoutError:
        _drop(request)
        raise asyncio.CancelledError from None


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


@web.middleware
async def kash_edge(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.path.startswith(PASSTHROUGH):
        return await handler(request)
    venue = request.app[VENUE]
    request[RID] = "req_" + venue.ids.hex("request", 12)
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    route = f"{request.method} {template}"
    key: KeyState | None = None
    rate: LimitDecision | None = None
    version = venue.scenario.api.default_version
    status = 500
    code: str | None = None
    try:
        try:
            if not request.path.startswith("/v1/"):
                raise SimError("RESOURCE_NOT_FOUND", f"no route {request.path}")
            if request.match_info.http_exception is not None:
                exc = request.match_info.http_exception
                if exc.status == 405:
                    raise SimError(
                        "VALIDATION_FAILED", f"method {request.method} not allowed", status=405
                    )
                raise SimError("RESOURCE_NOT_FOUND", f"no route {request.method} {request.path}")
            if request.method == "POST":
                await _read_body_in_time(request)
            if request.path not in UNAUTHENTICATED:
                remote = request.remote
                key = venue.authenticate(request.headers.get("X-API-Key"), remote)
                request[KEY] = key
            version = _version(request, venue)
            fault_resp = await _apply_fault(request, venue, route, key)
            if fault_resp is not None:
                return fault_resp
            if key is not None:
                rate = venue.rate_check(key, write=request.method == "POST")
                if not rate.allowed:
                    raise SimError(
                        "RATE_LIMIT_EXCEEDED",
                        "per-user request quota exceeded",
                        retry_after=rate.retry_after_s,
                    )
                if request.method == "POST":
                    _verify_signature(request, key, await request.read(), venue.clock.now_ms())
                scopes = SCOPES.get(route)
                if scopes:
                    venue.require_scope(key, *scopes)
            reply = cast(Reply, await handler(request))
            resp = _respond(request, reply, key)
        except SimError as err:
            code = err.code
            resp = _problem(request, err)
        except asyncio.CancelledError:
            status = 0  # dropped by a fault or by the client: no response was sent
            raise
        status = resp.status
        if rate is not None and code != "RATE_LIMIT_UNAVAILABLE":
            resp.headers.update(_rate_headers(rate))
        resp.headers["X-Request-Id"] = request[RID]
        resp.headers["X-Kash-Api-Version"] = version
        resp.headers["X-API-Version"] = version
        resp.headers.setdefault("Cache-Control", "private, no-cache")
        if request.get(LOST):
            # the handler committed (e.g. the trade exists) but the client never hears back
            _drop(request)
            status = 0
            raise asyncio.CancelledError
        return resp
    finally:
        venue.log_request(
            {
                "requestId": request[RID],
                "time": venue.clock.now(),
                "keyId": key.id if key else None,
                "keyName": key.name if key else None,
                "method": request.method,
                "route": route,
                "path": request.path_qs,
                "status": status,
                "code": code,
            }
        )


def _respond(request: web.Request, reply: Reply, key: KeyState | None) -> web.Response:
    body = reply.body
    headers = dict(reply.headers)
    if reply.etag and request.method == "GET":
        stable = {k: v for k, v in body.items() if k != "_meta"}
        blob = json.dumps(stable, sort_keys=True, separators=(",", ":")).encode()
        scope = f"{request.path_qs}|{key.id if key else ''}".encode()
        etag = 'W/"' + hashlib.sha1(scope + b"|" + blob).hexdigest()[:20] + '"'
        headers["ETag"] = etag
        inm = request.headers.get("If-None-Match")
        if inm is not None and etag in [t.strip() for t in inm.split(",")]:
            return web.Response(status=304, headers=headers)
    return web.Response(
        status=reply.status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=headers,
    )


def _wrap(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """aiohttp wants handlers returning responses; ours return Reply for the middleware."""
    return fn  # type: ignore[return-value]


def add_api_routes(app: web.Application) -> None:
    r = app.router
    for path, fn in (
        ("/v1/health", health),
        ("/v1/ready", ready),
        ("/v1/openapi.json", openapi),
        ("/v1/markets", list_markets),
        ("/v1/markets/{id}", get_market),
        ("/v1/markets/{id}/predictions", list_predictions),
        ("/v1/markets/{id}/quote", get_quote),
        ("/v1/trades", list_trades),
        ("/v1/trades/{id}", get_trade),
        ("/v1/traces/{id}", get_trace),
        ("/v1/portfolio", get_portfolio),
        ("/v1/portfolio/positions", list_positions),
        ("/v1/account/usage", account_usage),
        ("/v1/webhooks/events", list_events),
    ):
        r.add_get(path, _wrap(fn), allow_head=False)
    for path, fn in (
        ("/v1/trades", create_trade),
        ("/v1/trades/{id}/confirm", confirm_trade),
        ("/v1/webhooks/events/{id}/redeliver", redeliver),
        ("/v1/auth/api-keys/me/webhook-secret/rotate", rotate_secret),
        ("/v1/redemptions", create_redemption),
    ):
        r.add_post(path, _wrap(fn))
