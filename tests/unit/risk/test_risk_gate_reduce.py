"""``kashbot reduce`` while HALTED (issue 15): it used to answer ``{"ok": true}`` and leave the
daemon HALTED. Now the operator's reduce lifts an operator/automatic halt to REDUCING (only sells
pass: the way to unwind without a window where buys pass), and during a venue halt window it is
refused with 409 and the reason (nothing can leave before it ends; REDUCING follows it). The
gate's own reductions (a balance shortfall, the venue's daily cap) never lift a halt."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from kashbot.app.control import ControlServer
from kashbot.clock import SimClock
from kashbot.events import Event, TradingState, TradingStateChanged
from kashbot.risk.gate import RiskGate
from kashbot.risk.limits import Limits

TOKEN = "tok-" + "r" * 40
JSON = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def make() -> tuple[RiskGate, list[Event], SimClock]:
    events: list[Event] = []
    clock = SimClock()
    return RiskGate(Limits.for_tier("free"), clock=clock, emit=events.append), events, clock


def test_operator_reduce_lifts_a_halt_to_reducing() -> None:
    gate, events, _ = make()
    gate.halt("operator kill switch")
    gate.reduce("unwind", operator=True)
    assert gate.state is TradingState.REDUCING and gate.state_reason == "unwind"
    changes = [(e.old, e.new) for e in events if isinstance(e, TradingStateChanged)]
    assert changes[-1] == (TradingState.HALTED, TradingState.REDUCING)  # never via ACTIVE


def test_automatic_reduce_keeps_a_halt() -> None:
    gate, _, _ = make()
    gate.halt("3 consecutive order failures")
    gate.reduce("venue SPENDING_LIMIT_EXCEEDED cap=daily_volume")
    assert gate.state is TradingState.HALTED


def test_operator_reduce_in_a_venue_halt_is_refused_and_follows_it() -> None:
    gate, _, clock = make()
    gate.record_failure("API_TRADE_PROCESSING_HALTED", retry_after=60.0)
    with pytest.raises(ValueError, match=r"venue halted trading .*API_TRADE_PROCESSING_HALTED"):
        gate.reduce("unwind", operator=True)
    assert gate.state is TradingState.HALTED
    clock.advance(61.0)
    assert gate.state is TradingState.REDUCING  # not ACTIVE: the operator asked for reduce


@pytest.fixture
async def served() -> AsyncIterator[tuple[RiskGate, ControlServer]]:
    gate, _, _ = make()
    server = ControlServer(  # wired as kashbot.app.endpoints wires the daemon's gate
        status=lambda: {"state": str(gate.state)},
        halt=gate.halt,
        resume=gate.resume,
        reduce=lambda reason: gate.reduce(reason, operator=True),
        token=TOKEN,
        port=0,
    )
    await server.start()
    yield gate, server
    await server.stop()


async def post(url: str) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, headers=JSON, data=b'{"reason": "unwind"}') as resp,
    ):
        return resp.status, await resp.json()


async def test_reduce_endpoint_while_halted(served: tuple[RiskGate, ControlServer]) -> None:
    gate, server = served
    gate.halt("operator")
    status, body = await post(f"{server.url}/reduce")
    assert (status, body["ok"], gate.state) == (200, True, TradingState.REDUCING)
    gate.record_failure("API_TRADE_PROCESSING_HALTED", retry_after=300.0)
    status, body = await post(f"{server.url}/reduce")
    assert status == 409 and gate.state is TradingState.HALTED
    assert "venue halted trading" in str(body["error"]) and "REDUCING after" in str(body["error"])
