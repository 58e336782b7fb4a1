"""The alert service's own loops (unknown-outcome watcher, daily summary) survive a failing round:
logged, counted, retried after a back-off; the next round goes out and stop() does not raise."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from kashbot.alerts import service
from kashbot.alerts.config import AlertsConfig
from kashbot.alerts.dispatch import AlertDispatcher, Channel
from kashbot.alerts.rules import Alert, next_daily
from kashbot.alerts.service import AlertService
from kashbot.retry import Backoff

WAIT_S = 30.0  # generous: a loaded machine


class Flaky:
    """Raises on its first ``fail`` calls, then answers ``value``."""

    def __init__(self, fail: int, value: Any) -> None:
        self.fail, self.value, self.calls = fail, value, 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError(f"boom {self.calls}")
        return self.value


class Recorder:
    """A channel's blocking sender (runs on the dispatcher's threads) that wakes the test."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()

    def __call__(self, alert: Alert) -> bool:
        self.sent.append(alert)
        self.loop.call_soon_threadsafe(self.changed.set)
        return True

    async def first(self, event: str) -> Alert:
        async with asyncio.timeout(WAIT_S):
            while not any(a.event == event for a in self.sent):
                self.changed.clear()
                await self.changed.wait()
        return next(a for a in self.sent if a.event == event)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "LOOP_BACKOFF", Backoff(0.01, 0.05), raising=False)


async def test_watcher_survives_a_failing_round() -> None:
    rec = Recorder()
    d = AlertDispatcher([Channel("c", rec)])
    unknown = Flaky(2, ["i1"])
    cfg = AlertsConfig(watch_interval_s=0.01, daily_summary_utc=None)
    svc = AlertService(cfg, d, status=dict, unknown_intents=unknown)
    svc.start()
    alert = await rec.first("outcome_unknown")
    assert "i1" in alert.body
    assert svc.errors["watch"] == 2
    await svc.stop()  # clean: nothing re-raised


async def test_daily_summary_survives_a_failing_status() -> None:
    rec = Recorder()
    d = AlertDispatcher([Channel("c", rec)])
    at = next_daily(1_800_000_000.0, "12:00")
    start = time.monotonic()

    def wall() -> float:  # 50 ms before the summary is due, then real time
        return at - 0.05 + (time.monotonic() - start)

    status = Flaky(1, {"state": "ACTIVE", "fills": 3})
    cfg = AlertsConfig(watch_interval_s=60, daily_summary_utc="12:00")
    svc = AlertService(cfg, d, status=status, unknown_intents=list, wall=wall)
    svc.start()
    summary = await rec.first("daily_summary")
    assert "state ACTIVE" in summary.body and "fills 3" in summary.body
    assert svc.errors["summary"] == 1 and status.calls == 2
    await svc.stop()


async def test_stop_logs_instead_of_raising_what_a_task_died_of() -> None:
    d = AlertDispatcher([])
    svc = AlertService(AlertsConfig(daily_summary_utc=None), d, status=dict, unknown_intents=list)
    svc.start()

    async def dies() -> None:
        raise RuntimeError("a bug")

    svc._tasks.append(asyncio.create_task(dies(), name="alerts-extra"))
    await asyncio.sleep(0)
    await svc.stop()
    assert svc.errors["alerts-extra"] == 1
