"""What the simulator's REST handlers return and how it becomes a response.

Handlers return a :class:`Reply`; :func:`respond` adds the weak ETag (and answers 304),
:func:`problem` renders a :class:`SimError` as ``application/problem+json``. The envelope
helpers build Kash's ``{<name>: ..., data: ..., _meta: ...}`` and list shapes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web

from kashbot.sim.errors import SimError
from kashbot.sim.ids import iso
from kashbot.sim.models import KeyState
from kashbot.sim.pagination import paginate
from kashbot.sim.venue import Venue
from kashbot.wire import COUNT_DIGITS, ascii_int

T = TypeVar("T")

VENUE: web.AppKey[Venue] = web.AppKey("venue", Venue)
RID: web.RequestKey[str] = web.RequestKey("kash_request_id", str)
KEY: web.RequestKey[KeyState] = web.RequestKey("kash_key", KeyState)
LOST: web.RequestKey[bool] = web.RequestKey("kash_lost_response", bool)
VERSION: web.RequestKey[str] = web.RequestKey("kash_api_version", str)  # the version serving it


@dataclass(slots=True)
class Reply:
    """What a handler returns; the middleware turns it into a response with headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True


Handler = Callable[[web.Request], Awaitable[Reply]]


def meta_block(request: web.Request, **extra: Any) -> dict[str, Any]:
    venue = request.app[VENUE]
    return {"requestId": request[RID], "timestamp": iso(venue.clock.now()), **extra}


def single_reply(
    request: web.Request, name: str, data: dict[str, Any], **meta: Any
) -> dict[str, Any]:
    return {name: data, "data": data, "_meta": meta_block(request, **meta)}


def page_reply(
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
        "_meta": meta_block(request),
    }
    return Reply(200, body)


class _Sequenced(Protocol):
    @property
    def seq(self) -> int: ...


S = TypeVar("S", bound=_Sequenced)


def newest_first(
    request: web.Request,
    items: Sequence[S],
    limit: int,
    filters: Mapping[str, object],
    render: Callable[[S], dict[str, Any]],
) -> Reply:
    """:func:`page_reply` for a feed (predictions, trades, webhook events): by ``seq``, newest
    first."""
    return page_reply(request, items, lambda x: x.seq, limit, filters, render, descending=True)


def status_filter(request: web.Request) -> set[str] | None:
    """The ``status`` query as a set (comma-separated); None when absent or empty."""
    raw = request.query.get("status")
    return {s.strip() for s in raw.split(",") if s.strip()} if raw else None


def key_of(request: web.Request) -> KeyState:
    key: KeyState = request[KEY]
    return key


def version_of(request: web.Request) -> str:
    """The API version this request is served under (pin, else the server default)."""
    return request.get(VERSION) or request.app[VENUE].scenario.api.default_version


def int_param(request: web.Request, name: str, *, required: bool = True) -> int | None:
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


def respond(request: web.Request, reply: Reply, key: KeyState | None) -> web.Response:
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


def problem(request: web.Request, err: SimError) -> web.Response:
    body = err.problem(instance=request.path, request_id=request.get(RID, ""))
    resp = web.Response(
        status=err.status, body=json.dumps(body).encode(), content_type="application/problem+json"
    )
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp
