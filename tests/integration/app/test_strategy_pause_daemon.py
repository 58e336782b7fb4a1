"""A paper daemon whose strategy keeps raising: paused after N in a row, the operator told (an
alert through the configured channel, ``kashbot_strategy_paused{strategy}`` at 1, ``kashbot
status`` says PAUSED and how to resume), then ``kashbot strategy resume ID`` calls it again."""

from __future__ import annotations

import asyncio
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from daemon_cfg import daemon_cfg

from kashbot.app.daemon import Daemon
from kashbot.cli import main
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(180)

POLLER = {"markets_interval_s": 1, "predictions_interval_s": 0, "quotes_interval_s": 2}
STRATEGY = """
from kashbot.engine.strategy import Strategy, StrategyParams

BROKEN = True
CALLS = 0


class Boom(Strategy[StrategyParams]):
    name = "boom"

    def decide(self, state, event, params, now):
        global CALLS
        if BROKEN:
            raise RuntimeError("boom: bad maths")
        CALLS += 1
        return []
"""


async def receiver(posts: list[dict[str, Any]]) -> AsyncIterator[str]:
    async def hook(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"json://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3) as handle:
        yield handle


async def wait_for(what: str, check: Any) -> None:
    for _ in range(450):  # 90 s: generous on a loaded machine
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not seen within 90 s: {what}")


def scrape(url: str, token: str) -> str:
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(resp.read().decode())


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_paused_strategy_alerted_shown_and_resumed(
    sim: SimHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = f"boombot_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(STRATEGY)
    monkeypatch.chdir(tmp_path)  # the config ("test.yaml") and its strategy live here
    monkeypatch.setattr(sys, "path", list(sys.path))
    posts: list[dict[str, Any]] = []
    async for url in receiver(posts):
        monkeypatch.setenv("KASH_ALERT_URL", url)
        store = tmp_path / "d" / "s.sqlite"
        cfg = daemon_cfg(
            store,
            poller=POLLER,
            strategies=[{"name": f"{module}:Boom", "id": "boom"}],
            engine={"shutdown_grace_s": 5, "pause_strategy_after_errors": 3},
            metrics={"enabled": True},
            alerts={
                "channels": [{"url_env": "KASH_ALERT_URL", "events": ["strategy_paused"]}],
                "daily_summary_utc": None,
            },
        )
        async with Daemon(cfg, sim=sim, control_port=0) as d:
            run = asyncio.create_task(d.run(150))
            await wait_for("the pause", lambda: "boom" in d.engine.errors.paused)
            await wait_for("the alert", lambda: len(posts) == 1)
            assert d.control is not None
            token = (store.parent / "control.token").read_text().strip()
            metrics = await asyncio.to_thread(scrape, d.control.url, token)
            assert 'kashbot_strategy_paused{strategy="boom"} 1.0' in metrics

            ctl = tmp_path / "ctl.yaml"  # what the operator's CLI reads: store and port
            ctl.write_text(
                f"store: {{path: {store}}}\ncontrol: {{port: {d.control.port}}}\n"
                "status: {enabled: false}\n"
            )
            capsys.readouterr()
            assert await cli("status", str(ctl)) == 0
            out = capsys.readouterr().out
            assert "boom: PAUSED, 3 exceptions (3 in a row)" in out
            assert "RuntimeError: boom: bad maths" in out
            assert "kashbot strategy resume ID [CONFIG]" in out

            assert await cli("strategy", "resume", "nope", str(ctl)) == 1
            assert "refused (404): no strategy 'nope'" in capsys.readouterr().err
            sys.modules[module].BROKEN = False  # type: ignore[attr-defined]  # "fixed"
            assert await cli("strategy", "resume", "boom", str(ctl)) == 0
            assert "RuntimeError: boom: bad maths" in capsys.readouterr().out  # paused_by
            await wait_for("called again", lambda: sys.modules[module].CALLS > 0)
            assert await cli("strategy", "resume", "boom", str(ctl)) == 1
            assert "refused (409): strategy 'boom' is not paused" in capsys.readouterr().err
            metrics = await asyncio.to_thread(scrape, d.control.url, token)
            assert 'kashbot_strategy_paused{strategy="boom"} 0.0' in metrics
            d.stop()
            await run
    [alert] = posts
    assert alert["title"] == "kashbot strategy boom paused" and alert["type"] == "failure"
    assert (
        "3 times in a row" in alert["message"]
        and "kashbot strategy resume boom" in alert["message"]
    )
