"""What startup refuses is one ``file:line: key: message`` line in USDC (no traceback), and the
daemon's objects never show a secret in their repr."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr

from kashbot.app.control import ControlServer
from kashbot.app.daemon import Daemon
from kashbot.app.run import run_daemon
from kashbot.app.venue_access import VenueAccess
from kashbot.client import KashClient
from kashbot.clock import WallClock
from kashbot.config import KashbotConfig, parse_config
from kashbot.sources.stream import StreamSource

KEY = "kash_live_" + "Q7w8E9r0" * 4
SECRET = "whsec_" + "s3cr3t" * 5
TOKEN = "ctl-" + "t" * 40


@pytest.fixture(autouse=True)
def _logging_reset() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # run_daemon pointed logging at this test's captured stderr


def live_cfg(tmp_path: Path) -> KashbotConfig:
    text = f"""venue:
  mode: live
  api_key: ${{K}}
  base_url: http://127.0.0.1:9/v1
account:
  tier: free
risk:
  per_trade_cap_usdc: 400
sources:
  webhook: {{enabled: false}}
  stream: {{enabled: false}}
  poller: {{enabled: false}}
markets: [m1]
store: {{path: {tmp_path / "s.sqlite"}}}
status: {{enabled: false}}
control: {{enabled: false}}
"""
    return parse_config(text, "live.yaml", {"K": KEY})


def with_risk(cfg: KashbotConfig, **risk: object) -> KashbotConfig:
    """A value changed behind ``config check``'s back (what only startup can still see)."""
    return cfg.model_copy(update={"risk": cfg.risk.model_copy(update=risk)})


def test_cap_above_tier_at_startup_is_one_line_in_usdc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = with_risk(live_cfg(tmp_path), per_trade_cap_usdc=Decimal(600))
    assert run_daemon(cfg, duration=0.1, status=False) == 2
    err = capsys.readouterr().err
    assert (
        "kashbot run: live.yaml:8: risk.per_trade_cap_usdc: 600 USDC is above the free tier's "
        "500 USDC" in err
    )
    assert "Traceback" not in err and "600000000" not in err
    assert not (tmp_path / "s.sqlite").exists()  # refused before any I/O


def test_money_error_at_startup_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = with_risk(live_cfg(tmp_path), per_trade_cap_usdc=Decimal("1.0000001"))
    assert run_daemon(cfg, duration=0.1, status=False) == 2
    err = capsys.readouterr().err
    assert "live.yaml:8: risk.per_trade_cap_usdc: USDC amount has more than 6 decimals" in err
    assert "Traceback" not in err


def test_malformed_key_at_startup_is_named_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = live_cfg(tmp_path)
    bad_key = "kash_live_tooShortToBeAKey"
    venue = good.venue.model_copy(update={"api_key": SecretStr(bad_key)})
    cfg = good.model_copy(update={"venue": venue})
    assert run_daemon(cfg, duration=0.1, status=False) == 2
    err = capsys.readouterr().err
    assert "kashbot run: live.yaml:3: venue.api_key: the API key is malformed" in err
    assert bad_key not in err and "Traceback" not in err


async def test_reprs_hide_every_secret(tmp_path: Path) -> None:
    cfg = live_cfg(tmp_path)
    access = VenueAccess(
        api_key=KEY,
        base_url="http://127.0.0.1:9/v1",
        tier="free",
        user_id="u",
        webhook_secrets=[SECRET],
        stream_url="ws://127.0.0.1:9/v1/stream",
    )
    daemon = Daemon(cfg)
    async with KashClient(KEY, "http://127.0.0.1:9/v1") as client:
        objects: list[object] = [
            access,
            cfg,
            cfg.venue,
            daemon,
            client,
            StreamSource("ws://127.0.0.1:9/s", KEY, ["m1"], WallClock()),
            ControlServer(halt=lambda r: None, token=TOKEN),
        ]
        for obj in objects:
            text = f"{obj!r} {obj!s}"
            for secret in (KEY, SECRET, TOKEN, daemon._control_token):
                assert secret not in text, type(obj).__name__
    assert "tier='free'" in repr(access)  # the rest is still there to debug with
