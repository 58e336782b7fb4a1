"""``/metrics``, ``/healthz`` and ``/readyz`` as aiohttp handlers, for any listener to mount.

Liveness answers "is the process worth keeping": the loop answered (this handler ran) and the
engine has not died. Readiness answers "is it doing its job": recovery finished, strategies
started, and every enabled source is live. Both bodies are small JSON with the failing checks,
so an operator sees why without reading logs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from kashbot.obs.metrics import DaemonMetrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Health:
    live: bool
    ready: bool
    checks: dict[str, bool] = field(default_factory=dict)  # name -> ok (readiness)
    detail: str = ""


def obs_routes(metrics: DaemonMetrics, health: Callable[[], Health]) -> Mapping[str, Handler]:
    async def get_metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        h = health()
        body = {"status": "ok" if h.live else "down", "detail": h.detail}
        return web.json_response(body, status=200 if h.live else 503)

    async def readyz(request: web.Request) -> web.Response:
        h = health()
        failing = sorted(name for name, ok in h.checks.items() if not ok)
        body = {
            "status": "ready" if h.ready else "not ready",
            "checks": h.checks,
            "failing": failing,
        }
        return web.json_response(body, status=200 if h.ready else 503)

    return {"/metrics": get_metrics, "/healthz": healthz, "/readyz": readyz}
