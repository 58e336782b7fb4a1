"""The alert dispatcher: deduplication, drop-oldest queue, per-channel rate and filters, and
senders that fail, raise or hang never stop it (nor wait the caller); what is sent is masked
like a log line."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from kashbot.alerts.dispatch import WORKERS, AlertDispatcher, Channel
from kashbot.alerts.rules import Alert
from kashbot.obs.logging import register_secret


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def alert(key: str, event: str = "halt", level: str = "error") -> Alert:
    return Alert(event, level, key, f"title {key}", f"body {key}")  # type: ignore[arg-type]


def recorder(into: list[str], ok: bool = True) -> Callable[[Alert], bool]:
    def send(a: Alert) -> bool:
        into.append(a.key)
        return ok

    return send


async def drain(d: AlertDispatcher) -> None:
    task = asyncio.create_task(d.run())
    assert await d.flush(30)
    task.cancel()
    d.close()


async def test_same_key_within_the_window_is_sent_once() -> None:
    clock, sent = Clock(), []
    d = AlertDispatcher([Channel("c", recorder(sent))], dedup_window_s=60, clock=clock)
    assert d.submit(alert("halt:x"))
    assert not d.submit(alert("halt:x"))
    assert d.submit(alert("halt:y"))  # another key
    clock.t += 61
    assert d.submit(alert("halt:x"))  # the window has passed
    await drain(d)
    assert sent == ["halt:x", "halt:y", "halt:x"]
    assert d.stats["suppressed"] == 1 and d.stats["sent"] == 3


async def test_a_full_queue_drops_the_oldest() -> None:
    sent: list[str] = []
    d = AlertDispatcher([Channel("c", recorder(sent))], queue_size=2)
    for key in ("a", "b", "c"):
        d.submit(alert(key))
    assert d.pending == 2 and d.stats["dropped"] == 1
    await drain(d)
    assert sent == ["b", "c"]


async def test_rate_limit_and_filters_per_channel() -> None:
    clock, fast, errors_only, halts_only = Clock(), [], [], []
    d = AlertDispatcher(
        [
            Channel("fast", recorder(fast)),
            Channel("errors", recorder(errors_only), min_level="error"),
            Channel("halts", recorder(halts_only), events=frozenset({"halt"})),
        ],
        max_per_minute=2,
        clock=clock,
    )
    d.submit(alert("1", "halt", "error"))
    d.submit(alert("2", "redemption", "info"))
    d.submit(alert("3", "halt", "error"))
    await drain(d)
    assert fast == ["1", "2"] and d.stats["rate_limited"] == 1  # the third within 60 s
    assert errors_only == ["1", "3"] and halts_only == ["1", "3"]


async def test_failing_and_raising_senders_are_counted_not_raised() -> None:
    def boom(a: Alert) -> bool:
        raise RuntimeError("plugin bug")

    after: list[str] = []
    d = AlertDispatcher([Channel("bad", boom), Channel("no", recorder([], ok=False))])
    d.submit(alert("a"))
    await drain(d)
    assert d.stats["failed"] == 2 and d.stats["sent"] == 0
    d2 = AlertDispatcher([Channel("ok", recorder(after))])
    d2.submit(alert("b"))
    await drain(d2)
    assert after == ["b"]


async def test_a_hanging_sender_is_given_up_and_never_blocks_submit() -> None:
    release = threading.Event()
    started: list[str] = []

    def hang(a: Alert) -> bool:
        started.append(a.key)
        release.wait(60)
        return True

    d = AlertDispatcher([Channel("slow", hang)], send_timeout_s=0.2, dedup_window_s=0)
    task = asyncio.create_task(d.run())
    try:
        for i in range(WORKERS + 2):
            d.submit(alert(f"k{i}"))  # returns at once, whatever the sender does
        for _ in range(600):
            if d.pending == 0 and d.stats["timed_out"] + d.stats["failed"] >= WORKERS + 2:
                break
            await asyncio.sleep(0.05)
        # two sends hang on the two threads; the rest are refused while they do
        assert started == ["k0", "k1"]
        assert d.stats["timed_out"] == WORKERS and d.stats["failed"] == 2
    finally:
        release.set()
        task.cancel()
        d.close()


async def test_a_halt_after_a_resume_is_sent_again_within_the_window() -> None:
    """Halt, resume, the same halt again: the operator's last message must say halted."""
    from kashbot.alerts.rules import alert_for
    from kashbot.events import TradingState, TradingStateChanged

    def change(old: TradingState, new: TradingState, reason: str) -> Alert:
        a = alert_for(TradingStateChanged(ts=1.0, old=old, new=new, reason=reason))
        assert a is not None
        return a

    clock, sent = Clock(), []
    d = AlertDispatcher([Channel("c", recorder(sent))], dedup_window_s=300, clock=clock)
    halt = change(TradingState.ACTIVE, TradingState.HALTED, "venue error TRADING_HALTED")
    assert d.submit(halt)
    assert not d.submit(halt)  # the same halt twice in a row is one message
    clock.t += 61
    assert d.submit(change(TradingState.HALTED, TradingState.ACTIVE, "retry-after passed"))
    clock.t += 5
    assert d.submit(halt)  # halted again: news, though within the window
    await drain(d)
    assert len(sent) == 3 and sent[0] == sent[2] != sent[1]


async def test_alert_text_is_masked_like_a_log_line() -> None:
    register_secret("hunter2-redis-pass")
    sent: list[Alert] = []
    d = AlertDispatcher([Channel("c", lambda a: sent.append(a) is None)])
    body = "recovery failed: AUTH hunter2-redis-pass refused; key kash_live_abcdefgh1234"
    d.submit(Alert("recovery_failed", "error", "k", "title hunter2-redis-pass", body))
    await drain(d)
    assert len(sent) == 1
    text = sent[0].title + sent[0].body
    assert "hunter2-redis-pass" not in text and "abcdefgh1234" not in text
    assert sent[0].body == "recovery failed: AUTH *** refused; key kash_live_***"
