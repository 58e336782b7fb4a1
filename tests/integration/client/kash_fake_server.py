"""A scripted Kash peer on 127.0.0.1, only for the test_client_wire_contract_* files.

The client's integration suite runs against the simulator; this peer exists to send what the
simulator never does on purpose (every §15 code, undocumented codes, malformed or rare headers and
shapes). Each test scripts replies per (method, path) and inspects the recorded requests.
Unscripted routes answer 599 so a missing script fails loudly. Also: resource factories in the
wire format of kash-api.md §7 and a clock whose ``sleep`` only records (no real waiting).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "kash_test_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
MARKET_ID = "3f2b8c1e-6a4d-4e8b-9c2f-1a2b3c4d5e6f"


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def problem(status: int, code: str, **extra: Any) -> Reply:
    """An RFC 7807 problem+json reply as Kash sends it."""
    headers = {"Content-Type": "application/problem+json"}
    retry_after = extra.pop("retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {
        "type": f"https://docs.kash.bot/developer-docs/api-errors/{code}",
        "title": code.replace("_", " ").title(),
        "status": status,
        "code": code,
        "detail": f"detail for {code}",
        "instance": "/v1/x",
        "requestId": "req_problem",
        **extra,
    }
    return Reply(status, json=body, headers=headers)


class FakeKash:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._scripts: dict[tuple[str, str], deque[Reply]] = defaultdict(deque)
        self._sticky: dict[tuple[str, str], Reply] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for ``METHOD /v1/...``; consumed in order, one per request."""
        self._scripts[(method, path)].extend(replies)

    def always(self, method: str, path: str, reply: Reply) -> None:
        """Answer every request to this route with ``reply`` once the queue is empty."""
        self._sticky[(method, path)] = reply

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],  # undecoded: %2F stays %2F
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
            )
        )
        key = (request.method, self.requests[-1].path)
        queue = self._scripts.get(key)
        if queue:
            reply = queue.popleft()
        elif key in self._sticky:
            reply = self._sticky[key]
        else:
            return web.json_response({"unscripted": f"{request.method} {request.path}"}, status=599)
        headers = {"X-Request-Id": "req_test", **reply.headers}
        if reply.body is not None:
            return web.Response(status=reply.status, body=reply.body, headers=headers)
        if reply.json is None:
            return web.Response(status=reply.status, headers=headers)
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=reply.status, text=json.dumps(reply.json), headers=headers)


class RecordingClock:
    """Fixed wall time; ``sleep`` records the delay and yields once instead of waiting."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self._now = now
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def now_ms(self) -> int:
        return int(self._now * 1000)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def meta(**extra: Any) -> dict[str, Any]:
    return {"requestId": "req_test", "timestamp": "2026-05-01T12:00:00.000Z", **extra}


def market_json(market_id: str = MARKET_ID, **over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "id": market_id,
        "contractAddress": "0x" + "ab" * 20,
        "chainId": 8453,
        "title": "Will it rain?",
        "description": None,
        "imageUrl": None,
        "status": "ACTIVE",
        "outcomeCount": 2,
        "outcomes": [
            {"index": 0, "label": "Yes", "probability": 0.41},
            {"index": 1, "label": "No", "probability": 0.59},
        ],
        "createdAt": "2026-04-01T00:00:00.000Z",
        "expiresAt": "2026-06-01T00:00:00.000Z",
        "resolvedAt": None,
        "freezeAt": "2026-05-31T00:00:00.000Z",
        "someFutureField": {"ignored": True},
    }
    m.update(over)
    return m


def one(key: str, resource: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Dual-key envelope."""
    return {key: resource, "data": resource, "_meta": meta(), **extra}


def page(items: list[Any], cursor: str | None = None, limit: int = 20) -> dict[str, Any]:
    return {
        "data": items,
        "pagination": {"cursor": cursor, "hasMore": cursor is not None, "limit": limit},
        "_meta": meta(),
    }
