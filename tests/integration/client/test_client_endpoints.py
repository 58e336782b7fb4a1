"""Every KashClient endpoint method against the scripted server: path, query, headers, body,
envelope parsing and units."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from kash_fake_server import (
    API_KEY,
    CORRELATION_ID,
    MARKET_ID,
    TOKEN,
    TRADE_ID,
    FakeKash,
    Reply,
    market_json,
    meta,
    one,
    page,
    trade_json,
)

from kashbot.client import KashClient
from kashbot.client.errors import TradeNotAwaitingConfirmation

WAD = 10**18


def assert_common_headers(headers: dict[str, str]) -> None:
    assert headers["X-API-Key"] == API_KEY
    assert headers["X-Kash-Api-Version"] == "2026-04-29"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("kashbot/")


async def test_list_markets_query_and_envelope(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script(
        "GET", "/v1/markets", Reply(json=page([market_json()], cursor="c2", limit=5))
    )
    result = await kash.list_markets(status="ACTIVE", limit=5, cursor="c1")
    (call,) = kash_server.calls("GET", "/v1/markets")
    assert call.query == {"status": "ACTIVE", "limit": "5", "cursor": "c1"}
    assert_common_headers(call.headers)
    assert "Content-Type" not in call.headers and "Idempotency-Key" not in call.headers
    assert result.cursor == "c2" and result.has_more and result.limit == 5
    market = result.data[0]
    assert market.id == MARKET_ID and market.outcome_count == 2
    assert market.outcomes[0].probability == Decimal("0.41")  # JSON number, no float drift
    assert market.freeze_at is not None and market.freeze_at.year == 2026


async def test_get_market(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script("GET", f"/v1/markets/{MARKET_ID}", Reply(json=one("market", market_json())))
    market = await kash.get_market(MARKET_ID)
    assert market.title == "Will it rain?" and market.status == "ACTIVE"
    assert_common_headers(kash_server.requests[0].headers)


async def test_ids_are_single_path_segments(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script("GET", "/v1/trades/a%2Fb", Reply(json=one("trade", trade_json())))
    await kash.get_trade("a/b")
    assert [r.path for r in kash_server.requests] == ["/v1/trades/a%2Fb"]


async def test_list_predictions_units(kash_server: FakeKash, kash: KashClient) -> None:
    row = {
        "id": "p1",
        "marketId": MARKET_ID,
        "outcomeIndex": 1,
        "side": "sell",
        "usdcIn": None,
        "usdcOut": "4990000",
        "tokensIn": str(12 * WAD),
        "tokensOut": None,
        "price": "0.415000000000000001",
        "probability": "0.58",
        "timestamp": "2026-05-01T12:00:00Z",
        "blockNumber": "123456",
        "transactionHash": "0x" + "cd" * 32,
        "logIndex": 3,
    }
    kash_server.script("GET", f"/v1/markets/{MARKET_ID}/predictions", Reply(json=page([row])))
    result = await kash.list_predictions(MARKET_ID, side="sell", outcome_index=1, limit=50)
    assert kash_server.requests[0].query == {"side": "sell", "outcomeIndex": "1", "limit": "50"}
    p = result.data[0]
    assert p.usdc_out == 4_990_000 and p.tokens_in == 12 * WAD and p.usdc_in is None
    assert p.price == Decimal("0.415000000000000001") and not result.has_more


async def test_get_quote_buy(kash_server: FakeKash, kash: KashClient) -> None:
    quote = {
        "outcomeIndex": 0,
        "action": "buy",
        "amountIn": "10000000",
        "tokensOut": "23456789012345678901",
        "reserveAfter": str(120 * WAD),
        "c": "987654321098765432",
        "pAfter": ["420000000000000000", "580000000000000000"],
        "qAfter": ["430000000000000000", "570000000000000000"],
        "effectivePrice": 4.263e-13,
        "impliedProbability": 0.42,
    }
    body = {
        "quote": quote,
        "market": {"id": MARKET_ID, "outcomes": market_json()["outcomes"], "status": "ACTIVE"},
        "units": {"usdc": "atomic-6", "token": "wad-18"},
        "_meta": meta(),
    }
    kash_server.script("GET", f"/v1/markets/{MARKET_ID}/quote", Reply(json=body))
    q = await kash.get_quote(MARKET_ID, 0, "buy", 10_000_000)
    assert kash_server.requests[0].query == {
        "outcomeIndex": "0",
        "action": "buy",
        "amount": "10000000",
    }
    assert q.tokens_out == 23_456_789_012_345_678_901 and q.amount_in == 10_000_000
    assert sum(q.p_after) == WAD and q.q_after[1] == 570_000_000_000_000_000
    assert q.implied_probability == Decimal("0.42")
    assert q.market is not None and q.market.status == "ACTIVE"
    assert q.units == {"usdc": "atomic-6", "token": "wad-18"}


async def test_get_quote_rejects_non_atomic_amounts(kash: KashClient) -> None:
    with pytest.raises(ValueError, match="atomic"):
        await kash.get_quote(MARKET_ID, 0, "buy", 10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="atomic"):
        await kash.get_quote(MARKET_ID, 0, "sell", 0)


async def test_create_trade_201(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script(
        "POST",
        "/v1/trades",
        Reply(201, json=one("trade", trade_json(), _meta=meta(idempotent=False))),
    )
    created = await kash.create_trade(
        MARKET_ID,
        0,
        "buy",
        Decimal("10.50"),
        client_request_id="order-1",
        metadata={"strategy": "mm"},
    )
    (call,) = kash_server.calls("POST", "/v1/trades")
    assert_common_headers(call.headers)
    assert call.headers["Content-Type"] == "application/json"
    uuid.UUID(call.headers["Idempotency-Key"])  # generated, a UUID
    assert call.json() == {
        "marketId": MARKET_ID,
        "outcomeIndex": 0,
        "amount": "10.5",
        "side": "buy",
        "clientRequestId": "order-1",
        "metadata": {"strategy": "mm"},
    }
    assert "X-Kash-Signature" not in call.headers
    assert created.status_code == 201 and not created.requires_confirmation
    assert created.idempotency_key == call.headers["Idempotency-Key"]
    assert created.trade.amount == Decimal("10.5") and created.trade.amount_atomic == 10_500_000
    assert created.trade.metadata == {"strategy": "mm"} and not created.idempotent_replay


async def test_create_trade_replay_flag(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script(
        "POST",
        "/v1/trades",
        Reply(
            200,
            json=one("trade", trade_json(), _meta=meta(idempotent=True)),
            headers={"Idempotent-Replay": "true"},
        ),
    )
    created = await kash.create_trade(MARKET_ID, 0, "sell", "3", idempotency_key="my-key:1")
    assert kash_server.requests[0].headers["Idempotency-Key"] == "my-key:1"
    assert kash_server.requests[0].json() == {
        "marketId": MARKET_ID,
        "outcomeIndex": 0,
        "amount": "3",
        "side": "sell",
    }
    assert created.idempotent_replay


async def test_202_confirm_flow(kash_server: FakeKash, kash: KashClient) -> None:
    gated = trade_json(status="pending_confirmation", amount="30000")
    kash_server.script(
        "POST",
        "/v1/trades",
        Reply(
            202,
            json=one(
                "trade",
                gated,
                confirmation={"token": TOKEN, "expiresAt": "2026-05-01T12:01:00.000Z"},
            ),
        ),
    )
    kash_server.script("GET", f"/v1/trades/{TRADE_ID}", Reply(json=one("trade", gated)))
    kash_server.script(
        "POST",
        f"/v1/trades/{TRADE_ID}/confirm",
        Reply(json=one("trade", trade_json(status="pending", amount="30000"))),
    )
    created = await kash.create_trade(MARKET_ID, 0, "buy", "30000")
    assert created.status_code == 202 and created.requires_confirmation
    assert created.confirmation is not None
    assert created.confirmation.token == TOKEN
    assert created.confirmation.expires_at.minute == 1
    assert TOKEN not in repr(created)  # single-use secret stays out of reprs

    trade = await kash.confirm_trade(TRADE_ID, TOKEN)
    assert trade.status == "pending"
    methods = [(r.method, r.path) for r in kash_server.requests]
    assert methods[1:] == [
        ("GET", f"/v1/trades/{TRADE_ID}"),
        ("POST", f"/v1/trades/{TRADE_ID}/confirm"),
    ]
    confirm = kash_server.requests[2]
    assert confirm.json() == {"token": TOKEN}
    assert "Idempotency-Key" not in confirm.headers  # confirm is not idempotent


async def test_confirm_refuses_when_not_pending_confirmation(
    kash_server: FakeKash, kash: KashClient
) -> None:
    kash_server.script(
        "GET", f"/v1/trades/{TRADE_ID}", Reply(json=one("trade", trade_json(status="pending")))
    )
    with pytest.raises(TradeNotAwaitingConfirmation) as info:
        await kash.confirm_trade(TRADE_ID, TOKEN)
    assert info.value.trade is not None and info.value.trade.status == "pending"
    assert not kash_server.calls("POST", f"/v1/trades/{TRADE_ID}/confirm")


async def test_get_and_list_trades(kash_server: FakeKash, kash: KashClient) -> None:
    done = trade_json(status="completed", txHash="0x" + "ef" * 32, tokensOut=str(25 * WAD))
    kash_server.script("GET", f"/v1/trades/{TRADE_ID}", Reply(json=one("trade", done)))
    kash_server.script("GET", "/v1/trades", Reply(json=page([done, trade_json("t2")])))
    trade = await kash.get_trade(TRADE_ID)
    assert trade.tokens_out == 25 * WAD and trade.terminal and trade.tx_hash is not None
    listed = await kash.list_trades(status=["pending", "executing"], market_id=MARKET_ID, limit=2)
    assert kash_server.calls("GET", "/v1/trades")[0].query == {
        "status": "pending,executing",
        "marketId": MARKET_ID,
        "limit": "2",
    }
    assert [t.id for t in listed.data] == [TRADE_ID, "t2"]


async def test_get_trace(kash_server: FakeKash, kash: KashClient) -> None:
    trace = {
        "correlationId": CORRELATION_ID,
        "events": [
            {
                "type": "com.kash.trade.requested.v1",
                "occurredAt": "2026-05-01T12:00:00Z",
                "sequenceNumber": 1,
                "data": {"tradeId": TRADE_ID, "amount": "10.5", "side": "buy"},
            },
            {
                "type": "com.kash.trade.executed.v1",
                "occurredAt": "2026-05-01T12:00:05Z",
                "sequenceNumber": 2,
                "data": {"txHash": "0xab", "tokensOut": str(WAD)},
            },
        ],
    }
    kash_server.script("GET", f"/v1/traces/{CORRELATION_ID}", Reply(json=one("trace", trace)))
    result = await kash.get_trace(CORRELATION_ID)
    assert [e.sequence_number for e in result.events] == [1, 2]
    assert result.events[0].data.amount == Decimal("10.5")
    assert result.events[1].data.tokens_out == WAD


async def test_portfolio_and_positions(kash_server: FakeKash, kash: KashClient) -> None:
    portfolio = {
        "smartAccountAddress": "0x" + "12" * 20,
        "activePositions": 2,
        "totalCostBasisAtomic": "25000000",
    }
    kash_server.script("GET", "/v1/portfolio", Reply(json=one("portfolio", portfolio)))
    pos = {
        "marketId": MARKET_ID,
        "outcomeIndex": 0,
        "shares": str(30 * WAD),
        "costBasisAtomic": "12500000",
        "tradeCount": 3,
        "firstTradeAt": "2026-04-01T00:00:00Z",
        "lastTradeAt": "2026-05-01T00:00:00Z",
    }
    # First shape: paginated (docs); second page has no pagination block at all (SDK shape).
    kash_server.script(
        "GET",
        "/v1/portfolio/positions",
        Reply(json=page([pos], cursor="p2")),
        Reply(json={"data": [{**pos, "outcomeIndex": 1}], "_meta": meta()}),
    )
    p = await kash.get_portfolio()
    assert p.total_cost_basis_atomic == 25_000_000 and p.active_positions == 2
    positions = await kash.list_positions(MARKET_ID)
    assert [x.outcome_index for x in positions] == [0, 1]
    assert positions[0].shares == 30 * WAD and positions[0].cost_basis_atomic == 12_500_000
    calls = kash_server.calls("GET", "/v1/portfolio/positions")
    assert calls[0].query == {"marketId": MARKET_ID}
    assert calls[1].query == {"marketId": MARKET_ID, "cursor": "p2"}


async def test_account_usage(kash_server: FakeKash, kash: KashClient) -> None:
    usage = {
        "apiKeyId": "key_1",
        "generatedAt": "2026-05-01T12:00:00Z",
        "trades": {
            "24h": {
                "total": 10,
                "completed": 9,
                "failed": 1,
                "successRate": 0.9,
                "latencyMs": {"p50": 800, "p99": None},
            },
            "7d": {"total": 50, "completed": 45, "failed": 5, "successRate": 0.9},
        },
        "webhooks": {"7d": {"emitted": 9, "delivered": 9, "failed": 0, "successRate": 1}},
        "auth": {"24h": {"failures": 0, "rateLimitRejections": 2}},
    }
    kash_server.script("GET", "/v1/account/usage", Reply(json={"data": usage, "_meta": meta()}))
    result = await kash.get_account_usage()
    assert result.trades["24h"].completed == 9
    assert result.trades["24h"].latency_ms is not None
    assert result.trades["24h"].latency_ms.p50 == 800
    assert result.auth["24h"].rate_limit_rejections == 2


async def test_webhook_management(kash_server: FakeKash, kash: KashClient) -> None:
    row = {
        "id": "evt_" + "0" * 32,
        "eventType": "trade.completed",
        "tradeRequestId": TRADE_ID,
        "emittedAt": "2026-05-01T12:00:00Z",
        "outboxEmittedAt": None,
        "replayCount": 1,
        "status": "failed",
        "delivery": {"attempts": 10, "lastStatusCode": 500, "lastFailureCode": "http_5xx"},
    }
    kash_server.script("GET", "/v1/webhooks/events", Reply(json=page([row], limit=25)))
    events = await kash.list_webhook_events(
        status=["failed", "retrying"], since="2026-04-01T00:00:00Z", limit=25
    )
    assert kash_server.requests[-1].query == {
        "status": "failed,retrying",
        "from": "2026-04-01T00:00:00Z",
        "limit": "25",
    }
    assert events.data[0].delivery is not None
    assert events.data[0].delivery.last_failure_code == "http_5xx"

    event_id = row["id"]
    redelivered = {
        "id": event_id,
        "eventType": "trade.completed",
        "apiKeyId": "key_1",
        "tradeRequestId": TRADE_ID,
        "emittedAt": "2026-05-01T12:00:00Z",
        "lastDeliveredAt": None,
        "deliveryAttempts": 10,
    }
    kash_server.script(
        "POST",
        f"/v1/webhooks/events/{event_id}/redeliver",
        Reply(202, json=one("event", redelivered, _meta=meta(message="queued"))),
    )
    ev = await kash.redeliver_webhook_event(event_id)
    assert ev.id == event_id and ev.message == "queued"
    call = kash_server.requests[-1]
    assert call.body == b"" and "Idempotency-Key" not in call.headers

    secret = "whsec_" + "s" * 43
    kash_server.script(
        "POST",
        "/v1/auth/api-keys/me/webhook-secret/rotate",
        Reply(
            json=one(
                "webhookSecret",
                {
                    "secret": secret,
                    "rotatedAt": "2026-05-01T12:00:00Z",
                    "previousRetainedUntil": "2026-05-08T12:00:00Z",
                },
            )
        ),
    )
    rotated = await kash.rotate_webhook_secret()
    assert rotated.secret.get_secret_value() == secret
    assert secret not in repr(rotated)
    assert rotated.previous_retained_until is not None


async def test_create_redemption(kash_server: FakeKash, kash: KashClient) -> None:
    red = {
        "id": "r1",
        "marketId": MARKET_ID,
        "outcomeIndex": 1,
        "kind": "resolved",
        "sharesWad": str(5 * WAD),
        "status": "pending",
    }
    kash_server.script(
        "POST",
        "/v1/redemptions",
        Reply(200, json=one("redemption", red, _meta=meta(idempotent=True))),
    )
    result = await kash.create_redemption(MARKET_ID, 1)
    call = kash_server.requests[0]
    assert call.json() == {"marketId": MARKET_ID, "outcomeIndex": 1}
    assert "Idempotency-Key" in call.headers
    assert result.shares_wad == 5 * WAD and result.idempotent and result.kind == "resolved"


async def test_health_and_ready_are_unauthenticated(
    kash_server: FakeKash, kash: KashClient
) -> None:
    kash_server.script("GET", "/v1/health", Reply(json={"status": "ok"}))
    kash_server.script("GET", "/v1/ready", Reply(json={"status": "ready"}))
    assert await kash.health() == {"status": "ok"}
    assert await kash.ready() == {"status": "ready"}
    assert all("X-API-Key" not in r.headers for r in kash_server.requests)


async def test_three_page_walk(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script(
        "GET",
        "/v1/trades",
        Reply(json=page([trade_json("a"), trade_json("b")], cursor="c2")),
        Reply(json=page([trade_json("c")], cursor="c3")),
        Reply(json=page([trade_json("d")], cursor=None)),
    )
    ids = [t.id async for t in kash.iter_trades(status="completed", limit=2)]
    assert ids == ["a", "b", "c", "d"]
    queries = [r.query for r in kash_server.calls("GET", "/v1/trades")]
    assert queries == [
        {"status": "completed", "limit": "2"},
        {"status": "completed", "limit": "2", "cursor": "c2"},
        {"status": "completed", "limit": "2", "cursor": "c3"},
    ]


async def test_iter_markets_page_cap(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.always("GET", "/v1/markets", Reply(json=page([market_json()], cursor="loop")))
    markets = [m async for m in kash.iter_markets(max_pages=3)]
    assert len(markets) == 3 and len(kash_server.requests) == 3


async def test_server_api_version_from_either_header(
    kash_server: FakeKash, kash: KashClient
) -> None:
    kash_server.script("GET", "/v1/health", Reply(json={}, headers={"X-API-Version": "2026-04-29"}))
    kash_server.script(
        "GET", "/v1/ready", Reply(json={}, headers={"X-Kash-Api-Version": "2026-08-19"})
    )
    await kash.health()
    assert kash.server_api_version == "2026-04-29"
    await kash.ready()
    assert kash.server_api_version == "2026-08-19"


async def test_version_header_can_be_unpinned(kash_server: FakeKash, make_client) -> None:  # type: ignore[no-untyped-def]
    kash_server.script("GET", "/v1/health", Reply(json={}))
    async with make_client(api_version=None, user_agent_suffix="mybot/2") as kash:
        await kash.health()
    headers = kash_server.requests[0].headers
    assert "X-Kash-Api-Version" not in headers
    assert headers["User-Agent"].endswith("mybot/2")
