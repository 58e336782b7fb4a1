"""The middleware that does what Kash's edge does, in order: request id, auth (401/403 codes),
API-version pinning (410; the version then decides what the handlers serve), armed HTTP
faults, the per-user rate limit (429 + ``X-RateLimit-*``),
optional ``X-Kash-Signature`` verification, scope check; then the handler; then the response
headers and the request log that the admin API exposes as ground truth.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from kashbot.sim.errors import SimError
from kashbot.sim.faults import HTTP_KINDS
from kashbot.sim.limits import LimitDecision
from kashbot.sim.models import KeyState
from kashbot.sim.replies import KEY, LOST, RID, VENUE, VERSION, Reply, problem, respond
from kashbot.sim.venue import Venue
from kashbot.wire import TIMESTAMP_DIGITS, ascii_int

SIGNATURE_TOLERANCE_MS = 300_000
BODY_TIMEOUT_S = 5.0  # a POST body must arrive within this (kashbot.inbound cuts slow heads)
UNAUTHENTICATED = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json"})
PASSTHROUGH = ("/_sim/", "/v1/stream")  # own handlers: admin (no auth) and the websocket
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


@dataclass(slots=True)
class _Trace:
    """What the request log records about one request, filled in as the edge goes."""

    route: str
    version: str
    key: KeyState | None = None
    rate: LimitDecision | None = None
    status: int = 500
    code: str | None = None


def _check_route(request: web.Request) -> None:
    """404 outside /v1 and for unknown paths, 405 for a known path with another method."""
    if not request.path.startswith("/v1/"):
        raise SimError("RESOURCE_NOT_FOUND", f"no route {request.path}")
    exc = request.match_info.http_exception
    if exc is not None:
        if exc.status == 405:
            raise SimError("VALIDATION_FAILED", f"method {request.method} not allowed", status=405)
        raise SimError("RESOURCE_NOT_FOUND", f"no route {request.method} {request.path}")


async def _admit(request: web.Request, venue: Venue, t: _Trace) -> web.StreamResponse | None:
    """Kash's checks before the handler, in its order; a fault's response, or None to go on."""
    _check_route(request)
    if request.method == "POST":
        await _read_body_in_time(request)
    if request.path not in UNAUTHENTICATED:
        t.key = venue.authenticate(request.headers.get("X-API-Key"), request.remote)
        request[KEY] = t.key
    t.version = request[VERSION] = _version(request, venue)
    fault_resp = await _apply_fault(request, venue, t.route, t.key)
    if fault_resp is not None:
        return fault_resp
    key = t.key
    if key is not None:
        t.rate = venue.rate_check(key, write=request.method == "POST")
        if not t.rate.allowed:
            raise SimError(
                "RATE_LIMIT_EXCEEDED",
                "per-user request quota exceeded",
                retry_after=t.rate.retry_after_s,
            )
        if request.method == "POST":
            _verify_signature(request, key, await request.read(), venue.clock.now_ms())
        scopes = SCOPES.get(t.route)
        if scopes:
            venue.require_scope(key, *scopes)
    return None


def _version_headers(venue: Venue, version: str) -> dict[str, str]:
    """The version that served the request, the server's canonical one (kash-today §2: "on
    every request, independent of the client pin") and any deprecation notice of the version."""
    api = venue.scenario.api
    out = {"X-Kash-Api-Version": version, "X-API-Version": api.default_version}
    notice = api.deprecations.get(version)
    if notice is not None:
        if notice.deprecation is not None:
            out["Deprecation"] = notice.deprecation
        if notice.sunset is not None:
            out["Sunset"] = notice.sunset
        if notice.link is not None:
            out["Link"] = f'<{notice.link}>; rel="sunset"'
    return out


def _finish(
    request: web.Request, resp: web.StreamResponse, t: _Trace, venue: Venue
) -> web.StreamResponse:
    """Rate-limit, id and version headers; a `lost_response` fault drops the answer here."""
    t.status = resp.status
    if t.rate is not None and t.code != "RATE_LIMIT_UNAVAILABLE":
        resp.headers.update(_rate_headers(t.rate))
    resp.headers["X-Request-Id"] = request[RID]
    resp.headers.update(_version_headers(venue, t.version))
    resp.headers.setdefault("Cache-Control", "private, no-cache")
    if request.get(LOST):
        # the handler committed (e.g. the trade exists) but the client never hears back
        _drop(request)
        t.status = 0
        raise asyncio.CancelledError
    return resp


def _log(request: web.Request, venue: Venue, t: _Trace) -> None:
    venue.log_request(
        {
            "requestId": request[RID],
            "time": venue.clock.now(),
            "keyId": t.key.id if t.key else None,
            "keyName": t.key.name if t.key else None,
            "method": request.method,
            "route": t.route,
            "path": request.path_qs,
            "status": t.status,
            "code": t.code,
        }
    )


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
    t = _Trace(f"{request.method} {template}", venue.scenario.api.default_version)
    try:
        resp: web.StreamResponse
        try:
            fault_resp = await _admit(request, venue, t)
            if fault_resp is not None:
                return fault_resp
            reply = cast(Reply, await handler(request))
            resp = respond(request, reply, t.key)
        except SimError as err:
            t.code = err.code
            resp = problem(request, err)
        except asyncio.CancelledError:
            t.status = 0  # dropped by a fault or by the client: no response was sent
            raise
        return _finish(request, resp, t, venue)
    finally:
        _log(request, venue, t)
