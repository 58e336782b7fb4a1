"""Fuzz the webhook receiver over HTTP (issue 13): arbitrary headers and bodies never produce a
5xx or a traceback, and no event is processed unless it carries a valid signature."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from fuzz_http import BODIES, FUZZ, HEADER_TEXT, JSON_VALUES, NUMBERISH, watch_logs
from hypothesis import given
from hypothesis import strategies as st

from kashbot.client.webhooks import WebhookEvent, sign
from kashbot.clock import SimClock
from kashbot.sources.webhook import MemorySeenEvents, WebhookReceiver

SECRET = "whsec_fuzz_secret_value_0123456789"
NOW_MS = 1_767_225_600_000


@dataclass
class Rig:
    runner: asyncio.Runner
    rx: WebhookReceiver
    session: aiohttp.ClientSession
    processed: list[WebhookEvent] = field(default_factory=list)
    signed_ids: set[str] = field(default_factory=set)

    def post(self, body: bytes, headers: dict[str, str]) -> int:
        async def go() -> int:
            async with self.session.post(self.rx.url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        status = self.runner.run(go())
        self.runner.run(asyncio.sleep(0))  # let the worker take what was accepted
        return status


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with asyncio.Runner() as runner:
        processed: list[WebhookEvent] = []

        async def handler(ev: WebhookEvent) -> None:
            processed.append(ev)

        rx = WebhookReceiver(
            secrets=[SECRET],
            seen=MemorySeenEvents(),
            handler=handler,
            clock=SimClock(NOW_MS / 1000),
            max_body_bytes=4096,
        )
        task = runner.run(_start(rx))
        session = runner.run(_session())
        try:
            yield Rig(runner, rx, session, processed)
        finally:
            runner.run(session.close())
            task.cancel()
            runner.run(asyncio.sleep(0.01))


async def _start(rx: WebhookReceiver) -> asyncio.Task[None]:
    await rx.start()  # run() finds it started
    return asyncio.create_task(rx.run(lambda e: None))


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))


def _check(rig: Rig, status: int, watch: Any) -> None:
    assert status < 500, status
    assert watch.tracebacks() == []
    unsigned = [e.id for e in rig.processed if e.id not in rig.signed_ids]
    assert unsigned == [], "an event without a valid signature was processed"


SIG_HEADERS = st.one_of(
    NUMBERISH.map(lambda t: f"t={t},v1={'a' * 64}"),
    st.tuples(NUMBERISH, HEADER_TEXT).map(lambda p: f"t={p[0]},v1={p[1]}"),
    HEADER_TEXT,
    st.lists(HEADER_TEXT, max_size=5).map(",".join),
)


@FUZZ
@given(
    body=BODIES,
    sig=SIG_HEADERS,
    extra=st.dictionaries(
        st.sampled_from(["X-Kash-Event-Id", "Content-Length-X", "X-Foo", "Content-Type"]),
        HEADER_TEXT,
        max_size=3,
    ),
)
def test_unsigned_or_forged_deliveries_are_refused_without_5xx(
    rig: Rig, body: bytes, sig: str, extra: dict[str, str]
) -> None:
    with watch_logs() as watch:
        status = rig.post(body, {**extra, "X-Kash-Signature": sig})
        _check(rig, status, watch)
        assert status in (400, 401, 413)  # nothing forged is ever acked


@FUZZ
@given(payload=JSON_VALUES, kind=st.none() | HEADER_TEXT, event_id=HEADER_TEXT)
def test_validly_signed_arbitrary_json_never_5xx(
    rig: Rig, payload: object, kind: str | None, event_id: str
) -> None:
    """Authentic but arbitrary bodies: 2xx (processed or ignored) or 400, never a 5xx."""
    if isinstance(payload, dict) and kind is not None:
        payload = {**payload, "type": kind, "id": event_id}
    raw = json.dumps(payload).encode()
    rig.signed_ids.add(event_id)
    with watch_logs() as watch:
        status = rig.post(raw, {"X-Kash-Signature": sign(SECRET, raw, NOW_MS)})
        _check(rig, status, watch)
        assert status in (200, 400, 413)
