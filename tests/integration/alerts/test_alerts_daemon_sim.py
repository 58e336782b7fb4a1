"""Alerts from a paper daemon to a local HTTP endpoint (apprise's ``json://`` posts to an
aiohttp server on 127.0.0.1): a halt is one notification, a repeat within the window is
suppressed, a hanging endpoint does not hold up trading, the URL's secret is never logged."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from daemon_cfg import daemon_cfg

from kashbot.app.daemon import Daemon
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(120)

SECRET = "hooksecret-7f3a9c2e"  # the path part of the URL a real channel would keep secret
POLLER = {"markets_interval_s": 2, "predictions_interval_s": 0, "quotes_interval_s": 5}


@dataclass
class Endpoint:
    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    hang: asyncio.Event | None = None  # set: answer; unset: hold every request open
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


async def serve(hang: bool) -> AsyncIterator[Endpoint]:
    ep = Endpoint(hang=asyncio.Event() if hang else None)

    async def hook(request: web.Request) -> web.Response:
        ep.posts.append(await request.json())
        ep.arrived.set()
        if ep.hang is not None:
            await ep.hang.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(f"/{SECRET}", hook)
    runner = web.AppRunner(app, access_log=None)  # the test's own server: not the daemon's logs
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ep.url = f"json://127.0.0.1:{port}/{SECRET}"
    try:
        yield ep
    finally:
        if ep.hang is not None:
            ep.hang.set()
        await runner.cleanup()


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    async for ep in serve(hang=False):
        yield ep


@pytest.fixture
async def hanging() -> AsyncIterator[Endpoint]:
    async for ep in serve(hang=True):
        yield ep


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3) as handle:
        yield handle


def alerts_cfg(tmp_path: Path, **alerts: Any) -> Any:
    channel = {"name": "ops", "url_env": "KASH_ALERT_URL", "events": ["halt", "reduce"]}
    return daemon_cfg(
        tmp_path / "al" / "s.sqlite",
        poller=POLLER,
        alerts={"channels": [channel], "daily_summary_utc": None, **alerts},
    )


async def wait_for(what: str, check: Any) -> None:
    for _ in range(300):  # 60 s: generous on a loaded machine
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not seen within 60 s: {what}")


async def test_each_halt_is_one_notification_also_after_a_resume(
    sim: SimHandle,
    endpoint: Endpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("KASH_ALERT_URL", endpoint.url)
    logs = io.StringIO()
    configure(level="debug", fmt="json", stream=logs)
    caplog.set_level(logging.DEBUG)
    async with Daemon(alerts_cfg(tmp_path), sim=sim, control_port=0) as d:
        run = asyncio.create_task(d.run(100))
        assert d.alerts is not None
        stats = d.alerts.dispatcher.stats
        d.gate.halt("operator test")
        await wait_for("the halt notification", lambda: len(endpoint.posts) == 1)
        d.gate.resume("operator test")  # not in this channel's events: filtered, not sent
        d.gate.halt("operator test")  # halted again after a resume: news, sent
        await wait_for("the second halt", lambda: len(endpoint.posts) == 2)
        d.gate.resume("operator test")
        d.gate.reduce("exposure")  # another event: sent
        await wait_for("the reduce notification", lambda: len(endpoint.posts) == 3)
        d.stop()
        await run
    halt, halt_again, reduce = endpoint.posts
    assert halt_again["title"] == halt["title"]  # not taken for a repeat: a resume came between
    assert stats["suppressed.halt"] == 0
    assert halt["title"] == "kashbot HALTED" and "operator test" in halt["message"]
    assert halt["type"] == "failure" and reduce["type"] == "warning"
    assert "exposure" in reduce["message"]
    assert stats["sent"] == 3 and stats["failed"] == 0 and stats["dropped"] == 0
    out = capsys.readouterr()
    everything = logs.getvalue() + out.out + out.err + caplog.text
    assert "alerts_started" in everything
    assert SECRET not in everything


async def test_a_hanging_endpoint_does_not_hold_up_trading(
    sim: SimHandle,
    hanging: Endpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASH_ALERT_URL", hanging.url + "?rto=60")  # apprise waits a minute
    cfg = alerts_cfg(tmp_path, send_timeout_s=1, dedup_window_s=0)
    async with Daemon(cfg, sim=sim, control_port=0) as d:
        run = asyncio.create_task(d.run(100))
        assert d.alerts is not None
        stats = d.alerts.dispatcher.stats
        d.gate.halt("first")
        async with asyncio.timeout(60):
            await hanging.arrived.wait()  # the send is now stuck in the endpoint
        processed = d.engine.events_processed
        for i in range(5):  # more alerts while it hangs: queued or refused, never waited on
            d.gate.resume(f"r{i}")
            d.gate.halt(f"h{i}")
        assert str(d.gate.state) == "HALTED"  # the gate acted at once
        # 10 state changes plus the market data that keeps arriving
        await wait_for(
            "the engine keeps processing", lambda: d.engine.events_processed > processed + 20
        )
        await wait_for("the stuck send given up", lambda: stats["timed_out"] >= 1)
        assert d.status_json()["state"] == "HALTED"
        d.stop()
        await run
    assert stats["sent"] == 0
