"""Webhook receiver: 401 forged/stale, 400 malformed, 413 too large, duplicates acked once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from kashbot.client.webhooks import WebhookEvent, sign, validate_event
from kashbot.clock import SimClock
from kashbot.sources.webhook import MemorySeenEvents, WebhookReceiver, route_to

SECRET = "whsec_current_secret_value_123"
OLD = "whsec_previous_secret_value_456"
NOW_MS = 1_767_225_600_000
# Every request has a deadline well inside pytest-timeout, so a wedged receiver fails a test
# with a message instead of hanging it (aiohttp's own default is 300 s).
CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=10)


def body(event_id: str = "evt_1", status: str = "completed") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": f"trade.{status}",
            "apiVersion": "2026-04-29",
            "createdAt": "2026-01-01T00:00:00Z",
            "data": {
                "tradeId": "t-1",
                "marketId": "m-1",
                "outcomeIndex": 0,
                "amount": "10",
                "side": "buy",
                "status": status,
                "metadata": {"kb_intent": "i-1"},
                "tokensOut": "1000",
            },
        }
    ).encode()


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait for ``condition`` (the receiver's worker runs on the same loop), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.001)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[WebhookReceiver, list[WebhookEvent]]]:
    got: list[WebhookEvent] = []

    async def handler(ev: WebhookEvent) -> None:
        got.append(ev)

    rx = WebhookReceiver(
        secrets=[SECRET, OLD],
        seen=MemorySeenEvents(),
        handler=handler,
        clock=SimClock(NOW_MS / 1000),
        max_body_bytes=2048,
    )
    task = asyncio.create_task(rx.run(lambda e: None))
    await until(lambda: rx._site.runner is not None)
    yield rx, got
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def post(rx: WebhookReceiver, data: bytes, header: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Kash-Signature"] = header
    async with (
        aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as s,
        s.post(rx.url, data=data, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_valid_delivery_is_processed_once_and_duplicates_acked(receiver: Any) -> None:
    rx, got = receiver
    b = body()
    assert (await post(rx, b, sign(SECRET, b, NOW_MS)))[0] == 200
    status, payload = await post(rx, b, sign(SECRET, b, NOW_MS + 1000))  # a retry
    assert status == 200 and payload["duplicate"] is True
    await until(lambda: bool(got) and rx._queue.empty())
    assert [e.id for e in got] == ["evt_1"]  # the retry was answered without queueing a second
    assert got[0].data.tokens_out == 1000
    assert rx.stats.accepted == 1 and rx.stats.duplicates == 1


async def test_previous_secret_accepted_during_rotation(receiver: Any) -> None:
    rx, _ = receiver
    b = body("evt_2")
    assert (await post(rx, b, sign(OLD, b, NOW_MS)))[0] == 200


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "malformed"),
        ("t=abc,v1=00", "malformed"),
        ("forged", "mismatch"),
        ("stale", "stale"),
    ],
)
async def test_bad_signatures_get_401(receiver: Any, header: str | None, reason: str) -> None:
    rx, got = receiver
    b = body("evt_3")
    if header == "forged":
        header = sign("whsec_attacker_secret_0000", b, NOW_MS)
    elif header == "stale":
        header = sign(SECRET, b, NOW_MS - 301_000)
    status, payload = await post(rx, b, header)
    assert (status, payload["reason"]) == (401, reason)
    assert got == []


async def test_signature_is_checked_on_raw_bytes(receiver: Any) -> None:
    rx, _ = receiver
    b = body("evt_4")
    header = sign(SECRET, b, NOW_MS)
    reserialised = json.dumps(json.loads(b), indent=2).encode()
    assert (await post(rx, reserialised, header))[0] == 401


async def test_malformed_body_with_valid_signature_gets_400(receiver: Any) -> None:
    rx, _ = receiver
    b = b'{"id": "evt_5", "type": "trade.completed"}'
    assert (await post(rx, b, sign(SECRET, b, NOW_MS)))[0] == 400
    b = b"not json"
    assert (await post(rx, b, sign(SECRET, b, NOW_MS)))[0] == 400


async def test_oversized_body_gets_413(receiver: Any) -> None:
    rx, _ = receiver
    b = b"{" + b" " * 5000 + b"}"
    assert (await post(rx, b, sign(SECRET, b, NOW_MS)))[0] == 413
    assert rx.stats.too_large == 1


async def test_route_to_calls_the_router_signature() -> None:
    calls: list[tuple[Any, ...]] = []

    async def on_trade_update(trade_id: str, status: str, **kw: Any) -> bool:
        calls.append((trade_id, status, kw))
        return True

    await route_to(on_trade_update, validate_event(json.loads(body())))
    assert calls == [("t-1", "completed", {"tokens_out": 1000, "error_code": None})]


async def test_route_to_passes_tokens_in_only_when_the_event_has_it() -> None:
    calls: list[dict[str, Any]] = []

    async def on_trade_update(trade_id: str, status: str, **kw: Any) -> bool:
        calls.append(kw)
        return True

    event = json.loads(body())
    event["data"].update(side="sell", tokensOut=None, tokensIn="4000")
    await route_to(on_trade_update, validate_event(event))
    assert calls == [{"tokens_out": None, "error_code": None, "tokens_in": 4000}]


class GatedSeen(MemorySeenEvents):
    """Dedupe whose answer for ``slow_id`` waits until the test opens the gate."""

    def __init__(self, slow_id: str) -> None:
        super().__init__()
        self.slow_id = slow_id
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.recorded: list[str] = []

    async def seen(self, event_id: str) -> bool:
        if event_id == self.slow_id:
            self.entered.set()
            await self.gate.wait()
        self.recorded.append(event_id)
        return await super().seen(event_id)


async def test_full_queue_answers_503_and_never_marks_the_event_seen() -> None:
    """A slot is held across the dedupe await: an event that finds no room is refused (Kash
    retries 5xx) and not recorded, so its redelivery is processed; none is acked and dropped."""
    got: list[str] = []
    busy = asyncio.Event()
    release = asyncio.Event()

    async def handler(ev: WebhookEvent) -> None:
        got.append(ev.id)
        busy.set()
        await release.wait()

    seen = GatedSeen("evt_b")
    rx = WebhookReceiver(
        secrets=[SECRET],
        seen=seen,
        handler=handler,
        clock=SimClock(NOW_MS / 1000),
        queue_size=1,
    )
    task = asyncio.create_task(rx.run(lambda e: None))
    slow: asyncio.Task[tuple[int, Any]] | None = None
    try:
        await until(lambda: rx._site.runner is not None)
        a, b, c = body("evt_a"), body("evt_b"), body("evt_c")
        assert (await post(rx, a, sign(SECRET, a, NOW_MS)))[0] == 200
        async with asyncio.timeout(5):  # the worker holds evt_a; the queue is empty
            await busy.wait()
        slow = asyncio.create_task(post(rx, b, sign(SECRET, b, NOW_MS)))
        async with asyncio.timeout(5):  # evt_b holds the only slot
            await seen.entered.wait()
        headers = {"Content-Type": "application/json", "X-Kash-Signature": sign(SECRET, c, NOW_MS)}
        async with (
            aiohttp.ClientSession(timeout=CLIENT_TIMEOUT) as s,
            s.post(rx.url, data=c, headers=headers) as r,
        ):
            assert r.status == 503
            assert int(r.headers["Retry-After"]) > 0
        assert "evt_c" not in seen.recorded
        seen.gate.set()
        assert (await slow)[0] == 200  # post() has its own deadline
        release.set()
        await until(lambda: got == ["evt_a", "evt_b"])
        assert (await post(rx, c, sign(SECRET, c, NOW_MS + 5_000)))[0] == 200  # the retry
        await until(lambda: got == ["evt_a", "evt_b", "evt_c"])
        assert rx.stats.accepted == 3 and rx.stats.duplicates == 0
    finally:
        seen.gate.set()  # nothing left waiting, so stopping the server does not wait either
        release.set()
        task.cancel()
        if slow is not None:
            slow.cancel()
        await asyncio.gather(task, *([slow] if slow else []), return_exceptions=True)


async def test_stop_does_not_wait_for_a_delivery_stuck_in_the_dedupe_store() -> None:
    """A store that never answers must not wedge shutdown: stop() gives an unanswered delivery
    ``shutdown_timeout_s``, then cancels it (Kash retries it) and frees its slot. Was: aiohttp's
    60 s default, spent twice -- run() took ~121 s to end, the pytest-timeout of the suite."""
    seen = GatedSeen("evt_stuck")  # the gate is never opened

    async def handler(ev: WebhookEvent) -> None:
        raise AssertionError("a delivery that was never answered must not be processed")

    rx = WebhookReceiver(
        secrets=[SECRET],
        seen=seen,
        handler=handler,
        clock=SimClock(NOW_MS / 1000),
        queue_size=1,
        shutdown_timeout_s=0.05,
    )
    task = asyncio.create_task(rx.run(lambda e: None))
    await until(lambda: rx._site.runner is not None)
    b = body("evt_stuck")
    stuck = asyncio.create_task(post(rx, b, sign(SECRET, b, NOW_MS)))
    try:
        async with asyncio.timeout(5):
            await seen.entered.wait()
        assert rx._reserved == 1
        task.cancel()
        async with asyncio.timeout(10):  # far above 2 x 0.05 s, far below 2 x 60 s
            await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and rx._site.runner is None
        assert rx._reserved == 0  # the cancelled delivery released its slot
        async with asyncio.timeout(10):
            (outcome,) = await asyncio.gather(stuck, return_exceptions=True)
        assert isinstance(outcome, aiohttp.ClientError)  # unanswered: Kash will redeliver
        assert seen.recorded == []  # never reached the store's write
    finally:
        seen.gate.set()
        stuck.cancel()
        task.cancel()
        await asyncio.gather(task, stuck, return_exceptions=True)


async def test_the_receiver_prunes_old_dedupe_ids_at_start_and_on_its_timer() -> None:
    import time

    from kashbot.sources.webhook import PRUNE_EVERY_S

    clock = SimClock(NOW_MS / 1000)
    cutoffs: list[float] = []

    async def forget(ts: float) -> int:
        cutoffs.append(ts)
        return 3

    rx = WebhookReceiver(
        secrets=[SECRET],
        seen=MemorySeenEvents(),
        handler=lambda ev: asyncio.sleep(0),
        clock=clock,
        forget_seen_before=forget,
        dedupe_retention_s=7 * 86_400.0,
    )
    task = asyncio.create_task(rx.run(lambda e: None))
    try:
        await until(lambda: len(cutoffs) == 1)
        # seen ids are stamped with wall time (Store.seen), so the cutoff is wall time too
        assert abs(cutoffs[0] - (time.time() - 7 * 86_400.0)) < 60
        clock.advance_to(clock.now() + PRUNE_EVERY_S - 1)
        await asyncio.sleep(0.05)
        assert len(cutoffs) == 1
        clock.advance_to(clock.now() + 1)
        await until(lambda: len(cutoffs) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
