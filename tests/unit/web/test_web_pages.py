"""The status page's serving rules: the page loads without the token but holds no data; its
own same-origin POSTs act, another origin (or a DNS-rebound Host) does not; every answer
carries the CSP; the extra read route needs the token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kashbot.app.control import ControlServer
from kashbot.web.pages import page_routes, same_origin

TOKEN = "web-token-" + "y" * 30


@pytest.fixture
async def server() -> AsyncIterator[tuple[ControlServer, list[str]]]:
    acted: list[str] = []
    srv = ControlServer(
        status=lambda: {"state": "ACTIVE"},
        halt=lambda reason: acted.append(reason),
        token=TOKEN,
        routes=page_routes(),
        reads={"/status/detail": lambda: {"state_reason": "x"}},
    )
    await srv.start()
    yield srv, acted
    await srv.stop()


async def call(method: str, url: str, headers: dict[str, str], body: bytes = b"") -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, data=body) as resp,
    ):
        return resp.status, resp.headers, await resp.read()


async def test_page_loads_without_token_with_csp(server: tuple[ControlServer, list[str]]) -> None:
    srv, _ = server
    for path in ("/", "/ui/", "/ui/app.js", "/ui/app.css"):
        status, headers, body = await call("GET", srv.url + path, {})
        assert status == 200 and body
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert headers["X-Content-Type-Options"] == "nosniff"
    _, _, html = await call("GET", srv.url + "/", {})
    assert b"http" not in html.replace(b"http-equiv", b"")  # nothing loaded from elsewhere
    status, headers, _ = await call("GET", srv.url + "/ui/../control.py", {})
    assert status == 404 and "Content-Security-Policy" in headers
    status, _, _ = await call("GET", srv.url + "/status/detail", {})
    assert status == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, body = await call("GET", srv.url + "/status/detail", auth)
    assert status == 200 and b"state_reason" in body


async def test_only_the_page_itself_may_post(server: tuple[ControlServer, list[str]]) -> None:
    srv, acted = server
    json_auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    own = f"127.0.0.1:{srv.port}"
    refused = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://evil.example:{srv.port}", "Host": f"evil.example:{srv.port}"},
        {"Origin": f"http://{own}", "Sec-Fetch-Site": "cross-site"},
        {"Origin": f"http://127.0.0.1:{srv.port + 1}"},
    ]
    for extra in refused:
        status, _, _ = await call("POST", srv.url + "/halt", {**json_auth, **extra}, b"{}")
        assert status == 403, extra
    assert acted == []
    page = {**json_auth, "Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin"}
    status, _, _ = await call("POST", srv.url + "/halt", page, b'{"reason": "web"}')
    assert status == 200 and acted == ["web"]
    no_token = {"Content-Type": "application/json", "Origin": f"http://{own}"}
    assert (await call("POST", srv.url + "/halt", no_token, b"{}"))[0] == 401


def test_same_origin_rules() -> None:
    assert same_origin({"Host": "localhost:81", "Origin": "http://localhost:81"}, 81)
    assert same_origin({"Host": "[::1]:81", "Origin": "http://[::1]:81"}, 81)
    assert not same_origin({"Host": "localhost:81", "Origin": "http://127.0.0.1:81"}, 81)
    assert not same_origin({"Host": "localhost:81", "Origin": "https://localhost:81"}, 81)
    assert not same_origin({"Origin": "http://localhost:81"}, 81)
