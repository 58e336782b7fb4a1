"""A second daemon whose control (or metrics) port is taken refuses to start (issue 15): it used
to log a warning and trade on with no kill switch and no metrics. Now startup stops before any
order with exit 2 and a message naming the port and the process holding it."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from daemon_cfg import daemon_cfg

from kashbot.app.daemon import Daemon
from kashbot.app.errors import DaemonError
from kashbot.app.run import run_daemon
from kashbot.obs.logging import configure
from kashbot.sim.embedded import SimHandle, run_sim

pytestmark = pytest.mark.timeout(90)
POLLER = {"markets_interval_s": 5, "predictions_interval_s": 0, "quotes_interval_s": 5}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with run_sim(seed=3) as handle:
        yield handle


async def test_taken_control_port_stops_startup_before_any_order(
    sim: SimHandle, taken: int, tmp_path: Path
) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    cfg = daemon_cfg(tmp_path / "a.sqlite", poller=POLLER, control={"port": taken})
    with pytest.raises(DaemonError) as err:
        async with Daemon(cfg, sim=sim):
            pytest.fail("the daemon started without its control endpoint")
    text = str(err.value)
    assert f"control.port: cannot listen on 127.0.0.1:{taken}" in text
    assert f"held by pid {os.getpid()} (" in text  # this test process holds it
    key = sim.key("developer")
    assert not [t for t in sim.venue.trades.values() if t.key_id == key.key_id]
    assert not cfg.control_token_path().exists()  # the other daemon's token is left alone


async def test_taken_metrics_port_stops_startup(sim: SimHandle, taken: int, tmp_path: Path) -> None:
    configure(level="warning", fmt="json", stream=io.StringIO())
    cfg = daemon_cfg(tmp_path / "b.sqlite", poller=POLLER, metrics={"enabled": True, "port": taken})
    with pytest.raises(DaemonError, match=rf"metrics\.port: cannot listen on 127\.0\.0\.1:{taken}"):
        async with Daemon(cfg, sim=sim):
            pytest.fail("the daemon started without its metrics endpoint")


def test_kashbot_run_exits_2_naming_the_port(
    taken: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = daemon_cfg(tmp_path / "c.sqlite", poller=POLLER, control={"port": taken})
    assert run_daemon(cfg, duration=30, status=False) == 2
    err = capsys.readouterr().err
    assert f"kashbot run: control.port: cannot listen on 127.0.0.1:{taken}" in err
    assert "held by pid" in err and "kashbot run summary" not in err
