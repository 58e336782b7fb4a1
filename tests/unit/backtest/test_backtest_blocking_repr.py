"""``run_backtest`` (the blocking form) never formats its result's repr.

Python 3.11's ``asyncio.run`` formats ``repr(main task)`` on the way out (restoring the SIGINT
handler), and a finished task's repr includes its result's: for a month-long backtest's
``Report`` that string was the whole run's peak memory.
"""

from __future__ import annotations

from kashbot.backtest.runner import _blocking


class NoRepr:
    calls = 0

    def __repr__(self) -> str:
        NoRepr.calls += 1  # reprlib would swallow an exception raised here
        return "NoRepr()"


async def _make(n: int) -> NoRepr:
    assert n == 1
    return NoRepr()


def test_blocking_returns_the_result_without_its_repr() -> None:
    run = _blocking(_make, "make")
    NoRepr.calls = 0
    assert isinstance(run(1), NoRepr)
    assert NoRepr.calls == 0
    assert run.__name__ == "make"
