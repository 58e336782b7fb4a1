"""A halted daemon logged a warning per market every few seconds (each strategy intent denied
HALTED). Now the state change is the one warning, the denials it causes are debug lines (still
one per denial), and ``trading_state_reminder`` repeats the news at a low rate (issue 15)."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from kashbot.app.state_reminder import remind_trading_state
from kashbot.clock import SimClock, WallClock
from kashbot.events import OrderIntent, Side
from kashbot.money import USDC_ONE
from kashbot.risk.gate import Denial, Reason, RiskGate
from kashbot.risk.limits import Limits


def intent(n: int, market: str, side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(f"i{n}", "s", market, 0, side, 10 * USDC_ONE)


def test_denials_by_the_state_are_debug_lines() -> None:
    gate = RiskGate(Limits.for_tier("free"), clock=SimClock())
    with structlog.testing.capture_logs() as logs:
        gate.halt("operator")
        for n in range(12):  # what 3 markets' quotes every 5 s for 20 s ask of a strategy
            d = gate.check(intent(n, f"m{n % 3}"))
            assert isinstance(d, Denial) and d.reason is Reason.HALTED
        gate.reduce("unwind", operator=True)
        d = gate.check(intent(99, "m1"))
        assert isinstance(d, Denial) and d.reason is Reason.REDUCING_ONLY
    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert warnings == ["trading_state_changed", "trading_state_changed"]
    denied = [e for e in logs if e["event"] == "risk_denied"]
    assert len(denied) == 13 and {e["log_level"] for e in denied} == {"debug"}
    gate.resume()
    with structlog.testing.capture_logs() as logs:
        gate.check(intent(100, "m1", Side.SELL))
        gate.limits = Limits.for_tier("free", per_trade_cap=1)
        gate.check(intent(101, "m1"))
    assert [(e["event"], e["log_level"], e["reason"]) for e in logs] == [
        ("risk_denied", "warning", "PER_TRADE_CAP")  # other denials still warn
    ]


async def test_reminder_repeats_a_halt_at_its_interval() -> None:
    gate = RiskGate(Limits.for_tier("free"))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(remind_trading_state(gate, WallClock(), interval_s=0.02))
        gate.halt("operator: news")
        try:
            async with asyncio.timeout(30):
                for _ in iter(int, 1):  # until two reminders (the timeout is the limit)
                    if sum(e["event"] == "trading_state_reminder" for e in logs) >= 2:
                        break
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    reminders = [e for e in logs if e["event"] == "trading_state_reminder"]
    assert {(e["state"], e["reason"], e["log_level"]) for e in reminders} == {
        ("HALTED", "operator: news", "warning")
    }
