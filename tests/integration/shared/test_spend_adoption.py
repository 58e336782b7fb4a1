"""Continuous spend adoption on the embedded ledger (issue 14): a running daemon counts buys on
its key that it did not make as they appear in the trade list, not only at startup, and says so
in its status. The other buyer is a second client on the daemon's own key (another process, a
human in the webapp); the daemon's own buys are never counted twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kashbot.app.daemon import Daemon
from kashbot.client import KashClient
from kashbot.config import KashbotConfig, parse_config
from kashbot.events import OrderIntent, Side
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Approval
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(60)
MARKET = "610464bf-ef0e-4a59-8144-c69601eef85e"


def cfg_for(tmp_path: Path) -> KashbotConfig:
    text = f"""
venue: {{mode: paper, sim: {{key_tier: developer}}}}
risk: {{daily_cap_usdc: 100}}
markets: [{MARKET}]
sources:
  poller: {{markets_interval_s: 5, predictions_interval_s: 0, quotes_interval_s: 0}}
  webhook: {{port: 0}}
  stream: {{heartbeat_timeout_s: 3, backoff_initial_s: 0.05, backoff_max_s: 0.2}}
store: {{path: {tmp_path / "adopt.sqlite"}}}
logging: {{format: json}}
status: {{enabled: false}}
control: {{port: 0}}
shared_state: {{adopt_interval_s: 0.2}}
"""
    return parse_config(text, "adopt.yaml", {})


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=5, noise=False) as handle:
        yield handle


async def _until(what: str, probe: Any, within: float = 20) -> Any:
    try:
        async with asyncio.timeout(within):
            while not (got := probe()):  # noqa: ASYNC110 - a status read, no event to wait on
                await asyncio.sleep(0.05)
            return got
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


async def test_buys_by_another_client_on_the_key_count_as_they_appear(
    sim: SimHandle, tmp_path: Path
) -> None:
    async with Daemon(cfg_for(tmp_path), sim=sim, control_port=0) as d:
        runner = asyncio.create_task(d.run())
        try:
            assert d.status_json()["spend_adoption"]["adopted_trades"] == 0
            mine = await d.router.submit(OrderIntent("mine-1", "mm", MARKET, 0, Side.BUY, 3 * U))
            assert isinstance(mine, Approval)
            async with KashClient(d.access.api_key, sim.base_url) as other:
                await other.create_trade(MARKET, 1, "buy", Decimal("7"))
                await _until(
                    "the other client's buy adopted",
                    lambda: d.status_json()["spend_adoption"]["adopted_trades"] == 1,
                )
                status = d.status_json()
                assert status["spend_adoption"]["adopted_spend_usdc"] == "7.00"
                assert status["spend_used_usdc"] == "10.00"  # 3 of ours + 7 adopted
                await other.create_trade(MARKET, 0, "buy", Decimal("11"))
                await _until(
                    "the second one too",
                    lambda: d.status_json()["spend_adoption"]["adopted_trades"] == 2,
                )
            await asyncio.sleep(0.6)  # a few more scans: nothing is counted twice
            status = d.status_json()
            assert status["spend_adoption"]["adopted_spend_usdc"] == "18.00"
            assert d.gate.daily_used(d.clock.now()) == 21 * U
            assert status["spend_adoption"]["scans"] >= 3
            # the gate now refuses what the key no longer has: 100 - 21 = 79 left
            big = await d.router.submit(OrderIntent("mine-2", "mm", MARKET, 0, Side.BUY, 80 * U))
            assert not isinstance(big, Approval) and str(big.reason) == "DAILY_CAP"
            assert status["shared_state"] == {"backend": "embedded"}
        finally:
            d.stop()
            await runner
    # a restart keeps the adopted spend (it is in the store), and adopts nothing again
    async with Daemon(cfg_for(tmp_path), sim=sim, control_port=0) as again:
        assert again.gate.daily_used(again.clock.now()) == 21 * U


U = USDC_ONE
