"""The status page's files and the browser rules the control endpoint applies to every answer.

The page (``static/``: plain HTML, JS and CSS, no CDN) loads without the token and shows
nothing until the operator types it; the data it polls (``/status``, ``/status/detail``) and
the actions it posts need ``Authorization: Bearer``. Only a fixed list of files is served
(no directory walking), each from the package data, read once.

Why a browser may post at all: a POST whose ``Origin`` is this very endpoint (the page itself)
is same-origin; any other origin -- a site in another tab, ``null``, a DNS-rebound name whose
``Host`` is not a loopback name -- is refused by :func:`same_origin`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from importlib import resources

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FILES: dict[str, str] = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "app.css": "text/css",
}
# Every answer of the control endpoint: nothing from elsewhere, never framed, nothing cached.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _read(name: str) -> bytes:
    return resources.files("kashbot.web").joinpath("static", name).read_bytes()


def page_routes() -> Mapping[str, Handler]:
    """GET routes for ``/`` (the page) and ``/ui/<file>``; no token needed, no data inside."""
    bodies = {name: _read(name) for name in FILES}

    def serve(name: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            ctype = FILES[name]
            return web.Response(body=bodies[name], content_type=ctype, charset="utf-8")

        return handler

    routes: dict[str, Handler] = {"/": serve("index.html"), "/ui/": serve("index.html")}
    routes.update({f"/ui/{name}": serve(name) for name in FILES})
    return routes


def same_origin(headers: Mapping[str, str], port: int) -> bool:
    """Is this browser request from the page this endpoint served (loopback name, our port)?"""
    host = headers.get("Host", "")
    if host not in {f"{name}:{port}" for name in LOOPBACK_NAMES}:
        return False
    if headers.get("Origin") != f"http://{host}":
        return False
    return headers.get("Sec-Fetch-Site", "same-origin") == "same-origin"
