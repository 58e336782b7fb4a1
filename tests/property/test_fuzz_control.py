"""Fuzz the daemon's control endpoint (issue 13): arbitrary methods, paths, headers and bodies
never produce a 5xx or a traceback, and nothing acts without the bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from fuzz_http import BODIES, FUZZ, HEADER_TEXT, NUMBERISH, watch_logs
from hypothesis import given
from hypothesis import strategies as st

from kashbot.app.control import ControlServer

TOKEN = "fuzz-control-token-0123456789"


@dataclass
class Rig:
    runner: asyncio.Runner
    server: ControlServer
    session: aiohttp.ClientSession
    actions: list[str] = field(default_factory=list)

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        async def go() -> int:
            url = self.server.url + path
            async with self.session.request(method, url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        return self.runner.run(go())


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with asyncio.Runner() as runner:
        actions: list[str] = []

        async def confirm(trade_id: str) -> object:
            actions.append(f"confirm:{trade_id}")
            if trade_id.startswith("x"):
                raise LookupError("not held")
            return "completed"

        async def metrics(request: object) -> aiohttp.web.Response:
            return aiohttp.web.Response(text="ok")

        server = ControlServer(
            status=lambda: {"state": "ACTIVE"},
            halt=lambda r: actions.append("halt"),
            resume=lambda r: actions.append("resume"),
            reduce=lambda r: actions.append("reduce"),
            confirm=confirm,
            token=TOKEN,
            routes={"/metrics": metrics},
        )
        runner.run(server.start())
        session = runner.run(_session())
        try:
            yield Rig(runner, server, session, actions)
        finally:
            runner.run(session.close())
            runner.run(server.stop())


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))


PATHS = st.sampled_from(
    ["/status", "/halt", "/resume", "/reduce", "/confirm", "/metrics", "/", "/nope"]
) | HEADER_TEXT.map(lambda t: "/" + "".join(c for c in t if c.isalnum()))
QUERIES = st.dictionaries(st.sampled_from(["limit", "cursor", "x"]), NUMBERISH, max_size=2)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=PATHS,
    query=QUERIES,
    body=BODIES,
    auth=st.sampled_from(["", "Bearer wrong", f"Bearer {TOKEN}x", "Basic abc"]) | HEADER_TEXT,
    extra=st.dictionaries(st.sampled_from(["Content-Type", "Origin", "X-A"]), HEADER_TEXT),
)
def test_without_the_token_nothing_acts_and_nothing_5xx(
    rig: Rig,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes,
    auth: str,
    extra: dict[str, str],
) -> None:
    qs = "&".join(f"{k}={v}" for k, v in query.items() if v.isascii() and "&" not in v)
    before = list(rig.actions)
    with watch_logs() as watch:
        status = rig.send(
            method, path + (f"?{qs}" if qs else ""), body, {**extra, "Authorization": auth}
        )
        assert status < 500, status
        assert watch.tracebacks() == []
    assert rig.actions == before


@FUZZ
@given(
    path=st.sampled_from(["/halt", "/resume", "/reduce", "/confirm", "/status"]),
    body=BODIES | st.sampled_from([b'{"trade_id": "x1"}', b'{"trade_id": 5}', b'{"reason": []}']),
    ctype=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_with_the_token_hostile_bodies_never_5xx(
    rig: Rig, path: str, body: bytes, ctype: str
) -> None:
    method = "GET" if path == "/status" else "POST"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": ctype}
    with watch_logs() as watch:
        status = rig.send(method, path, body, headers)
        assert status < 500, status
        assert watch.tracebacks() == []
