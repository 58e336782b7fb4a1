"""``http``: poll a JSON endpoint, conditional on its ETag, backing off while it fails.

Each poll sends ``If-None-Match`` with the last ETag; a 304 (or an unchanged body) re-vouches for
the values already emitted (they are re-emitted with the new receipt time, which the hub's
staleness tracker sees and the engine does not: the hub forwards only changes). A failure (no
connection, a timeout, a non-2xx status, a body that is not JSON) waits ``Backoff.delay(n)`` with
full jitter instead of ``poll_s``, and the count resets on the next success.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
import structlog
from pydantic import Field

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.base import Emit, FairValueSource, SourceParams
from kashbot.fairvalue.mapping import extract
from kashbot.fairvalue.paths import FieldMap
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.fairvalue")


class HttpParams(SourceParams):
    url: str
    mapping: FieldMap
    poll_s: float = Field(5.0, gt=0, le=3600)
    timeout_s: float = Field(10.0, gt=0)
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra request headers (no secrets in YAML: use env)"
    )
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)


class HttpSource(FairValueSource[HttpParams]):
    name = "http"
    Params = HttpParams

    def markets(self) -> frozenset[str]:
        m = self.params.mapping
        if m.market_id is not None:
            return frozenset({m.market_id})
        return frozenset(m.markets.values()) if m.markets else frozenset()

    async def run(self, emit: Emit) -> None:
        p = self.params
        backoff = Backoff(p.backoff_initial_s, p.backoff_max_s, jitter="full")
        etag: str | None = None
        last_body: bytes | None = None
        last: dict[str, FairValueUpdate] = {}
        failures = 0
        timeout = aiohttp.ClientTimeout(total=p.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                headers = dict(p.headers)
                if etag is not None:
                    headers["If-None-Match"] = etag
                try:
                    async with session.get(p.url, headers=headers) as resp:
                        if resp.status == 304:
                            body = last_body
                        elif 200 <= resp.status < 300:
                            body = await resp.read()
                            etag = resp.headers.get("ETag")
                        else:
                            raise _HttpStatus(resp.status)
                    if body is None:  # a 304 before any 200: nothing to re-vouch for
                        etag = None
                    elif body == last_body:
                        self._revouch(last, emit)
                    else:
                        doc = json.loads(body, parse_float=Decimal)
                        last_body = body
                        self._emit_doc(doc, last, emit)
                    failures = 0
                    wait = p.poll_s
                except (aiohttp.ClientError, TimeoutError, ValueError, _HttpStatus) as exc:
                    wait = backoff.delay(failures, self.rng)
                    failures += 1
                    log.warning(
                        "fair_value_http_failed",
                        source=self.source_id,
                        error=f"{type(exc).__name__}: {exc}"[:200],
                        retry_in_s=round(wait, 3),
                    )
                await self.clock.sleep(wait)

    def _revouch(self, last: dict[str, FairValueUpdate], emit: Emit) -> None:
        now = self.clock.now()
        for u in last.values():
            emit(replace(u, ts=now))

    def _emit_doc(self, doc: Any, last: dict[str, FairValueUpdate], emit: Emit) -> None:
        for row in extract(doc, self.params.mapping):
            u = self.accept_row(row)
            if u is not None:
                last[u.market_id] = u
                emit(u)


class _HttpStatus(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
