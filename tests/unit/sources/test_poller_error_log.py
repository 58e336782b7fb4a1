"""``poll_failed`` says what failed (issue 15): a network error has no code or status, so the
line used to carry nothing about the error. Now: its type and text (code, status, the venue's
message, request id); the API key never appears."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from kashbot.client.error_base import KashNetworkError
from kashbot.client.errors import KashError
from kashbot.client.models import Market, Page, Prediction, Quote
from kashbot.clock import SimClock
from kashbot.sources.poller import PollerConfig, PollerSource


class Failing:
    rate_limit = None

    def __init__(self, error: KashError) -> None:
        self.error = error

    async def get_market(self, market_id: str) -> Market:
        raise self.error

    async def list_markets(
        self, status: Any = None, limit: Any = None, cursor: Any = None
    ) -> Page[Market]:
        raise AssertionError("not used")

    async def list_predictions(
        self, market_id: str, *, limit: int | None = None
    ) -> Page[Prediction]:
        raise AssertionError("not used")

    async def get_quote(
        self, market_id: str, outcome_index: int, action: Any, amount: int
    ) -> Quote:
        raise AssertionError("not used")


async def failed_lines(error: KashError) -> list[dict[str, Any]]:
    clock = SimClock(0.0)
    poller = PollerSource(
        Failing(error), ["m1"], clock, PollerConfig(predictions_interval_s=0, quotes_interval_s=0)
    )
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(poller.run(lambda e: None))
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return [e for e in logs if e["event"] == "poll_failed"]


async def test_a_network_error_is_named() -> None:
    [line] = await failed_lines(KashNetworkError("Cannot connect to host 127.0.0.1:1"))
    assert line["log_level"] == "warning" and line["market_id"] == "m1"
    assert line["error_type"] == "KashNetworkError"
    assert "Cannot connect to host 127.0.0.1:1" in line["error"]


async def test_a_venue_error_carries_code_status_and_message() -> None:
    err = KashError("market is gone", code="MARKET_NOT_FOUND", status=404, request_id="req-1")
    [line] = await failed_lines(err)
    assert (line["code"], line["status"], line["error_type"]) == (
        "MARKET_NOT_FOUND",
        404,
        "KashError",
    )
    assert "market is gone" in line["error"] and "req-1" in line["error"]
