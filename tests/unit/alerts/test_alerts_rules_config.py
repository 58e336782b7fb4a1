"""What raises an alert (pure rules), the ``alerts:`` section (no literal URL), URL resolution
(env or file, errors that name the field and never show the URL) and the startup-failure alert
sent to a local endpoint."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kashbot.alerts.config import AlertsConfig
from kashbot.alerts.dispatch import AlertDispatcher, Channel
from kashbot.alerts.rules import alert_for, next_daily, summary_alert
from kashbot.alerts.service import AlertService
from kashbot.app.alerting import alert_startup_failure, channel_url
from kashbot.app.errors import DaemonError
from kashbot.config import parse_config
from kashbot.config.loader import ConfigError
from kashbot.events import (
    DataFresh,
    PositionRedeemed,
    RiskDenied,
    StaleData,
    TradingState,
    TradingStateChanged,
)
from kashbot.execution.recovery import RecoveryError


def test_events_to_alerts() -> None:
    halt = alert_for(TradingStateChanged(1.0, TradingState.ACTIVE, TradingState.HALTED, "kill"))
    assert halt is not None
    assert (halt.event, halt.level, halt.key) == ("halt", "error", "state:halt:kill")
    red = alert_for(TradingStateChanged(1.0, TradingState.ACTIVE, TradingState.REDUCING, "x"))
    assert red is not None and red.event == "reduce"
    cap = alert_for(RiskDenied(1.0, "i1", "fv", "m1", "DAILY_CAP", "used 2000 of 2000"))
    assert cap is not None and cap.event == "cap_reached" and "2000" in cap.body
    assert alert_for(RiskDenied(1.0, "i1", "fv", "m1", "PER_TRADE_CAP")) is None
    stale = alert_for(StaleData(1.0, "stream", "m1", 31.0))
    assert stale is not None and stale.key == "stale:stream:m1"
    assert alert_for(DataFresh(1.0, "stream", "m1")) is None
    paid = alert_for(PositionRedeemed(1.0, "m1", 0, 10**18, 1_500_000, "resolved", "r1"))
    assert paid is not None and "1.50 USDC" in paid.body


def test_daily_summary_time_and_text() -> None:
    at = dt.datetime(2026, 12, 5, 13, 0, tzinfo=dt.UTC).timestamp()
    assert next_daily(at, "14:30") == at + 5400
    assert next_daily(at, "13:00") == at + 86400  # strictly after now
    status = {"state": "ACTIVE", "pnl_usdc": {"total": "1.00", "realized": "0.50"}, "fills": 3}
    text = summary_alert(status, "2026-12-05")
    assert text.key == "summary:2026-12-05" and "fills 3" in text.body


def cfg_text(alerts: str) -> str:
    return f"venue: {{mode: paper}}\nalerts:\n{alerts}"


def test_a_literal_url_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(cfg_text("  channels:\n    - url: 'tgram://123:abc/456'\n"), "a.yaml", {})
    assert "a.yaml:4" in str(err.value) and "url" in str(err.value)
    with pytest.raises(ConfigError, match="exactly one of url_env"):
        parse_config(cfg_text("  channels:\n    - {url_env: A, url_file: f}\n"), "a.yaml", {})
    with pytest.raises(ConfigError, match="events"):
        parse_config(cfg_text("  channels:\n    - {url_env: A, events: [hat]}\n"), "a.yaml", {})
    ok = parse_config(cfg_text("  channels:\n    - {url_env: KASH_ALERT_URL}\n"), "a.yaml", {})
    assert ok.alerts.active and not ok.alerts.model_copy(update={"enabled": False}).active


def test_urls_from_env_or_file_errors_name_the_field(tmp_path: Path) -> None:
    cfg = AlertsConfig.model_validate(
        {"channels": [{"url_env": "KASH_ALERT_URL"}, {"url_file": str(tmp_path / "u")}]}
    )
    with pytest.raises(DaemonError, match=r"alerts.channels\[0\].url_env: KASH_ALERT_URL"):
        channel_url(cfg, 0, {})
    with pytest.raises(DaemonError) as err:
        channel_url(cfg, 0, {"KASH_ALERT_URL": "nope://secret-part-123"})
    assert "secret-part-123" not in str(err.value) and "$KASH_ALERT_URL" in str(err.value)
    assert channel_url(cfg, 0, {"KASH_ALERT_URL": "json://127.0.0.1:9/x"}).startswith("json")
    with pytest.raises(DaemonError, match=r"alerts.channels\[1\].url_file: .*u"):
        channel_url(cfg, 1, {})
    (tmp_path / "u").write_text("json://127.0.0.1:9/y\n")
    assert channel_url(cfg, 1, {}) == "json://127.0.0.1:9/y"


def test_unknown_outcomes_alert_once_each() -> None:
    sent: list[str] = []
    d = AlertDispatcher([Channel("c", lambda a: sent.append(a.key) is None)])
    unknown = ["i1"]
    svc = AlertService(AlertsConfig(), d, status=dict, unknown_intents=lambda: unknown)
    svc.check_unknown()
    unknown.append("i2")
    svc.check_unknown()
    svc.check_unknown()
    assert d.stats["queued"] == 2 and d.stats["suppressed"] == 0
    d.close()


async def test_recovery_failure_at_startup_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/h", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("KASH_ALERT_URL", f"json://127.0.0.1:{port}/h")
    cfg = parse_config(cfg_text("  channels:\n    - {url_env: KASH_ALERT_URL}\n"), "a.yaml", {})
    try:
        await alert_startup_failure(cfg, ValueError("not a recovery failure"))
        await alert_startup_failure(cfg, RecoveryError("venue unreachable"))
        await asyncio.sleep(0)
    finally:
        await runner.cleanup()
    assert len(posts) == 1 and "venue unreachable" in posts[0]["message"]
    assert posts[0]["type"] == "failure"
