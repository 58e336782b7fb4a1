"""Webhook receiver against hostile and slow peers (issue 13), over real 127.0.0.1 sockets.

Each case of the issue has its test: a 5,000-digit ``t`` is a 401, an unknown well-signed type
is acked once-logged and counted, slow bodies and slow heads are cut without delaying others,
the concurrency cap and the total deadline answer 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from kashbot.client.webhooks import WebhookEvent, sign
from kashbot.clock import SimClock
from kashbot.inbound import InboundLimits
from kashbot.obs.metrics import DaemonMetrics, Readings
from kashbot.sources.webhook import MemorySeenEvents, WebhookReceiver

SECRET = "whsec_limits_secret_value_123"
NOW_MS = 1_767_225_600_000
FAST = InboundLimits(header_timeout_s=0.3, body_timeout_s=0.3, request_timeout_s=1.0)


def event(event_id: str = "evt_1", kind: str = "trade.completed") -> bytes:
    data = {
        "tradeId": "t-1",
        "marketId": "m-1",
        "outcomeIndex": 0,
        "amount": "10",
        "side": "buy",
        "status": "completed",
        "metadata": {},
    }
    return json.dumps({"id": event_id, "type": kind, "data": data}).encode()


class Rig:
    def __init__(self, rx: WebhookReceiver, got: list[WebhookEvent]) -> None:
        self.rx, self.got = rx, got

    async def post(self, data: bytes, header: str) -> tuple[int, dict[str, Any], Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s,
            s.post(self.rx.url, data=data, headers={"X-Kash-Signature": header}) as r,
        ):
            return r.status, dict(r.headers), await r.json()


async def _rig(
    limits: InboundLimits, seen: Any = None, handler: Callable[..., Awaitable[None]] | None = None
) -> AsyncIterator[Rig]:
    got: list[WebhookEvent] = []

    async def record(ev: WebhookEvent) -> None:
        got.append(ev)

    rx = WebhookReceiver(
        secrets=[SECRET],
        seen=seen or MemorySeenEvents(),
        handler=handler or record,
        clock=SimClock(NOW_MS / 1000),
        limits=limits,
    )
    await rx.start()
    task = asyncio.create_task(rx.run(lambda e: None))
    try:
        yield Rig(rx, got)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async for r in _rig(FAST):
        yield r


async def open_slow(rx: WebhookReceiver, *, head_only: bool = False) -> asyncio.StreamReader:
    """A peer that sends the head (or part of it) and then one body byte at a time, slowly."""
    reader, writer = await asyncio.open_connection(rx.host, rx.port)
    body = event("evt_slow")
    head = (
        f"POST {rx.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Kash-Signature: {sign(SECRET, body, NOW_MS)}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head[:20] if head_only else head + body[:1])
    await writer.drain()

    async def dribble() -> None:
        for i in range(1, 40):  # ~4 s in all: far past every deadline
            await asyncio.sleep(0.1)
            if writer.is_closing():
                return
            try:
                writer.write((head[20:21] if head_only else body[i : i + 1]) or b" ")
                await writer.drain()
            except ConnectionError:
                return

    reader._dribble = asyncio.create_task(dribble())  # type: ignore[attr-defined]
    return reader


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent before closing; fails if it is still open after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.read()  # until EOF
    except ConnectionError:
        return b""
    finally:
        dribble = getattr(reader, "_dribble", None)
        if dribble is not None:
            dribble.cancel()


async def test_5000_digit_t_is_401_not_500(rig: Rig) -> None:
    b = event()
    status, _, payload = await rig.post(b, f"t={'9' * 5000},v1={'a' * 64}")
    assert (status, payload["reason"]) == (401, "malformed")
    status, _, payload = await rig.post(b, f"t=²,v1={sign(SECRET, b, NOW_MS)[-64:]}")
    assert (status, payload["reason"]) == (401, "malformed")
    assert rig.rx.stats.bad_signature == 2 and rig.got == []


async def test_unknown_type_acked_logged_once_counted_not_processed(rig: Rig) -> None:
    with structlog.testing.capture_logs() as logs:
        for i in range(3):
            b = event(f"evt_u{i}", "market.resolved")
            status, _, payload = await rig.post(b, sign(SECRET, b, NOW_MS))
            assert (status, payload) == (200, {"ok": True, "ignored": True})
    b = event("evt_known")
    assert (await rig.post(b, sign(SECRET, b, NOW_MS)))[0] == 200
    await asyncio.sleep(0.05)
    assert [e.id for e in rig.got] == ["evt_known"]
    assert rig.rx.stats.unknown_types == {"market.resolved": 3}
    assert [e["type"] for e in logs if e["event"] == "webhook_unknown_type_ignored"] == [
        "market.resolved"
    ]
    b = event("evt_forged", "market.resolved")  # an unknown type still needs a valid signature
    assert (await rig.post(b, f"t={NOW_MS},v1={'0' * 64}"))[0] == 401

    metrics = DaemonMetrics(
        lambda: Readings("ACTIVE", True, 0, 0, 0, 0, 0, 0, webhook_unknown_types={"x.y": 3})
    )
    samples = {
        (s.name, s.labels.get("type")): s.value
        for fam in text_string_to_metric_families(metrics.exposition().decode())
        for s in fam.samples
    }
    assert samples[("kashbot_webhook_unknown_events_total", "x.y")] == 3


async def test_slow_bodies_are_cut_and_others_are_not_delayed() -> None:
    """Was: 60 of 60 slow-body connections still open after 7 s (no body-read deadline)."""
    limits = InboundLimits(header_timeout_s=3.0, body_timeout_s=3.0, request_timeout_s=5.0)
    async for rig in _rig(limits):
        slow = [await open_slow(rig.rx) for _ in range(20)]
        b = event("evt_fast")
        assert (await rig.post(b, sign(SECRET, b, NOW_MS)))[0] == 200
        # not queued behind the slow peers: answered while every one of them is still waiting
        assert rig.rx.stats.slow == 0 and not any(r.at_eof() for r in slow)
        answers = await asyncio.gather(*(closed_within(r, 15.0) for r in slow))
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0][:60]
        assert rig.rx.stats.slow == 20 and [e.id for e in rig.got] == ["evt_fast"]


async def test_slow_head_is_cut(rig: Rig) -> None:
    slow = [await open_slow(rig.rx, head_only=True) for _ in range(5)]
    idle_reader, _idle_writer = await asyncio.open_connection(rig.rx.host, rig.rx.port)
    answers = await asyncio.gather(*(closed_within(r, 2.0) for r in [*slow, idle_reader]))
    assert answers == [b""] * 6  # aborted: no request, so no answer
    assert rig.rx.guard.timed_out >= 6


class GatedSeen:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.two_in = asyncio.Event()
        self.entered = 0

    async def seen(self, event_id: str) -> bool:
        self.entered += 1
        if self.entered == 2:
            self.two_in.set()
        await self.gate.wait()
        return False


async def test_concurrency_cap_answers_503_with_retry_after() -> None:
    seen = GatedSeen()
    limits = InboundLimits(max_concurrent=2, request_timeout_s=5.0, retry_after_s=7)
    async for rig in _rig(limits, seen=seen):
        held = [
            asyncio.create_task(rig.post(b, sign(SECRET, b, NOW_MS)))
            for b in (event("evt_a"), event("evt_b"))
        ]
        async with asyncio.timeout(5):
            await seen.two_in.wait()
        b = event("evt_c")
        status, headers, _ = await rig.post(b, sign(SECRET, b, NOW_MS))
        assert (status, headers["Retry-After"]) == (503, "7")
        seen.gate.set()
        assert [r[0] for r in await asyncio.gather(*held)] == [200, 200]
        assert rig.rx.guard.refused_busy == 1


async def test_total_deadline_answers_503_and_frees_the_slot() -> None:
    seen = GatedSeen()  # never opened: the dedupe store hangs
    async for rig in _rig(InboundLimits(request_timeout_s=0.3), seen=seen):
        b = event("evt_hang")
        status, headers, _ = await rig.post(b, sign(SECRET, b, NOW_MS))
        assert status == 503 and "Retry-After" in headers
        assert rig.rx._reserved == 0 and rig.got == []


class HangOn:
    """Dedupe that never answers for ids starting ``evt_hang`` and at once for the rest."""

    def __init__(self) -> None:
        self.entered: dict[str, asyncio.Event] = {}

    async def seen(self, event_id: str) -> bool:
        self.entered.setdefault(event_id, asyncio.Event()).set()
        if event_id.startswith("evt_hang"):
            await asyncio.Event().wait()
        return False


async def test_total_deadline_cuts_each_hung_request_while_others_finish() -> None:
    # one sweep timer serves every request: a request that finishes must not take the
    # deadline of an older or a younger hung one with it, and the timer re-arms after a cut
    seen = HangOn()
    async for rig in _rig(InboundLimits(request_timeout_s=0.5), seen=seen):

        def post(event_id: str, r: Rig = rig) -> asyncio.Task[tuple[int, dict[str, Any], Any]]:
            b = event(event_id)
            return asyncio.create_task(r.post(b, sign(SECRET, b, NOW_MS)))

        first = post("evt_hang_1")
        await seen.entered.setdefault("evt_hang_1", asyncio.Event()).wait()
        assert (await post("evt_quick_1"))[0] == 200
        second = post("evt_hang_2")
        await seen.entered.setdefault("evt_hang_2", asyncio.Event()).wait()
        assert (await post("evt_quick_2"))[0] == 200
        assert (await first)[0] == 503
        assert (await second)[0] == 503
        third = post("evt_hang_3")  # after both cuts: the timer is armed again
        assert (await third)[0] == 503
        assert (await post("evt_quick_3"))[0] == 200
        assert rig.rx.guard.timed_out == 3
        assert not rig.rx.guard._deadlines
        assert sorted(e.id for e in rig.got) == ["evt_quick_1", "evt_quick_2", "evt_quick_3"]
