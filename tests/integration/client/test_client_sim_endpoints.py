"""Every KashClient endpoint method against the simulator over 127.0.0.1: what the client sends
(path, query, headers, body — recorded by the wire tap), what the simulator served (its request
log and venue state) and how the client parses the envelopes and units that came back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from kash_sim_support import M2, M3, M5, WAD, WireTap, served

from kashbot import amm
from kashbot.client import KashClient
from kashbot.client import errors as E
from kashbot.client.config import DEFAULT_API_VERSION
from kashbot.sim.embedded import SimHandle

# default.yaml's lifecycle markets (issue 11): Solana is listed only from API 2026-08-19 on
SOL_LC, BASE_LC = "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b11", "2f3c6a1e-4b7d-4e21-9c3a-5d8e1f0a7b12"
LISTED = [M2, M3, M5] + ([SOL_LC] if DEFAULT_API_VERSION >= "2026-08-19" else []) + [BASE_LC]


def assert_common_headers(headers: dict[str, str], api_key: str) -> None:
    assert headers["X-API-Key"] == api_key
    assert headers["X-Kash-Api-Version"] == "2026-08-19"  # the default pin (issue 11)
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("kashbot/")


async def completed(sim: SimHandle, kash: KashClient, *trade_ids: str) -> None:
    for trade_id in trade_ids:
        await sim.wait_for_trade(trade_id)
        assert (await kash.get_trade(trade_id)).status == "completed"


async def test_list_markets_query_envelope_and_second_page(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    first = await kash.list_markets(status="ACTIVE", limit=3)
    rest = await kash.list_markets(status="ACTIVE", limit=3, cursor=first.cursor)
    a, b = tap.calls("GET", "/v1/markets")
    assert a.query == {"limit": "3", "status": "ACTIVE"}
    assert b.query == {"cursor": first.cursor, "limit": "3", "status": "ACTIVE"}
    assert_common_headers(a.headers, sim.keys["developer"].api_key)
    assert "Content-Type" not in a.headers and "Idempotency-Key" not in a.headers
    assert first.has_more and first.cursor and first.limit == 3
    assert not rest.has_more and rest.cursor is None
    assert [m.id for m in first.data + rest.data] == LISTED
    assert [m.outcome_count for m in first.data + rest.data] == [2, 3, 5] + [2] * (len(LISTED) - 3)
    market = first.data[0]
    q = amm.probabilities(sim.venue.markets[M2].pool)
    for outcome, truth in zip(market.outcomes, q, strict=True):
        assert outcome.probability is not None
        assert isinstance(outcome.probability, Decimal)
        assert abs(outcome.probability - Decimal(truth) / WAD) < Decimal("1e-15")


async def test_get_market_and_unknown_market(sim: SimHandle, kash: KashClient) -> None:
    market = await kash.get_market(M3)
    assert market.title == sim.venue.markets[M3].title and market.status == "ACTIVE"
    assert [o.label for o in market.outcomes] == ["Ana", "Bruno", "Carla"]
    assert kash.server_api_version == "2026-08-19"  # the sim answers in the pinned version
    with pytest.raises(E.MarketNotFound) as err:
        await kash.get_market(str(uuid.uuid4()))
    assert err.value.status == 404 and err.value.request_id == served(sim)[-1]["requestId"]


async def test_ids_are_single_path_segments(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    with pytest.raises(E.KashNotFoundError):
        await kash.get_trade("a/b")
    assert [s.path for s in tap.sent] == ["/v1/trades/a%2Fb"]
    assert served(sim)[-1]["route"] == "GET /v1/trades/{id}"  # one segment, not /trades/a/b


async def test_get_quote_buy_and_sell_match_the_venue(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    q = await kash.get_quote(M3, 0, "buy", 10_000_000)
    assert tap.sent[-1].query == {"action": "buy", "amount": "10000000", "outcomeIndex": "0"}
    truth = sim.venue.quote(M3, 0, "buy", 10_000_000)
    assert q.amount_in == 10_000_000 and q.tokens_out == truth.tokens_out
    assert q.p_after == list(truth.p_after) and q.q_after == list(truth.q_after)
    assert q.units == {"usdc": "atomic-6", "token": "wad-18"}
    assert q.market is not None and q.market.id == M3 and q.market.status == "ACTIVE"
    assert q.tokens_out is not None
    sell = await kash.get_quote(M3, 0, "sell", q.tokens_out)
    assert sell.usdc_out == sim.venue.quote(M3, 0, "sell", q.tokens_out).usdc_out
    assert sell.usdc_out is not None and 0 < sell.usdc_out < 10_000_000  # fees both ways


async def test_get_quote_rejects_non_atomic_amounts_locally(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    with pytest.raises(ValueError, match="atomic"):
        await kash.get_quote(M2, 0, "buy", 10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="atomic"):
        await kash.get_quote(M2, 0, "sell", 0)
    assert tap.sent == [] and served(sim) == []


async def test_create_trade_201_body_headers_and_completion(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    created = await kash.create_trade(
        M2, 0, "buy", Decimal("10.50"), client_request_id="order-1", metadata={"strategy": "mm"}
    )
    (call,) = tap.calls("POST", "/v1/trades")
    assert_common_headers(call.headers, sim.keys["developer"].api_key)
    assert call.headers["Content-Type"] == "application/json"
    uuid.UUID(call.headers["Idempotency-Key"])  # generated, a UUID
    assert "X-Kash-Signature" not in call.headers
    assert call.json() == {
        "marketId": M2,
        "outcomeIndex": 0,
        "amount": "10.5",
        "side": "buy",
        "clientRequestId": "order-1",
        "metadata": {"strategy": "mm"},
    }
    assert created.status_code == 201 and not created.requires_confirmation
    assert created.idempotency_key == call.headers["Idempotency-Key"]
    assert not created.idempotent_replay and created.trade.status == "pending"
    assert created.trade.amount == Decimal("10.5") and created.trade.amount_atomic == 10_500_000
    assert created.trade.metadata == {"strategy": "mm"}
    assert created.trade.client_request_id == "order-1"

    record = await sim.wait_for_trade(created.trade.id)
    trade = await kash.get_trade(created.trade.id)
    assert trade.status == "completed" and trade.terminal and trade.tx_hash == record.tx_hash
    assert trade.tokens_out == record.tokens_out and trade.tokens_out is not None


async def test_same_idempotency_key_replays(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    a = await kash.create_trade(M2, 1, "buy", "3", idempotency_key="my-key:1")
    b = await kash.create_trade(M2, 1, "buy", "3", idempotency_key="my-key:1")
    assert [c.headers["Idempotency-Key"] for c in tap.calls("POST", "/v1/trades")] == [
        "my-key:1",
        "my-key:1",
    ]
    assert b.idempotent_replay and not a.idempotent_replay and b.trade.id == a.trade.id
    assert len(sim.venue.trades) == 1
    with pytest.raises(E.IdempotencyKeyConflict) as err:
        await kash.create_trade(M2, 1, "buy", "4", idempotency_key="my-key:1")
    assert err.value.status == 409 and len(sim.venue.trades) == 1


async def test_202_confirm_flow(
    sim: SimHandle, tap: WireTap, make_client: Callable[..., KashClient]
) -> None:
    async with make_client("mm") as kash:
        created = await kash.create_trade(M2, 0, "buy", "50000")  # the mm gate (§4)
        assert created.status_code == 202 and created.requires_confirmation
        assert created.trade.status == "pending_confirmation"
        assert created.confirmation is not None
        token = created.confirmation.token
        assert token not in repr(created)  # single-use secret stays out of reprs
        assert created.confirmation.expires_at.timestamp() > sim.venue.clock.now()

        trade = await kash.confirm_trade(created.trade.id, token)
        assert trade.status == "pending"
    trade_path = f"/v1/trades/{created.trade.id}"
    assert [(s.method, s.path) for s in tap.sent] == [
        ("POST", "/v1/trades"),
        ("GET", trade_path),
        ("POST", f"{trade_path}/confirm"),
    ]
    confirm = tap.sent[-1]
    assert confirm.json() == {"token": token}
    assert "Idempotency-Key" not in confirm.headers  # confirm is not idempotent
    assert (await sim.wait_for_trade(created.trade.id)).status == "completed"


async def test_confirm_refuses_when_not_pending_confirmation(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    created = await kash.create_trade(M2, 0, "buy", "5")
    with pytest.raises(E.TradeNotAwaitingConfirmation) as info:
        await kash.confirm_trade(created.trade.id, "t" * 43)
    assert info.value.trade is not None and info.value.trade.id == created.trade.id
    assert not [s for s in tap.sent if s.path.endswith("/confirm")]
    assert not served(sim, "POST /v1/trades/{id}/confirm")


async def test_list_trades_filters(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    on_m2 = await kash.create_trade(M2, 0, "buy", "2")
    on_m3 = await kash.create_trade(M3, 2, "buy", "2")
    await completed(sim, kash, on_m2.trade.id, on_m3.trade.id)
    listed = await kash.list_trades(status=["completed", "failed"], market_id=M2, limit=5)
    assert tap.calls("GET", "/v1/trades")[0].query == {
        "limit": "5",
        "marketId": M2,
        "status": "completed,failed",
    }
    assert [t.id for t in listed.data] == [on_m2.trade.id] and not listed.has_more
    assert (await kash.list_trades(status="pending")).data == []


async def test_three_page_walk(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    ids = [(await kash.create_trade(M2, i % 2, "buy", "1")).trade.id for i in range(5)]
    await completed(sim, kash, *ids)
    p1 = await kash.list_trades(status="completed", limit=2)
    p2 = await kash.list_trades(status="completed", limit=2, cursor=p1.cursor)
    tap.sent.clear()

    walked = [t.id async for t in kash.iter_trades(status="completed", limit=2)]
    assert walked == ids[::-1]  # newest first, every trade once
    assert [s.query for s in tap.calls("GET", "/v1/trades")] == [
        {"limit": "2", "status": "completed"},
        {"cursor": p1.cursor, "limit": "2", "status": "completed"},
        {"cursor": p2.cursor, "limit": "2", "status": "completed"},
    ]


async def test_iter_markets_walks_and_stops_at_max_pages(tap: WireTap, kash: KashClient) -> None:
    assert [m.id async for m in kash.iter_markets(limit=1)] == LISTED
    assert len(tap.sent) == len(LISTED)
    tap.sent.clear()
    assert [m.id async for m in kash.iter_markets(limit=1, max_pages=2)] == [M2, M3]
    assert len(tap.sent) == 2


async def test_predictions_units(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    bought = await kash.create_trade(M2, 1, "buy", "5")
    await completed(sim, kash, bought.trade.id)
    sold = await kash.create_trade(M2, 1, "sell", "2")
    record = await sim.wait_for_trade(sold.trade.id)

    page = await kash.list_predictions(M2, side="sell", outcome_index=1, limit=50)
    assert tap.sent[-1].query == {"limit": "50", "outcomeIndex": "1", "side": "sell"}
    (p,) = page.data
    assert p.side == "sell" and p.usdc_in is None and p.tokens_out is None
    assert p.usdc_out == record.payout and p.tokens_in == record.tokens_in
    assert isinstance(p.price, Decimal) and isinstance(p.probability, Decimal)
    assert not page.has_more
    buys = await kash.list_predictions(M2, side="buy")
    assert [b.usdc_in for b in buys.data] == [5_000_000]


async def test_trace_of_a_completed_trade(sim: SimHandle, kash: KashClient) -> None:
    created = await kash.create_trade(M3, 1, "buy", "7.25")
    record = await sim.wait_for_trade(created.trade.id)
    correlation_id = created.trade.correlation_id
    assert correlation_id is not None
    trace = await kash.get_trace(correlation_id)
    assert trace.correlation_id == correlation_id
    seqs = [e.sequence_number or 0 for e in trace.events]
    assert seqs == sorted(seqs) and seqs[0] >= 1 and len(seqs) >= 2
    requested, executed = trace.events[0], trace.events[-1]
    assert "requested" in requested.type and requested.data.amount == Decimal("7.25")
    assert executed.data.tokens_out == record.tokens_out


async def test_portfolio_and_positions(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    a = await kash.create_trade(M3, 0, "buy", "4")
    b = await kash.create_trade(M3, 2, "buy", "6")
    await completed(sim, kash, a.trade.id, b.trade.id)
    portfolio = await kash.get_portfolio()
    positions = await kash.list_positions(M3)
    assert tap.calls("GET", "/v1/portfolio/positions")[0].query == {"marketId": M3}
    truth = sim.venue.user_positions(sim.keys["developer"].api_key, M3)
    assert sorted((p.outcome_index, p.shares, p.cost_basis_atomic) for p in positions) == sorted(
        (t.outcome, t.shares, t.cost_basis) for t in truth
    )
    assert [p.outcome_index for p in sorted(positions, key=lambda p: p.outcome_index)] == [0, 2]
    assert portfolio.active_positions == 2
    assert portfolio.total_cost_basis_atomic == sum(p.cost_basis_atomic for p in positions)
    assert await kash.list_positions(M2) == []


async def test_account_usage(sim: SimHandle, kash: KashClient) -> None:
    created = await kash.create_trade(M2, 0, "buy", "1")
    await sim.wait_for_trade(created.trade.id)
    usage = await kash.get_account_usage()
    assert usage.trades["24h"].total == 1 and usage.trades["24h"].completed == 1


async def test_webhook_events_redeliver_and_rotate(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    sim.set_webhook("developer", "http://127.0.0.1:9/unreachable")  # deliveries fail: fine here
    created = await kash.create_trade(M2, 0, "buy", "1")
    await sim.wait_for_trade(created.trade.id)
    events = await kash.list_webhook_events(since="2000-01-01T00:00:00Z", limit=25)
    assert tap.sent[-1].query == {"from": "2000-01-01T00:00:00Z", "limit": "25"}
    assert events.data and {e.trade_request_id for e in events.data} == {created.trade.id}
    event_id = events.data[0].id

    for _ in range(5):  # §4: at most 5 replays per event
        ev = await kash.redeliver_webhook_event(event_id)
        assert ev.id == event_id and ev.message
    with pytest.raises(E.WebhookReplayLimitReached) as err:
        await kash.redeliver_webhook_event(event_id)
    assert err.value.status == 429
    redelivers = tap.calls("POST", f"/v1/webhooks/events/{event_id}/redeliver")
    assert len(redelivers) == 6  # the refusal was not retried
    assert all(c.body == b"" and "Idempotency-Key" not in c.headers for c in redelivers)

    rotated = await kash.rotate_webhook_secret()
    secret = rotated.secret.get_secret_value()
    assert secret.startswith("whsec_") and secret not in repr(rotated)
    assert sim.venue.find_key("developer").webhook_secret == secret
    assert rotated.previous_retained_until is not None
    with pytest.raises(E.WebhookSecretRotationCooldown) as cooldown:
        await kash.rotate_webhook_secret()
    assert cooldown.value.retry_after is not None and cooldown.value.retry_after > 0


async def test_create_redemption_after_resolution(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    created = await kash.create_trade(M2, 0, "buy", "20")
    record = await sim.wait_for_trade(created.trade.id)
    sim.venue.resolve_market(M2, [0])
    first = await kash.create_redemption(M2, 0)
    again = await kash.create_redemption(M2, 0)
    call = tap.calls("POST", "/v1/redemptions")[0]
    assert call.json() == {"marketId": M2, "outcomeIndex": 0}
    assert "Idempotency-Key" in call.headers
    assert first.kind == "resolved" and first.shares_wad == record.tokens_out
    assert not first.idempotent and again.idempotent and again.id == first.id


async def test_health_and_ready_are_unauthenticated(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    assert (await kash.health())["status"] == "ok"
    assert (await kash.ready())["status"] == "ready"
    assert all("X-API-Key" not in s.headers for s in tap.sent)
    assert [r["keyName"] for r in served(sim)] == [None, None]


async def test_version_pinning(
    sim: SimHandle, tap: WireTap, make_client: Callable[..., KashClient]
) -> None:
    async with make_client(api_version=None, user_agent_suffix="mybot/2") as kash:
        await kash.get_portfolio()
        assert kash.server_api_version == "2026-04-29"  # the server default
    assert "X-Kash-Api-Version" not in tap.sent[-1].headers
    assert tap.sent[-1].headers["User-Agent"].endswith("mybot/2")
    async with make_client(api_version="2025-01-01") as kash:
        with pytest.raises(E.ApiVersionUnsupported) as err:
            await kash.get_portfolio()
    assert err.value.status == 410
