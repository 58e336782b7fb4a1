"""Wire contract, rare response shapes: the client against a scripted peer on 127.0.0.1.

Why a scripted peer and not the simulator: each test here feeds the client a response that
kash-api.md allows (or that a misbehaving peer sends) but the simulator deliberately never
produces -- `Retry-After` as an HTTP-date, `X-RateLimit-Reset` in epoch milliseconds, the version
only in `X-API-Version` (the SDK's name) or a newer version than we pinned, `Deprecation`/`Sunset`
headers, positions without a `pagination` block (the SDK's shape), a cursor that never ends, a
probability JSON number that a float would round. Everything the simulator can produce is tested
against it in test_client_sim_endpoints.py and test_client_sim_resilience.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime

import pytest
from kash_fake_server import (
    MARKET_ID,
    FakeKash,
    RecordingClock,
    Reply,
    market_json,
    meta,
    one,
    page,
    problem,
)

from kashbot.client import KashClient
from kashbot.client.ratelimit import RateLimitState

WAD = 10**18


async def test_retry_after_http_date(
    scripted_server: FakeKash, scripted_kash: KashClient, scripted_clock: RecordingClock
) -> None:
    when = datetime.fromtimestamp(scripted_clock.now() + 7, tz=UTC)
    scripted_server.script(
        "GET",
        "/v1/portfolio",
        Reply(
            503,
            json={"code": "DEPENDENCY_UNAVAILABLE", "status": 503},
            headers={"Retry-After": format_datetime(when, usegmt=True)},
        ),
        Reply(json=one("portfolio", {"activePositions": 0})),
    )
    await scripted_kash.get_portfolio()
    (delay,) = scripted_clock.sleeps
    assert 7.0 <= delay <= 7.01


class RecordingBudget:
    def __init__(self) -> None:
        self.observed: list[RateLimitState] = []

    async def acquire(self, route: str, *, write: bool) -> None:
        return None

    def observe(self, state: RateLimitState) -> None:
        self.observed.append(state)


async def test_rate_limit_reset_in_epoch_ms_is_normalised(
    scripted_server: FakeKash, make_scripted_client: Callable[..., KashClient]
) -> None:
    headers = {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1780000030000",  # epoch ms, although §4 documents seconds
    }
    limited = problem(429, "RATE_LIMIT_EXCEEDED", retry_after=3)
    limited.headers.update(headers)
    scripted_server.script(
        "GET",
        "/v1/portfolio",
        limited,
        Reply(json=one("portfolio", {}), headers={**headers, "X-RateLimit-Remaining": "59"}),
    )
    budget = RecordingBudget()
    async with make_scripted_client(budget=budget) as kash:
        await kash.get_portfolio()
    first, second = budget.observed
    assert first.quota_exhausted and first.retry_after_s == 3
    assert first.reset_epoch_s == second.reset_epoch_s == 1_780_000_030


async def test_server_api_version_from_either_header(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    scripted_server.script(
        "GET", "/v1/health", Reply(json={}, headers={"X-API-Version": "2026-04-29"})
    )
    scripted_server.script(
        "GET", "/v1/ready", Reply(json={}, headers={"X-Kash-Api-Version": "2026-08-19"})
    )
    await scripted_kash.health()
    assert scripted_kash.server_api_version == "2026-04-29"
    await scripted_kash.ready()
    assert scripted_kash.server_api_version == "2026-08-19"


async def test_deprecation_warning_once_per_route(
    scripted_server: FakeKash, scripted_kash: KashClient, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.always(
        "GET", "/v1/health", Reply(json={}, headers={"Deprecation": "true", "Sunset": "x"})
    )
    await scripted_kash.health()
    await scripted_kash.health()
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1


async def test_positions_with_and_without_a_pagination_block(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    pos = {
        "marketId": MARKET_ID,
        "outcomeIndex": 0,
        "shares": str(30 * WAD),
        "costBasisAtomic": "12500000",
        "tradeCount": 3,
        "firstTradeAt": "2026-04-01T00:00:00Z",
        "lastTradeAt": "2026-05-01T00:00:00Z",
    }
    # First page paginated (the docs' shape); the second has no pagination block (the SDK's).
    scripted_server.script(
        "GET",
        "/v1/portfolio/positions",
        Reply(json=page([pos], cursor="p2")),
        Reply(json={"data": [{**pos, "outcomeIndex": 1}], "_meta": meta()}),
    )
    positions = await scripted_kash.list_positions(MARKET_ID)
    assert [x.outcome_index for x in positions] == [0, 1]
    assert positions[0].shares == 30 * WAD and positions[0].cost_basis_atomic == 12_500_000
    calls = scripted_server.calls("GET", "/v1/portfolio/positions")
    assert calls[1].query == {"marketId": MARKET_ID, "cursor": "p2"}


async def test_a_cursor_that_never_ends_is_capped(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    scripted_server.always("GET", "/v1/markets", Reply(json=page([market_json()], cursor="loop")))
    markets = [m async for m in scripted_kash.iter_markets(max_pages=3)]
    assert len(markets) == 3 and len(scripted_server.requests) == 3


async def test_probability_number_and_unknown_fields(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    """0.41 as a JSON number must become Decimal("0.41"), not the float's binary expansion;
    fields Kash may add later (``someFutureField``) are ignored."""
    scripted_server.script(
        "GET", f"/v1/markets/{MARKET_ID}", Reply(json=one("market", market_json()))
    )
    market = await scripted_kash.get_market(MARKET_ID)
    assert market.outcomes[0].probability == Decimal("0.41")
    assert market.outcomes[1].probability == Decimal("0.59")


async def test_probability_with_more_digits_than_a_float_survives_exactly(
    scripted_server: FakeKash, scripted_kash: KashClient
) -> None:
    """The body is parsed with ``parse_float=Decimal``: 0.1234567890123456789 (19 digits) is not
    rounded to a float's 17 on the way to the model."""
    m = market_json()
    m["outcomes"] = [
        {"index": 0, "label": "Yes", "probability": "P0"},
        {"index": 1, "label": "No", "probability": "P1"},
    ]
    resource = json.dumps(m).replace('"P0"', "0.1234567890123456789")
    resource = resource.replace('"P1"', "0.8765432109876543211")
    raw = f'{{"market":{resource},"data":{resource},"_meta":{{"requestId":"req_test"}}}}'
    headers = {"Content-Type": "application/json"}
    scripted_server.script(
        "GET", f"/v1/markets/{MARKET_ID}", Reply(body=raw.encode(), headers=headers)
    )
    market = await scripted_kash.get_market(MARKET_ID)
    assert market.outcomes[0].probability == Decimal("0.1234567890123456789")
    assert market.outcomes[1].probability == Decimal("0.8765432109876543211")
