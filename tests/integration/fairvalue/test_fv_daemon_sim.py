"""A paper daemon whose fair values come from a websocket feed (a local server), not the sim's
truth: the server is killed and restarted; buys stop while the fair value is stale (the gate
says FAIR_VALUE_STALE), resume once it is fresh again, and the daemon never crashes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from daemon_cfg import FAIR_VALUE, daemon_cfg
from fv_servers import WsServer, wait_for
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from kashbot.app.daemon import Daemon
from kashbot.events import OrderIntent, Side
from kashbot.risk.gate import Approval, Denial
from kashbot.risk.rules import Reason
from kashbot.sim.embedded import run_sim

pytestmark = pytest.mark.timeout(60)

M = "610464bf-ef0e-4a59-8144-c69601eef85e"  # default scenario: binary, pool at 0.5/0.5
STRATEGY = {
    **FAIR_VALUE,
    "params": {"max_trade_usdc": 5, "max_position_usdc": 1000, "cooldown_s": 0.2},
}


async def feed(ws: ServerConnection) -> None:
    """Our "model": outcome 0 is worth 0.9, far above the pool, so fair_value keeps buying."""
    await ws.recv()  # the subscribe message
    try:
        while True:
            await ws.send(json.dumps({"type": "fv", "id": "rain", "p": "0.9"}))
            await asyncio.sleep(0.05)
    except ConnectionClosed:
        return


def fair_values(url: str) -> dict[str, Any]:
    params = {
        "url": url,
        "subscribe": [{"op": "subscribe"}],
        "only_if": {"type": "fv"},
        "mapping": {"market": "id", "markets": {"rain": M}, "p_yes": "p"},
        "max_age_s": 0.8,
        "refresh_s": 0.1,
        "heartbeat_s": 0.5,
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
    }
    return {"seed": 1, "sources": [{"name": "websocket", "id": "model", "params": params}]}


async def test_paper_daemon_stops_buying_while_the_feed_is_down(tmp_path: Path) -> None:
    server = WsServer(feed)
    await server.start()
    poller = {"markets_interval_s": 1, "predictions_interval_s": 0, "quotes_interval_s": 0.3}
    cfg = daemon_cfg(
        tmp_path / "fv.sqlite",
        poller=poller,
        sim_truth=False,
        strategies=[STRATEGY],
        markets=[M],
        metrics={"enabled": True},
        fair_values=fair_values(server.url),
    )
    verdicts: list[tuple[str, bool, Approval | Denial]] = []  # every buy: phase, stale?, verdict
    phase = "fresh"
    async with run_sim(seed=3) as sim, Daemon(cfg, sim=sim, control_port=0) as d:
        check = d.gate.check

        def spy(intent: OrderIntent, now: float | None = None) -> Approval | Denial:
            stale = M in d.gate.fair_value_stale
            verdict = check(intent, now)
            if intent.side is Side.BUY:
                verdicts.append((phase, stale, verdict))
            return verdict

        d.gate.check = spy  # type: ignore[method-assign]

        def approved(when: str) -> int:
            return sum(p == when and isinstance(v, Approval) for p, _, v in verdicts)

        async def script() -> None:
            nonlocal phase
            try:
                await wait_for(lambda: approved("fresh") >= 2, 20)
                await server.kill()
                phase = "dying"  # the last value is still fresh for up to max_age_s
                await wait_for(lambda: M in d.gate.fair_value_stale, 10)
                phase = "stale"
                await asyncio.sleep(2.0)
                phase = "restarting"
                await server.start()
                await wait_for(lambda: not d.gate.fair_value_stale, 10)
                phase = "back"
                await wait_for(lambda: approved("back") >= 1, 20)
            finally:
                d.stop()

        task = asyncio.create_task(script())
        summary = await d.run()
        await task  # re-raises a wait_for timeout
        status = d.status_json()
        metrics = d.metrics.exposition().decode() if d.metrics is not None else ""
    await server.kill()

    assert not any(stale and isinstance(v, Approval) for _, stale, v in verdicts)
    down = [v for p, _, v in verdicts if p == "stale"]  # no buy while the feed is down
    assert down and all(
        isinstance(v, Denial) and v.reason is Reason.FAIR_VALUE_STALE for v in down
    )  # the strategy kept asking (the last value is still in its view); the gate said no
    assert approved("back") >= 1  # buys resumed
    assert summary.fills >= 2
    assert d.sources.fair_values is not None
    assert status["fair_values"]["restarts"] == {"model": 0}  # reconnected, never died
    assert status["fair_values"]["stale"] == []
    row = next(m for m in status["markets"] if m["market_id"] == M)
    assert row["fair_stale"] is False and row["fair_age_s"] is not None
    assert f'kashbot_fair_value_age_seconds{{market="{M}"}}' in metrics
    assert 'kashbot_fair_value_source_restarts_total{source="model"} 0.0' in metrics
