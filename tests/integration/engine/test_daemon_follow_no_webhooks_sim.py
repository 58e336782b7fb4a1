"""Without webhooks the daemon used to learn fills only at the 30 s reconcile, so a run's summary
said "trades filled: 0" while the venue had completed them (issue 15). Now each trade is polled
promptly after submit (backing off, through the request budget) and the open ones once more at
shutdown: the summary's fills equal the simulator's completed trades. Also: the summary and the
status count every denial, not the last 50 the state keeps."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from daemon_cfg import FAIR_VALUE, daemon_cfg

from kashbot.app.daemon import Daemon
from kashbot.events import RiskDenied
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=11) as handle:
        yield handle


async def test_summary_counts_what_the_venue_filled_without_webhooks(
    sim: SimHandle, tmp_path: Path
) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    cfg = daemon_cfg(
        tmp_path / "w.sqlite",
        poller={"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 5},
        strategies=(FAIR_VALUE,),
        sources={
            "poller": {
                "markets_interval_s": 5,
                "predictions_interval_s": 0,
                "quotes_interval_s": 5,
            },
            "webhook": {"enabled": False},
            "stream": {"heartbeat_timeout_s": 15, "stale_after_s": 30},
            "sim_truth": {"enabled": True, "interval_s": 1},
        },
        # the reconcile loop would find fills too, but only every hour here
        execution={"reconcile_interval_s": 3600},
    )
    key = sim.key("developer")

    def completed() -> int:
        return sum(
            t.key_id == key.key_id and t.status == "completed" for t in sim.venue.trades.values()
        )

    async with Daemon(cfg, sim=sim, control_port=0) as d:
        assert d.receiver is None
        for n in range(60):  # more than the 50 denials the engine state keeps
            d.engine.emit(RiskDenied(0.0, f"x{n}", "fv", d.markets[0], "TEST_REASON", ""))
        runner = asyncio.create_task(d.run())
        for _ in range(2000):  # the pytest timeout is the real limit
            if completed() >= 3:
                break
            await asyncio.sleep(0.05)
        d.stop()
        summary = await runner
        status = d.status_json()
    ours = [t for t in sim.venue.trades.values() if t.key_id == key.key_id]
    assert all(t.status in ("completed", "failed", "rejected") for t in ours)  # none left open
    assert summary.fills == completed() >= 3
    assert f"trades filled: {summary.fills} " in summary.text()
    assert summary.denials_by_reason["TEST_REASON"] == 60
    assert "TEST_REASON=60" in summary.text()
    assert status["denials_by_reason"]["TEST_REASON"] == 60
    assert len(status["last_denials"]) <= 5  # the detail list stays short
