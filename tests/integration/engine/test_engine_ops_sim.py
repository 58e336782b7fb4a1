"""Operator-facing daemon behaviour against run_sim: the control token file, status with held
trades, the stream key going only to the simulator's own host, secrets out of every repr."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from kashbot.app.daemon import Daemon
from kashbot.config import KashbotConfig, parse_config
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(60)


def cfg_for(tmp_path: Path, stream_url: str | None = None) -> KashbotConfig:
    url = f", url: '{stream_url}'" if stream_url else ""
    text = f"""
venue: {{mode: paper, sim: {{key_tier: developer}}}}
sources:
  poller: {{markets_interval_s: 5, predictions_interval_s: 0, quotes_interval_s: 0}}
  webhook: {{port: 0}}
  stream: {{heartbeat_timeout_s: 3, backoff_initial_s: 0.05, backoff_max_s: 0.2{url}}}
store: {{path: {tmp_path / "ops" / "o.sqlite"}}}
logging: {{format: json}}
status: {{enabled: false}}
control: {{port: 0}}
"""
    return parse_config(text, "ops.yaml", {})


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=5) as handle:
        yield handle


async def test_control_token_status_and_reprs(sim: SimHandle, tmp_path: Path) -> None:
    token_path = tmp_path / "ops" / "control.token"
    async with Daemon(cfg_for(tmp_path), sim=sim, control_port=0) as d:
        assert d.control is not None and d.stream is not None
        token = token_path.read_text()
        assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.control.url}/status") as resp:
                assert resp.status == 401
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(f"{d.control.url}/status", headers=auth) as resp:
                body = await resp.json()
        assert resp.status == 200 and body["held_trades"] == [] and body["state"] == "ACTIVE"
        assert d.stream._api_key == d.access.api_key  # the sim serves REST and stream: same host

        secrets = [d.access.api_key, token, *d.access.webhook_secrets]
        assert len(secrets) >= 3
        objects = {k: v for k, v in vars(d).items() if not isinstance(v, str)}  # not the values
        # the sources and endpoints are held by d.sources / d.endpoints (checked too, above)
        objects.update(stream=d.stream, receiver=d.receiver, control=d.control)
        assert {"access", "client", "stream", "receiver", "control", "cfg"} <= objects.keys()
        for name, obj in objects.items():
            text = f"{obj!r} {obj!s}"
            assert not any(s in text for s in secrets), name
    assert not token_path.exists()


async def test_stream_on_another_host_gets_no_key(sim: SimHandle, tmp_path: Path) -> None:
    other = sim.stream_url.replace("127.0.0.1", "localhost")
    async with Daemon(cfg_for(tmp_path, other), sim=sim, control_port=0) as d:
        assert d.stream is not None and d.stream._api_key is None
