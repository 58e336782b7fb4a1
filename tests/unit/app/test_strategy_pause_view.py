"""What the operator sees of a paused strategy: the alert, the gauge, the status lines, and the
control endpoint's ``POST /strategy/<id>/resume`` (404 unknown, 409 not paused, 401 no token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from kashbot.alerts.config import AlertChannelConfig
from kashbot.alerts.rules import strategy_paused_alert
from kashbot.app.control import ControlServer
from kashbot.app.status_text import status_text
from kashbot.obs.readings import Readings, reading_metrics

TOKEN = "tok-" + "y" * 40
JSON = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def test_the_alert_names_the_strategy_the_error_and_the_way_back() -> None:
    first = strategy_paused_alert("imm", 20, "ZeroDivisionError: division by zero", 1)
    assert (first.event, first.level) == ("strategy_paused", "error")
    assert first.title == "kashbot strategy imm paused"
    assert "20 times in a row" in first.body and "ZeroDivisionError" in first.body
    assert "kashbot strategy resume imm" in first.body
    again = strategy_paused_alert("imm", 20, "ZeroDivisionError: division by zero", 2)
    assert again.key != first.key  # paused again after a resume: not deduped away
    assert len(strategy_paused_alert("imm", 20, "x" * 5_000, 1).body) < 600
    channel = AlertChannelConfig(url_env="X", events=["strategy_paused"])
    assert channel.events == ["strategy_paused"]


def test_the_gauge_is_one_per_strategy_one_while_paused() -> None:
    r = Readings("ACTIVE", True, 0, 0, 0, 0, 0, 0, strategy_paused={"a": True, "b": False})
    [fam] = [m for m in reading_metrics(r) if m.name == "kashbot_strategy_paused"]
    assert {s.labels["strategy"]: s.value for s in fam.samples} == {"a": 1.0, "b": 0.0}


def entry(total: int, in_row: int, paused: bool, last: str | None) -> dict[str, Any]:
    return {
        "total": total,
        "by_event_type": {},
        "in_row": in_row,
        "paused": paused,
        "last_error": last,
    }


def test_status_lists_strategies_that_raised_and_how_to_resume() -> None:
    doc = {
        "state": "ACTIVE",
        "strategy_errors": {
            "quiet": entry(0, 0, False, None),
            "imm": entry(25, 20, True, "KeyError: 'm1'"),
            "fv": entry(2, 0, False, "ValueError: x"),
        },
    }
    lines = status_text(doc).splitlines()
    at = lines.index("strategy errors")
    assert lines[at + 1 : at + 4] == [
        "  fv: running, 2 exceptions (0 in a row), last: ValueError: x",
        "  imm: PAUSED, 25 exceptions (20 in a row), last: KeyError: 'm1'",
        "  fix it, then resume with: kashbot strategy resume ID [CONFIG]",
    ]
    assert "quiet" not in status_text(doc)
    assert "strategy errors" not in status_text(
        {"strategy_errors": {"q": entry(0, 0, False, None)}}
    )


class Paused:
    def __init__(self) -> None:
        self.paused = {"imm": "KeyError: 'm1'"}
        self.running = {"imm", "fv"}

    def resume(self, sid: str) -> str:
        if sid not in self.running:
            raise LookupError(f"no strategy {sid!r} in this daemon")
        if sid not in self.paused:
            raise ValueError(f"strategy {sid!r} is not paused")
        return self.paused.pop(sid)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Paused, ControlServer]]:
    rig = Paused()
    server = ControlServer(resume_strategy=rig.resume, token=TOKEN, port=0)
    await server.start()
    yield rig, server
    await server.stop()


async def post(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, headers=headers, data=b'{"reason": "fixed"}') as resp,
    ):
        return resp.status, await resp.json()


async def test_resume_endpoint(served: tuple[Paused, ControlServer]) -> None:
    rig, server = served
    no_token = {"Content-Type": "application/json"}
    assert (await post(f"{server.url}/strategy/imm/resume", no_token))[0] == 401
    assert rig.paused == {"imm": "KeyError: 'm1'"}
    status, body = await post(f"{server.url}/strategy/imm/resume", JSON)
    assert status == 200 and body["paused_by"] == "KeyError: 'm1'" and rig.paused == {}
    status, body = await post(f"{server.url}/strategy/imm/resume", JSON)
    assert status == 409 and "not paused" in body["error"]
    status, body = await post(f"{server.url}/strategy/nope/resume", JSON)
    assert status == 404 and "no strategy 'nope'" in body["error"]


def test_resume_needs_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        ControlServer(resume_strategy=lambda sid: "")


def test_a_secret_cut_by_the_alerts_length_limit_is_still_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kashbot.obs import logging as obs_logging

    secret = "s3cr3t-" + "q" * 30
    monkeypatch.setattr(obs_logging, "_registered", {secret})
    error = "x" * 280 + secret  # the 300-character cut falls inside the secret
    alert = strategy_paused_alert("imm", 20, error, 1)
    assert "s3cr3t-" not in alert.body and "qqqqqqqqqq" not in alert.body
