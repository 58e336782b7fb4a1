"""The daemon end to end against the simulator (kashbot.sim.embedded.run_sim) on 127.0.0.1.

Each run is a few seconds of real time: the sim's fair value (its hidden truth) differs from the
initial pools, so fair_value trades as soon as the first quote reveals a pool.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemon_cfg import daemon_cfg

from kashbot.app.daemon import Daemon
from kashbot.client.webhooks import sign
from kashbot.config import KashbotConfig
from kashbot.events import DataFresh, Event, StaleData
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(60)


def make_cfg(store: Path) -> KashbotConfig:
    poller = {"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 5}
    return daemon_cfg(store, poller=poller)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3) as handle:
        yield handle


def our_trades(sim: SimHandle) -> list[Any]:
    key_id = sim.key("developer").key_id
    return [t for t in sim.venue.trades.values() if t.key_id == key_id]


async def run_for(daemon: Daemon, seconds: float, until: Any = None) -> Any:
    async def stopper() -> None:
        for _ in range(int(seconds / 0.05)):
            await asyncio.sleep(0.05)
            if until is not None and until():
                break
        daemon.stop()

    task = asyncio.create_task(stopper())
    summary = await daemon.run()
    task.cancel()
    return summary


async def test_trades_end_to_end_with_webhooks(sim: SimHandle, tmp_path: Path) -> None:
    logs = io.StringIO()
    configure(level="debug", fmt="json", stream=logs)
    async with Daemon(make_cfg(tmp_path / "a.sqlite"), sim=sim, control_port=0) as d:
        summary = await run_for(d, 15, until=lambda: len(d.engine.state.fills) >= 3)
        assert d.receiver is not None and d.receiver.stats.accepted >= 3
    assert summary.fills >= 3 and summary.pending == 0
    trades = our_trades(sim)
    assert trades and all(t.status == "completed" for t in trades)
    assert all(t.amount <= 50_000_000 for t in trades)  # the gate's per-trade cap, never a 409
    # our engine's positions agree with the venue's ground truth
    for (market_id, outcome), pos in d.engine.state.positions.items():
        venue_shares = sum(
            (t.tokens_out or 0) for t in trades if (t.market_id, t.outcome) == (market_id, outcome)
        )
        assert pos.shares == venue_shares
    # secrets never reach the logs
    text = logs.getvalue()
    key = sim.key("developer")
    assert key.api_key not in text and (key.webhook_secret or "x" * 40) not in text
    assert '"event": "order_sending"' in text


async def test_forged_stale_and_duplicated_webhooks(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    sim.arm_fault("webhook_duplicate", count=3)
    async with Daemon(make_cfg(tmp_path / "b.sqlite"), sim=sim, control_port=0) as d:
        rx = d.receiver
        assert rx is not None

        async def probe() -> None:
            await asyncio.sleep(0.2)
            body = json.dumps({"id": "evt_forged", "type": "trade.completed", "data": {}}).encode()
            now_ms = d.clock.now_ms()
            async with aiohttp.ClientSession() as s:
                for header in (
                    sign("whsec_attacker_key_00000000", body, now_ms),
                    sign(d.access.webhook_secrets[0], body, now_ms - 600_000),
                    "t=1,v1=nothex",
                ):
                    async with s.post(rx.url, data=body, headers={"X-Kash-Signature": header}) as r:
                        assert r.status == 401

        probing = asyncio.create_task(probe())
        summary = await run_for(
            d, 15, until=lambda: rx.stats.duplicates >= 1 and len(d.engine.state.fills) >= 2
        )
        await probing
        assert rx.stats.bad_signature == 3
        assert rx.stats.duplicates >= 1
    # duplicates were not processed twice: one fill per venue trade
    trades = [t for t in our_trades(sim) if t.status == "completed"]
    assert summary.fills == len(trades)


async def test_stream_drop_raises_stale_and_recovers(sim: SimHandle, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    async with Daemon(make_cfg(tmp_path / "c.sqlite"), sim=sim, control_port=0) as d:
        seen: list[Event] = []
        stale_in_gate: list[bool] = []

        def on_stale(e: Event) -> None:
            seen.append(e)
            # subscribed after the daemon's own handler: the gate must already know
            stale_in_gate.append(bool(d.gate.snapshot(d.clock.now()).stale_markets))

        d.engine.bus.subscribe(StaleData, on_stale)
        d.engine.bus.subscribe(DataFresh, seen.append)

        async def drop() -> None:
            while d.stream is None or d.stream.messages < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            sim.disconnect_streams()

        dropping = asyncio.create_task(drop())
        await run_for(
            d,
            15,
            until=lambda: (
                dropping.done()
                and any(isinstance(e, DataFresh) and e.market_id is not None for e in seen)
                and all(not v.stale for v in d.engine.state.markets.values())
            ),
        )
        await dropping
        assert d.stream is not None and d.stream.connects >= 2
    kinds = [(type(e).__name__, e.market_id) for e in seen]
    assert ("StaleData", None) in kinds
    assert stale_in_gate and all(stale_in_gate)  # the gate blocked new exposure while stale
    first_stale = next(i for i, e in enumerate(seen) if isinstance(e, StaleData))
    assert any(isinstance(e, DataFresh) for e in seen[first_stale:])


async def test_restart_keeps_spend_ledger_and_duplicates_nothing(
    sim: SimHandle, tmp_path: Path
) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    store = tmp_path / "d.sqlite"
    async with Daemon(make_cfg(store), sim=sim, control_port=0) as d1:
        await run_for(d1, 15, until=lambda: len(d1.engine.state.fills) >= 2)
        spent_1 = d1.gate.ledger.used(d1.clock.now())
    assert spent_1 > 0
    before = {t.id for t in our_trades(sim)}
    async with Daemon(make_cfg(store), sim=sim, control_port=0) as d2:
        # recovery restored the ledger before any strategy ran
        assert d2.gate.ledger.used(d2.clock.now()) >= spent_1
        assert d2.engine.state.positions  # positions reloaded from the venue
        await run_for(d2, 2)
    trades = our_trades(sim)
    crids = [t.client_request_id for t in trades]
    assert len(crids) == len(set(crids))  # no intent was sent twice
    assert before <= {t.id for t in trades}
    buys = sum(t.amount for t in trades if t.side == "buy" and t.status == "completed")
    assert buys <= 2000 * 10**6
