"""The control endpoint: bearer token, no browser requests, JSON only; confirm a held trade;
the CLI (halt/status/confirm) talks to it with the token file the daemon wrote."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kashbot.app.control import ControlServer, remove_token, write_token
from kashbot.cli import main

TOKEN = "tok-" + "x" * 40


class FakeRouter:
    """What the daemon wires in: ``confirm_held`` returns the status or raises if not held."""

    def __init__(self) -> None:
        self.held = {"t-held"}
        self.confirmed: list[str] = []

    async def confirm_held(self, trade_id: str) -> str:
        if trade_id not in self.held:
            raise LookupError(f"trade {trade_id} is not held for confirmation")
        self.held.discard(trade_id)
        self.confirmed.append(trade_id)
        return "completed"


class Rig:
    def __init__(self) -> None:
        self.state = "ACTIVE"
        self.reasons: list[str] = []
        self.router = FakeRouter()

    def set(self, state: str) -> Any:
        def action(reason: str) -> None:
            self.state = state
            self.reasons.append(reason)

        return action

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "held_trades": sorted(self.router.held)}


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def served() -> AsyncIterator[tuple[Rig, ControlServer]]:
    rig = Rig()
    server = ControlServer(
        status=rig.status,
        halt=rig.set("HALTED"),
        resume=rig.set("ACTIVE"),
        reduce=rig.set("REDUCING"),
        confirm=rig.router.confirm_held,
        token=TOKEN,
        routes={"/healthz": healthz},
        port=0,
    )
    await server.start()
    yield rig, server
    await server.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


async def call(
    method: str, url: str, headers: dict[str, str], data: bytes | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, data=data) as resp,
    ):
        return resp.status, await resp.json()


async def test_actions_need_the_token(served: tuple[Rig, ControlServer]) -> None:
    rig, server = served
    for headers in ({"Content-Type": "application/json"}, {**JSON, "Authorization": "Bearer no"}):
        status, _ = await call("POST", f"{server.url}/halt", headers, b"{}")
        assert status == 401
        assert (await call("GET", f"{server.url}/status", headers))[0] == 401
    assert rig.state == "ACTIVE"
    status, body = await call("POST", f"{server.url}/halt", JSON, b'{"reason": "news"}')
    assert (status, body["action"], rig.state, rig.reasons) == (200, "halt", "HALTED", ["news"])
    status, body = await call("GET", f"{server.url}/status", AUTH)
    assert status == 200 and body["state"] == "HALTED"


async def test_a_web_page_cannot_resume(served: tuple[Rig, ControlServer]) -> None:
    """A no-cors POST from a page: text/plain, an Origin, maybe even a leaked token."""
    rig, server = served
    rig.state = "HALTED"
    page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    assert (await call("POST", f"{server.url}/resume", page, b"{}"))[0] == 403
    assert (await call("POST", f"{server.url}/resume", {**page, **AUTH}, b"{}"))[0] == 403
    assert (await call("POST", f"{server.url}/resume", {**JSON, "Origin": "null"}, b"{}"))[0] == 403
    plain = {**AUTH, "Content-Type": "text/plain"}
    assert (await call("POST", f"{server.url}/resume", plain, b"{}"))[0] == 415
    assert (await call("POST", f"{server.url}/resume", AUTH, b"{}"))[0] == 415  # no type at all
    assert rig.state == "HALTED" and rig.reasons == []
    assert (await call("POST", f"{server.url}/resume", JSON, b"[1]"))[0] == 400
    assert (await call("POST", f"{server.url}/resume", JSON, b"{}"))[0] == 200
    assert rig.state == "ACTIVE"


async def test_read_only_routes_stay_open(served: tuple[Rig, ControlServer]) -> None:
    _, server = served
    assert await call("GET", f"{server.url}/healthz", {}) == (200, {"status": "ok"})


def test_actions_without_a_token_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="token"):
        ControlServer(halt=lambda r: None)
    ControlServer(routes={"/healthz": healthz})  # metrics-only listener: no token needed


async def test_confirm_releases_a_held_trade(served: tuple[Rig, ControlServer]) -> None:
    rig, server = served
    url = f"{server.url}/confirm"
    status, body = await call("POST", url, JSON, b'{"trade_id": "t-held"}')
    assert status == 200 and body == {
        "ok": True,
        "action": "confirm",
        "trade_id": "t-held",
        "status": "completed",
    }
    assert rig.router.confirmed == ["t-held"]
    status, body = await call("POST", url, JSON, b'{"trade_id": "t-held"}')
    assert status == 409 and "not held" in body["error"]
    assert (await call("POST", url, JSON, b"{}"))[0] == 400
    assert (await call("POST", url, {"Content-Type": "application/json"}, b"{}"))[0] == 401
    assert rig.router.confirmed == ["t-held"]


def test_token_file_is_private_and_removed_only_if_ours(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "control.token"
    write_token(path, TOKEN)
    assert path.read_text() == TOKEN
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    write_token(path, TOKEN)  # a leftover with loose permissions is replaced by a private one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    remove_token(path, "another daemon's token")
    assert path.exists()
    remove_token(path, TOKEN)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []  # no temp file left behind


def cli_config(tmp_path: Path, port: int) -> Path:
    cfg = tmp_path / "ctl.yaml"
    cfg.write_text(
        f"store: {{path: {tmp_path / 's.sqlite'}}}\ncontrol: {{port: {port}}}\n"
        "status: {enabled: false}\n"
    )
    return cfg


async def test_cli_halt_status_confirm_through_the_endpoint(
    served: tuple[Rig, ControlServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig, server = served
    cfg = cli_config(tmp_path, server.port)
    assert await asyncio.to_thread(main, ["status", str(cfg)]) == 1  # no token file yet
    assert "control token" in capsys.readouterr().err
    write_token(tmp_path / "control.token", TOKEN)  # beside the store, as the daemon does

    assert await asyncio.to_thread(main, ["status", str(cfg), "--json"]) == 0
    out, err = capsys.readouterr()
    assert '"held_trades": ["t-held"]' in out and "kashbot confirm TRADE_ID" in err
    assert await asyncio.to_thread(main, ["status", str(cfg)]) == 0  # readable by default
    out, _ = capsys.readouterr()
    assert "held for confirmation (1)\n  t-held" in out
    assert await asyncio.to_thread(main, ["halt", str(cfg), "--reason", "cli"]) == 0
    assert rig.state == "HALTED" and rig.reasons == ["cli"]
    assert await asyncio.to_thread(main, ["confirm", "t-held", str(cfg)]) == 0
    assert '"status": "completed"' in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["confirm", "t-nope", str(cfg)]) == 1
    assert "refused (409): trade t-nope is not held" in capsys.readouterr().err

    write_token(tmp_path / "control.token", "stale-token-of-a-previous-run")
    assert await asyncio.to_thread(main, ["resume", str(cfg)]) == 1
    assert "refused (401)" in capsys.readouterr().err
    assert rig.state == "HALTED"
