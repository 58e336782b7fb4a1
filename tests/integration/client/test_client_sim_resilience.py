"""Retries, Retry-After, idempotent replays, outcome-unknown, ETags, rate-limit state, signing and
secrecy: the real KashClient against the simulator over 127.0.0.1, misbehaving through the
simulator's own fault switches (``sim.arm_fault``) and limits, never through scripted replies."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from kash_sim_support import M2, LinkedClock, VirtualSleepClock, WireTap, served, statuses

from kashbot.client import KashClient, RateLimitState, RetryPolicy
from kashbot.client import errors as E
from kashbot.clock import SimClock
from kashbot.sim.embedded import SimHandle, run_sim, scenario_dict

TRADES = "POST /v1/trades"
CONFIRM = "POST /v1/trades/{id}/confirm"
MARKET = "GET /v1/markets/{id}"


async def test_rate_limit_storm_retry_after_is_honoured(
    sim: SimHandle, kash: KashClient, clock: VirtualSleepClock
) -> None:
    sim.arm_fault("rate_limit_storm", routes=[MARKET], count=1, retry_after=2)
    market = await kash.get_market(M2)
    assert market.id == M2
    assert statuses(sim, MARKET) == [429, 200]
    (delay,) = clock.sleeps
    assert 2.0 <= delay <= 2.0 + 0.01  # Retry-After plus at most base_delay of jitter


async def test_route_disabled_is_retried_after_its_retry_after(
    sim: SimHandle, kash: KashClient, clock: VirtualSleepClock, make_client: Any
) -> None:
    quote = "GET /v1/markets/{id}/quote"
    sim.arm_fault("route_disabled", routes=[quote], count=1, retry_after=5, flag="api-quotes-read")
    await kash.get_quote(M2, 0, "buy", 1_000_000)
    assert statuses(sim, quote) == [503, 200]
    (delay,) = clock.sleeps
    assert 5.0 <= delay <= 5.01

    sim.arm_fault("route_disabled", routes=[quote], count=1, retry_after=60, flag="api-quotes-read")
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as once:
        with pytest.raises(E.RouteDisabled) as err:
            await once.get_quote(M2, 0, "buy", 1_000_000)
    assert err.value.retryable and err.value.retry_after == 60
    assert err.value.flag == "api-quotes-read"


async def test_retry_after_above_cap_is_surfaced_not_slept(
    sim: SimHandle, kash: KashClient, clock: VirtualSleepClock
) -> None:
    sim.arm_fault("trade_halt", retry_after=300)
    with pytest.raises(E.ApiTradeProcessingHalted) as info:
        await kash.create_trade(M2, 0, "buy", "5")
    assert info.value.retry_after == 300 and info.value.status == 503
    assert clock.sleeps == [] and statuses(sim, TRADES) == [503]
    assert not sim.venue.trades
    await kash.get_market(M2)  # reads keep working during a trade halt


async def test_backoff_full_jitter_is_capped(
    sim: SimHandle, make_client: Callable[..., KashClient], clock: VirtualSleepClock
) -> None:
    sim.arm_fault("internal_error", routes=["GET /v1/portfolio"])
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=3.0)
    async with make_client(retry_policy=policy) as kash:
        with pytest.raises(E.InternalError):
            await kash.get_portfolio()
    assert statuses(sim, "GET /v1/portfolio") == [500] * 6 and len(clock.sleeps) == 5
    for n, delay in enumerate(clock.sleeps):
        assert 0.0 <= delay <= min(3.0, 1.0 * 2**n)


async def test_terminal_errors_are_not_retried(
    sim: SimHandle, kash: KashClient, clock: VirtualSleepClock
) -> None:
    with pytest.raises(E.InsufficientBalance) as err:
        await kash.create_trade(M2, 1, "sell", "1")  # no position to sell
    assert err.value.status == 409 and not err.value.retryable
    assert statuses(sim, TRADES) == [409] and clock.sleeps == []


async def test_idempotent_post_retry_reuses_key_and_bytes(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    sim.arm_fault("internal_error", routes=[TRADES], count=1)
    sim.arm_fault("rate_limit_unavailable", routes=[TRADES], count=1, retry_after=1)
    sim.arm_fault("rate_limit_storm", routes=[TRADES], count=1, retry_after=1)
    created = await kash.create_trade(
        M2, 0, "buy", "10.5", client_request_id="order-1", metadata={"a": "b"}
    )
    assert statuses(sim, TRADES) == [500, 503, 429, 201]
    calls = tap.calls("POST", "/v1/trades")
    assert {c.headers["Idempotency-Key"] for c in calls} == {created.idempotency_key}
    assert len(calls) == 4 and len({c.body for c in calls}) == 1
    assert list(sim.venue.trades) == [created.trade.id]  # one order, four attempts


async def test_outcome_unknown_on_a_hanging_server(
    sim: SimHandle, tap: WireTap, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("hang", routes=[TRADES], count=2, hang_s=3.0)
    async with make_client(timeout=0.2, retry_policy=RetryPolicy(1, base_delay=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(M2, 0, "buy", "12", idempotency_key="ord-77")
        err = info.value
        calls = tap.calls("POST", "/v1/trades")
        assert len(calls) == 2 and err.idempotency_key == "ord-77"
        assert all(c.headers["Idempotency-Key"] == "ord-77" for c in calls)
        assert err.body == calls[0].body == calls[1].body
        assert isinstance(err.cause, E.KashTimeoutError)
        # Reconcile: the same key and bytes again; exactly one order ever exists.
        replay = await kash.replay_trade(err)
    assert replay.status_code == 201 and list(sim.venue.trades) == [replay.trade.id]


async def test_outcome_unknown_on_dropped_connection(
    sim: SimHandle, tap: WireTap, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("drop_connection", routes=[TRADES], count=1)
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(M2, 0, "buy", "12")
        assert isinstance(info.value.cause, E.KashNetworkError)
        (sent,) = tap.calls("POST", "/v1/trades")
        assert info.value.body == sent.body
        assert info.value.idempotency_key == sent.headers["Idempotency-Key"]
        assert not sim.venue.trades  # dropped before the handler ran
        replay = await kash.replay_trade(info.value)
    assert not replay.idempotent_replay and list(sim.venue.trades) == [replay.trade.id]


async def test_lost_response_then_replay_finds_the_executed_trade(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("lost_response", routes=[TRADES], count=1)
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(M2, 1, "buy", "3", client_request_id="o-9")
        (executed,) = sim.venue.trades  # it executed; only the answer was lost
        replay = await kash.replay_trade(info.value)
    assert replay.idempotent_replay and replay.trade.id == executed
    assert replay.idempotency_key == info.value.idempotency_key


async def test_outcome_unknown_survives_a_later_refusal(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    """The first attempt may have executed; a later 503 refusal does not make the outcome known."""
    sim.arm_fault("internal_error", routes=[TRADES], count=1)
    sim.arm_fault("rate_limit_unavailable", routes=[TRADES], count=1, retry_after=1)
    async with make_client(retry_policy=RetryPolicy(max_retries=1, base_delay=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(M2, 0, "buy", "12")
    assert isinstance(info.value.cause, E.RateLimitUnavailable)
    assert statuses(sim, TRADES) == [500, 503]


async def test_refused_trade_is_not_outcome_unknown(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("rate_limit_unavailable", routes=[TRADES], retry_after=1)
    async with make_client(retry_policy=RetryPolicy(max_retries=2, base_delay=0)) as kash:
        with pytest.raises(E.RateLimitUnavailable):
            await kash.create_trade(M2, 0, "buy", "12")
    assert statuses(sim, TRADES) == [503] * 3 and not sim.venue.trades


async def test_connection_refused_is_not_outcome_unknown(
    make_client: Callable[..., KashClient],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens there
    async with make_client(
        base_url=f"http://127.0.0.1:{port}/v1",
        retry_policy=RetryPolicy(max_retries=1, base_delay=0),
    ) as kash:
        with pytest.raises(E.KashNetworkError) as info:
            await kash.create_trade(M2, 0, "buy", "12")
    assert not isinstance(info.value, E.OutcomeUnknownError) and info.value.unsent


async def test_get_timeout_raises_timeout_error(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    sim.arm_fault("hang", routes=["GET /v1/portfolio"], count=1, hang_s=3.0)
    async with make_client(timeout=0.2, retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.KashTimeoutError):
            await kash.get_portfolio()


async def test_confirm_is_not_retried_after_it_may_have_landed(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    async with make_client("mm") as kash:
        created = await kash.create_trade(M2, 0, "buy", "50000")
        assert created.confirmation is not None
        sim.arm_fault("internal_error", routes=["POST /v1/trades/*/confirm"], count=1)
        with pytest.raises(E.InternalError):
            await kash.confirm_trade(created.trade.id, created.confirmation.token)
        assert statuses(sim, CONFIRM) == [500]  # one attempt: a 500 may have confirmed
        trade = await kash.confirm_trade(created.trade.id, created.confirmation.token)
    assert trade.status == "pending" and statuses(sim, CONFIRM) == [500, 200]


async def test_confirm_is_retried_after_a_limiter_refusal(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    async with make_client("mm") as kash:
        created = await kash.create_trade(M2, 0, "buy", "50000")
        assert created.confirmation is not None
        sim.arm_fault(
            "rate_limit_unavailable", routes=["POST /v1/trades/*/confirm"], count=1, retry_after=1
        )
        trade = await kash.confirm_trade(created.trade.id, created.confirmation.token)
    assert trade.status == "pending" and statuses(sim, CONFIRM) == [503, 200]


async def test_etag_304_reuses_cached_body(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    first = await kash.get_market(M2)
    second = await kash.get_market(M2)
    assert second == first and statuses(sim, MARKET) == [200, 304]
    a, b = tap.calls("GET", f"/v1/markets/{M2}")
    assert "If-None-Match" not in a.headers and b.headers["If-None-Match"].startswith('W/"')

    sim.venue.apply_external_trade(M2, 0, "buy", 500_000_000)  # the pool moves
    third = await kash.get_market(M2)
    assert statuses(sim, MARKET) == [200, 304, 200]
    assert tap.sent[-1].headers["If-None-Match"] == b.headers["If-None-Match"]
    assert third.outcomes[0].probability != first.outcomes[0].probability


async def test_etag_is_scoped_by_query(sim: SimHandle, tap: WireTap, kash: KashClient) -> None:
    await kash.list_markets(status="ACTIVE")
    await kash.list_markets(status="RESOLVED")
    await kash.list_markets(status="ACTIVE")
    assert ["If-None-Match" in s.headers for s in tap.sent] == [False, False, True]
    assert statuses(sim, "GET /v1/markets") == [200, 200, 304]


class RecordingBudget:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def acquire(self, route: str, *, write: bool) -> None:
        self.events.append(("acquire", (route, write)))

    def observe(self, state: RateLimitState) -> None:
        self.events.append(("observe", state))


async def test_rate_limit_state_budget_hooks_and_the_61st_read() -> None:
    """A free key (60 reads/min) on a simulator in virtual time: the 61st read is refused with
    Retry-After 60; the client sleeps on the simulator's clock and the retry goes through."""
    async with run_sim(clock=SimClock(), noise=False) as sim:
        clock = LinkedClock(sim)
        budget = RecordingBudget()
        async with KashClient(
            sim.keys["free"].api_key,
            sim.base_url,
            clock=clock,
            budget=budget,
            retry_policy=RetryPolicy(max_retries=1, base_delay=0.01),
        ) as kash:
            for n in range(60):
                await kash.get_portfolio()
                assert kash.rate_limit is not None and kash.rate_limit.remaining == 59 - n
            start = sim.venue.clock.now()
            await kash.get_portfolio()  # 61st: 429, sleep 60 s of simulator time, then served
            state = kash.rate_limit
            assert state is not None and (state.limit, state.remaining) == (60, 59)
            assert state.reset_epoch_s is not None and state.reset_epoch_s > start

            sim.arm_fault("rate_limit_unavailable", routes=[TRADES], count=1, retry_after=1)
            await kash.create_trade(M2, 0, "buy", "1")

        assert statuses(sim, "GET /v1/portfolio")[-2:] == [429, 304]  # unchanged since read 60
        (slept, _blip) = clock.sleeps
        assert 60.0 <= slept <= 60.01 and sim.venue.clock.now() >= start + 60
        observed = [v for k, v in budget.events if k == "observe"]
        limited = observed[60]
        assert limited.status == 429 and limited.quota_exhausted and limited.retry_after_s == 60
        assert (limited.limit, limited.remaining) == (60, 0)
        blip = observed[-2]
        assert blip.status == 503 and not blip.quota_exhausted and blip.limit is None
        acquires = [v for k, v in budget.events if k == "acquire"]
        assert acquires[-2:] == [(TRADES, True)] * 2
        assert acquires[0] == ("GET /v1/portfolio", False)
        assert [k for k, _ in budget.events] == ["acquire", "observe"] * (len(budget.events) // 2)


async def test_request_signing_is_verified_by_the_simulator(
    sim: SimHandle, tap: WireTap, make_client: Callable[..., KashClient]
) -> None:
    api_key = sim.keys["developer"].api_key
    async with make_client(sign_requests=True) as kash:
        created = await kash.create_trade(M2, 1, "buy", "2.5")  # the simulator checked it
        await kash.get_portfolio()
    post, get = tap.sent
    t = post.headers["X-Kash-Signature"].split(",")[0].removeprefix("t=")
    canonical = f"{t}.POST./v1/trades.".encode() + post.body
    expected = hmac.new(api_key.encode(), canonical, hashlib.sha256).hexdigest()
    assert post.headers["X-Kash-Signature"] == f"t={t},v1={expected}"
    assert "X-Kash-Signature" not in get.headers
    assert created.status_code == 201

    skewed = VirtualSleepClock(skew_s=-600)  # 10 min behind: outside the ±5 min tolerance
    async with make_client(sign_requests=True, clock=skewed) as kash:
        with pytest.raises(E.RequestSignatureInvalid) as err:
            await kash.create_trade(M2, 1, "buy", "2.5")
    assert err.value.status == 401 and err.value.signature_reason == "stale"
    assert statuses(sim, TRADES) == [201, 401] and len(sim.venue.trades) == 1


async def test_errors_raised_by_the_simulator_are_typed(
    sim: SimHandle, make_client: Callable[..., KashClient]
) -> None:
    async with make_client("free") as kash:
        with pytest.raises(E.SpendingLimitExceeded) as cap:
            await kash.create_trade(M2, 0, "buy", "500.000001")
        with pytest.raises(E.OutcomeIndexInvalid):
            await kash.create_trade(M2, 7, "buy", "1")
        sim.venue.freeze_market(M2)
        with pytest.raises(E.MarketNotTradeable) as frozen:
            await kash.create_trade(M2, 0, "buy", "1")
    assert cap.value.cap == "per_trade" and cap.value.status == 409
    assert isinstance(frozen.value, E.KashConflictError)
    assert frozen.value.request_id == served(sim)[-1]["requestId"]
    async with make_client(api_key="kash_test_" + "Z" * 32) as stranger:
        with pytest.raises(E.ApiKeyInvalid) as unknown:
            await stranger.get_portfolio()
    assert unknown.value.status == 401 and not unknown.value.retryable


async def test_missing_scope_is_insufficient_scope() -> None:
    scenario = scenario_dict()
    reader = {**scenario["keys"][0], "name": "reader", "scopes": ["markets:read"]}
    reader["api_key"] = "kash_test_" + "R" * 32
    scenario["keys"].append(reader)
    async with (
        run_sim(scenario, noise=False) as sim,
        KashClient(reader["api_key"], sim.base_url) as kash,
    ):
        await kash.get_market(M2)
        with pytest.raises(E.InsufficientScope) as err:
            await kash.get_quote(M2, 0, "buy", 1_000_000)
    assert err.value.status == 403 and isinstance(err.value, E.KashPermissionError)


async def test_bad_requests_never_leave_the_process(
    sim: SimHandle, tap: WireTap, kash: KashClient
) -> None:
    bad_calls: list[dict[str, object]] = [
        dict(amount="10.1234567"),
        dict(amount=10.5),
        dict(amount="0"),
        dict(amount="-1"),
        dict(amount="1e3"),
        dict(market_id="not-a-uuid"),
        dict(outcome_index=-1),
        dict(side="hold"),
        dict(client_request_id="has space"),
        dict(client_request_id="x" * 129),
        dict(metadata={f"k{i}": "v" for i in range(11)}),
        dict(metadata={"bad key": "v"}),
        dict(metadata={"k": "v" * 501}),
        dict(idempotency_key="no spaces allowed"),
        dict(idempotency_key="k" * 256),
    ]
    for override in bad_calls:
        args: dict[str, object] = dict(market_id=M2, outcome_index=0, side="buy", amount="1")
        args.update(override)
        with pytest.raises(ValueError):
            await kash.create_trade(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await kash.confirm_trade("some-trade", "short")
    with pytest.raises(ValueError):
        await kash.create_redemption(M2, 256)
    assert tap.sent == [] and served(sim) == []


async def test_api_key_never_in_repr_logs_or_errors(
    sim: SimHandle,
    make_client: Callable[..., KashClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.arm_fault("internal_error", routes=["GET /v1/portfolio"], count=2)
    sim.arm_fault("drop_connection", routes=[TRADES], count=2)
    api_key = sim.keys["developer"].api_key
    stranger_key = "kash_test_" + "Z" * 32
    texts: list[str] = []
    async with make_client(retry_policy=RetryPolicy(max_retries=1, base_delay=0)) as kash:
        texts += [repr(kash), str(kash), repr(kash._transport)]
        for call in (kash.get_portfolio(), kash.create_trade(M2, 0, "buy", "1")):
            with pytest.raises(E.KashError) as info:
                await call
            texts += [str(info.value), repr(info.value), repr(info.value.problem)]
            if isinstance(info.value, E.OutcomeUnknownError):
                texts += [str(info.value.cause), repr(info.value.body)]
    async with make_client(api_key=stranger_key) as stranger:
        with pytest.raises(E.ApiKeyInvalid) as refused:
            await stranger.get_portfolio()
        texts += [repr(stranger), str(refused.value), repr(refused.value.problem)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("kash response" in t for t in texts)  # debug logging did happen
    for text in texts:
        for key in (api_key, stranger_key):
            assert key not in text and key[10:] not in text
