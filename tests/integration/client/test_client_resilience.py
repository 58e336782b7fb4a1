"""Errors, retries, idempotency, outcome-unknown, ETags, rate-limit state, signing and secrecy,
all over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from kash_fake_server import (
    API_KEY,
    MARKET_ID,
    TOKEN,
    TRADE_ID,
    FakeKash,
    RecordingClock,
    Reply,
    market_json,
    one,
    problem,
    trade_json,
)

from kashbot.client import KashClient, RateLimitState, RetryPolicy
from kashbot.client import errors as E
from kashbot.client.ratelimit import RateLimitState as _RLS

# (code, HTTP status, expected class, family, retryable) — every code in kash-api.md §15.
CATALOGUE: list[tuple[str, int, type[E.KashError], type[E.KashError], bool]] = [
    ("VALIDATION_FAILED", 400, E.ValidationFailed, E.KashValidationError, False),
    ("AMOUNT_TOO_LARGE", 400, E.AmountTooLarge, E.KashValidationError, False),
    ("OUTCOME_INDEX_INVALID", 400, E.OutcomeIndexInvalid, E.KashValidationError, False),
    (
        "IDEMPOTENCY_KEY_FORMAT_INVALID",
        400,
        E.IdempotencyKeyFormatInvalid,
        E.KashValidationError,
        False,
    ),
    ("IDEMPOTENCY_KEY_TOO_LONG", 400, E.IdempotencyKeyTooLong, E.KashValidationError, False),
    ("CHAIN_NOT_SUPPORTED", 400, E.ChainNotSupported, E.KashValidationError, False),
    ("API_KEY_MISSING", 401, E.ApiKeyMissing, E.KashAuthError, False),
    ("API_KEY_MALFORMED", 401, E.ApiKeyMalformed, E.KashAuthError, False),
    ("API_KEY_INVALID", 401, E.ApiKeyInvalid, E.KashAuthError, False),
    ("API_KEY_REVOKED", 401, E.ApiKeyRevoked, E.KashAuthError, False),
    ("API_KEY_EXPIRED", 401, E.ApiKeyExpired, E.KashAuthError, False),
    ("REQUEST_SIGNATURE_INVALID", 401, E.RequestSignatureInvalid, E.KashAuthError, False),
    ("INSUFFICIENT_SCOPE", 403, E.InsufficientScope, E.KashPermissionError, False),
    ("IP_NOT_ALLOWED", 403, E.IpNotAllowed, E.KashPermissionError, False),
    ("MARKET_NOT_FOUND", 404, E.MarketNotFound, E.KashNotFoundError, False),
    ("RESOURCE_NOT_FOUND", 404, E.ResourceNotFound, E.KashNotFoundError, False),
    ("ACTIVE_KEY_LIMIT_REACHED", 409, E.ActiveKeyLimitReached, E.KashConflictError, False),
    ("CLIENT_REQUEST_ID_CONFLICT", 409, E.ClientRequestIdConflict, E.KashConflictError, False),
    ("IDEMPOTENCY_KEY_CONFLICT", 409, E.IdempotencyKeyConflict, E.KashConflictError, False),
    ("SPENDING_LIMIT_EXCEEDED", 409, E.SpendingLimitExceeded, E.KashConflictError, False),
    ("INSUFFICIENT_BALANCE", 409, E.InsufficientBalance, E.KashConflictError, False),
    ("MARKET_NOT_TRADEABLE", 409, E.MarketNotTradeable, E.KashConflictError, False),
    ("MARKET_NOT_TRADEABLE", 422, E.MarketNotTradeable, E.KashConflictError, False),
    (
        "SMART_ACCOUNT_NOT_PROVISIONED",
        409,
        E.SmartAccountNotProvisioned,
        E.KashConflictError,
        False,
    ),
    (
        "WALLET_DELEGATION_NOT_ENABLED",
        409,
        E.WalletDelegationNotEnabled,
        E.KashConflictError,
        False,
    ),
    (
        "TRADE_NOT_AWAITING_CONFIRMATION",
        409,
        E.TradeNotAwaitingConfirmation,
        E.KashConflictError,
        False,
    ),
    ("CONFIRMATION_TOKEN_INVALID", 409, E.ConfirmationTokenInvalid, E.KashConflictError, False),
    ("CONFIRMATION_TOKEN_USED", 409, E.ConfirmationTokenUsed, E.KashConflictError, False),
    ("CONFIRMATION_EXPIRED", 409, E.ConfirmationExpired, E.KashConflictError, False),
    ("API_VERSION_UNSUPPORTED", 410, E.ApiVersionUnsupported, E.KashGoneError, False),
    ("IDEMPOTENCY_KEY_EXPIRED", 410, E.IdempotencyKeyExpired, E.KashGoneError, False),
    ("RATE_LIMIT_EXCEEDED", 429, E.RateLimitExceeded, E.KashRateLimitError, True),
    (
        "WEBHOOK_REPLAY_LIMIT_REACHED",
        429,
        E.WebhookReplayLimitReached,
        E.KashRateLimitError,
        False,
    ),
    (
        "WEBHOOK_SECRET_ROTATION_COOLDOWN",
        429,
        E.WebhookSecretRotationCooldown,
        E.KashRateLimitError,
        False,
    ),
    ("INTERNAL_ERROR", 500, E.InternalError, E.KashServerError, True),
    ("ROUTE_DISABLED", 503, E.RouteDisabled, E.KashUnavailableError, True),
    (
        "API_TRADE_PROCESSING_HALTED",
        503,
        E.ApiTradeProcessingHalted,
        E.KashUnavailableError,
        True,
    ),
    ("DEPENDENCY_UNAVAILABLE", 503, E.DependencyUnavailable, E.KashUnavailableError, True),
    ("RATE_LIMIT_UNAVAILABLE", 503, E.RateLimitUnavailable, E.KashUnavailableError, True),
    ("REQUEST_TIMEOUT", 504, E.RequestTimeout, E.KashServerError, True),
]


@pytest.mark.parametrize(("code", "status", "cls", "family", "retryable"), CATALOGUE)
async def test_every_documented_code_maps_to_its_class(
    kash_server: FakeKash,
    make_client: Callable[..., KashClient],
    code: str,
    status: int,
    cls: type[E.KashError],
    family: type[E.KashError],
    retryable: bool,
) -> None:
    kash_server.always("GET", f"/v1/markets/{MARKET_ID}", problem(status, code))
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(cls) as info:
            await kash.get_market(MARKET_ID)
    err = info.value
    assert isinstance(err, family) and isinstance(err, E.KashError)
    assert err.code == code and err.status == status and err.retryable is retryable
    assert err.request_id == "req_test"  # the X-Request-Id header wins over the body
    assert err.detail == f"detail for {code}" and err.problem["code"] == code
    assert code in str(err)


@pytest.mark.parametrize(
    ("status", "family"),
    [
        (400, E.KashValidationError),
        (401, E.KashAuthError),
        (403, E.KashPermissionError),
        (404, E.KashNotFoundError),
        (409, E.KashConflictError),
        (410, E.KashGoneError),
        (422, E.KashUnprocessableError),
        (429, E.KashRateLimitError),
        (500, E.KashServerError),
        (502, E.KashServerError),
        (503, E.KashUnavailableError),
        (504, E.KashGatewayTimeoutError),
        (418, E.KashError),
    ],
)
async def test_unknown_codes_fall_back_by_status(
    kash_server: FakeKash,
    make_client: Callable[..., KashClient],
    status: int,
    family: type[E.KashError],
) -> None:
    kash_server.always("GET", "/v1/portfolio", problem(status, "SOMETHING_NEW"))
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.KashError) as info:
            await kash.get_portfolio()
    assert type(info.value) is family
    assert info.value.code == "SOMETHING_NEW" and info.value.status == status


async def test_non_json_error_body(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.always("GET", "/v1/portfolio", Reply(502, body=b"<html>bad gateway</html>"))
    with pytest.raises(E.KashServerError) as info:
        await kash.get_portfolio()
    assert info.value.status == 502 and info.value.code is None
    assert len(kash_server.requests) == 4  # 1 + max_retries


@pytest.mark.parametrize("nested", [False, True])
async def test_extension_members_top_level_or_nested(
    kash_server: FakeKash, make_client: Callable[..., KashClient], nested: bool
) -> None:
    def ext(**members: str) -> dict[str, object]:
        return {"extensions": members} if nested else dict(members)

    kash_server.script(
        "POST", "/v1/trades", problem(409, "SPENDING_LIMIT_EXCEEDED", **ext(cap="daily_volume"))
    )
    kash_server.script(
        "GET",
        f"/v1/markets/{MARKET_ID}/quote",
        problem(503, "ROUTE_DISABLED", **ext(flag="api-quotes-read"), retry_after=61),
    )
    kash_server.script(
        "POST",
        "/v1/trades",
        problem(401, "REQUEST_SIGNATURE_INVALID", **ext(signatureReason="stale")),
    )
    async with make_client() as kash:
        with pytest.raises(E.SpendingLimitExceeded) as cap:
            await kash.create_trade(MARKET_ID, 0, "buy", "600")
        with pytest.raises(E.RouteDisabled) as flag:
            await kash.get_quote(MARKET_ID, 0, "buy", 1_000_000)
        with pytest.raises(E.RequestSignatureInvalid) as sig:
            await kash.create_trade(MARKET_ID, 0, "buy", "1")
    assert cap.value.cap == "daily_volume"
    assert flag.value.flag == "api-quotes-read" and flag.value.retry_after == 61
    assert sig.value.signature_reason == "stale"


async def test_retry_after_seconds_is_honoured(
    kash_server: FakeKash, kash: KashClient, clock: RecordingClock
) -> None:
    kash_server.script(
        "GET",
        f"/v1/markets/{MARKET_ID}",
        problem(429, "RATE_LIMIT_EXCEEDED", retry_after=2),
        Reply(json=one("market", market_json())),
    )
    market = await kash.get_market(MARKET_ID)
    assert market.id == MARKET_ID
    assert len(kash_server.requests) == 2
    (delay,) = clock.sleeps
    assert 2.0 <= delay <= 2.0 + 0.01  # Retry-After plus at most base_delay of jitter


async def test_retry_after_http_date(
    kash_server: FakeKash, kash: KashClient, clock: RecordingClock
) -> None:
    when = datetime.fromtimestamp(clock.now() + 7, tz=UTC)
    kash_server.script(
        "GET",
        "/v1/portfolio",
        Reply(
            503,
            json={"code": "DEPENDENCY_UNAVAILABLE", "status": 503},
            headers={"Retry-After": format_datetime(when, usegmt=True)},
        ),
        Reply(json=one("portfolio", {"activePositions": 0})),
    )
    await kash.get_portfolio()
    (delay,) = clock.sleeps
    assert 7.0 <= delay <= 7.01


async def test_retry_after_above_cap_is_surfaced_not_slept(
    kash_server: FakeKash, kash: KashClient, clock: RecordingClock
) -> None:
    kash_server.always(
        "POST", "/v1/trades", problem(503, "API_TRADE_PROCESSING_HALTED", retry_after=300)
    )
    with pytest.raises(E.ApiTradeProcessingHalted) as info:
        await kash.create_trade(MARKET_ID, 0, "buy", "5")
    assert info.value.retry_after == 300
    assert clock.sleeps == [] and len(kash_server.requests) == 1


async def test_backoff_full_jitter_is_capped(
    kash_server: FakeKash, make_client: Callable[..., KashClient], clock: RecordingClock
) -> None:
    kash_server.always("GET", "/v1/portfolio", problem(500, "INTERNAL_ERROR"))
    policy = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=3.0)
    async with make_client(retry_policy=policy) as kash:
        with pytest.raises(E.InternalError):
            await kash.get_portfolio()
    assert len(kash_server.requests) == 6 and len(clock.sleeps) == 5
    for n, delay in enumerate(clock.sleeps):
        assert 0.0 <= delay <= min(3.0, 1.0 * 2**n)


async def test_terminal_errors_are_not_retried(
    kash_server: FakeKash, kash: KashClient, clock: RecordingClock
) -> None:
    kash_server.always("POST", "/v1/trades", problem(409, "INSUFFICIENT_BALANCE"))
    with pytest.raises(E.InsufficientBalance):
        await kash.create_trade(MARKET_ID, 0, "buy", "5")
    assert len(kash_server.requests) == 1 and clock.sleeps == []


async def test_idempotent_post_retry_reuses_key_and_bytes(
    kash_server: FakeKash, kash: KashClient
) -> None:
    kash_server.script(
        "POST",
        "/v1/trades",
        problem(500, "INTERNAL_ERROR"),
        problem(503, "RATE_LIMIT_UNAVAILABLE", retry_after=1),
        problem(429, "RATE_LIMIT_EXCEEDED", retry_after=1),
        Reply(201, json=one("trade", trade_json())),
    )
    created = await kash.create_trade(
        MARKET_ID, 0, "buy", "10.5", client_request_id="order-1", metadata={"a": "b"}
    )
    calls = kash_server.calls("POST", "/v1/trades")
    assert len(calls) == 4
    keys = {c.headers["Idempotency-Key"] for c in calls}
    assert keys == {created.idempotency_key}
    assert len({c.body for c in calls}) == 1


async def test_outcome_unknown_on_timeout(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    kash_server.always("POST", "/v1/trades", Reply(201, json={}, delay=5.0))
    async with make_client(
        timeout=0.2, retry_policy=RetryPolicy(max_retries=1, base_delay=0)
    ) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(MARKET_ID, 0, "buy", "12", idempotency_key="ord-77")
    err = info.value
    calls = kash_server.calls("POST", "/v1/trades")
    assert len(calls) == 2
    assert err.idempotency_key == "ord-77"
    assert all(c.headers["Idempotency-Key"] == "ord-77" for c in calls)
    assert err.body == calls[0].body == calls[1].body
    assert isinstance(err.cause, E.KashTimeoutError)


async def test_outcome_unknown_on_dropped_connection(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    kash_server.always("POST", "/v1/trades", Reply(drop=True))
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(MARKET_ID, 0, "buy", "12")
    assert isinstance(info.value.cause, E.KashNetworkError)
    assert info.value.body == kash_server.requests[0].body
    assert info.value.idempotency_key == kash_server.requests[0].headers["Idempotency-Key"]


async def test_outcome_unknown_survives_a_later_refusal(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    """First attempt may have executed; a later 503 refusal does not make the outcome known."""
    kash_server.script(
        "POST",
        "/v1/trades",
        problem(500, "INTERNAL_ERROR"),
        problem(503, "RATE_LIMIT_UNAVAILABLE", retry_after=1),
    )
    async with make_client(retry_policy=RetryPolicy(max_retries=1, base_delay=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(MARKET_ID, 0, "buy", "12")
    assert isinstance(info.value.cause, E.RateLimitUnavailable)


async def test_refused_trade_is_not_outcome_unknown(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    kash_server.always("POST", "/v1/trades", problem(503, "RATE_LIMIT_UNAVAILABLE", retry_after=1))
    async with make_client(retry_policy=RetryPolicy(max_retries=2, base_delay=0)) as kash:
        with pytest.raises(E.RateLimitUnavailable):
            await kash.create_trade(MARKET_ID, 0, "buy", "12")
    assert len(kash_server.requests) == 3


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
            await kash.create_trade(MARKET_ID, 0, "buy", "12")
    assert not isinstance(info.value, E.OutcomeUnknownError) and info.value.unsent


async def test_get_timeout_raises_timeout_error(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    kash_server.always("GET", "/v1/portfolio", Reply(json={}, delay=5.0))
    async with make_client(timeout=0.2, retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.KashTimeoutError):
            await kash.get_portfolio()


async def test_confirm_is_not_retried_after_it_may_have_landed(
    kash_server: FakeKash, kash: KashClient
) -> None:
    gated = one("trade", trade_json(status="pending_confirmation"))
    kash_server.always("GET", f"/v1/trades/{TRADE_ID}", Reply(json=gated))
    kash_server.script(
        "POST",
        f"/v1/trades/{TRADE_ID}/confirm",
        problem(500, "INTERNAL_ERROR"),
        Reply(json=one("trade", trade_json())),
    )
    with pytest.raises(E.InternalError):
        await kash.confirm_trade(TRADE_ID, TOKEN)
    assert len(kash_server.calls("POST", f"/v1/trades/{TRADE_ID}/confirm")) == 1


async def test_confirm_is_retried_after_a_limiter_refusal(
    kash_server: FakeKash, kash: KashClient
) -> None:
    gated = one("trade", trade_json(status="pending_confirmation"))
    kash_server.always("GET", f"/v1/trades/{TRADE_ID}", Reply(json=gated))
    kash_server.script(
        "POST",
        f"/v1/trades/{TRADE_ID}/confirm",
        problem(503, "RATE_LIMIT_UNAVAILABLE", retry_after=1),
        Reply(json=one("trade", trade_json())),
    )
    trade = await kash.confirm_trade(TRADE_ID, TOKEN)
    assert trade.status == "pending"
    assert len(kash_server.calls("POST", f"/v1/trades/{TRADE_ID}/confirm")) == 2


async def test_etag_304_reuses_cached_body(kash_server: FakeKash, kash: KashClient) -> None:
    path = f"/v1/markets/{MARKET_ID}"
    kash_server.script(
        "GET",
        path,
        Reply(json=one("market", market_json()), headers={"ETag": 'W/"v1"'}),
        Reply(304, headers={"ETag": 'W/"v1"'}),
    )
    first = await kash.get_market(MARKET_ID)
    second = await kash.get_market(MARKET_ID)
    assert second == first and second.title == "Will it rain?"
    calls = kash_server.calls("GET", path)
    assert "If-None-Match" not in calls[0].headers
    assert calls[1].headers["If-None-Match"] == 'W/"v1"'


async def test_etag_is_scoped_by_query(kash_server: FakeKash, kash: KashClient) -> None:
    kash_server.script(
        "GET",
        "/v1/markets",
        Reply(json={"data": [], "_meta": {}}, headers={"ETag": 'W/"a"'}),
        Reply(json={"data": [], "_meta": {}}),
    )
    await kash.list_markets(status="ACTIVE")
    await kash.list_markets(status="RESOLVED")
    assert "If-None-Match" not in kash_server.requests[1].headers


class RecordingBudget:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def acquire(self, route: str, *, write: bool) -> None:
        self.events.append(("acquire", (route, write)))

    def observe(self, state: _RLS) -> None:
        self.events.append(("observe", state))


async def test_rate_limit_state_and_budget_hooks(
    kash_server: FakeKash, make_client: Callable[..., KashClient], clock: RecordingClock
) -> None:
    headers = {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1780000030000",  # epoch ms: normalised to seconds
    }
    limited = problem(429, "RATE_LIMIT_EXCEEDED", retry_after=3)
    limited.headers.update(headers)
    kash_server.script(
        "GET",
        "/v1/portfolio",
        limited,
        Reply(
            json=one("portfolio", {}),
            headers={**headers, "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "1780000060"},
        ),
    )
    kash_server.script(
        "POST",
        "/v1/trades",
        problem(503, "RATE_LIMIT_UNAVAILABLE", retry_after=1),
        Reply(201, json=one("trade", trade_json())),
    )
    budget = RecordingBudget()
    async with make_client(budget=budget) as kash:
        await kash.get_portfolio()
        state = kash.rate_limit
        assert isinstance(state, RateLimitState)
        assert (state.limit, state.remaining, state.reset_epoch_s) == (60, 59, 1_780_000_060)
        await kash.create_trade(MARKET_ID, 0, "buy", "1")
    kinds = [k for k, _ in budget.events]
    assert kinds == ["acquire", "observe"] * 4
    acquires = [v for k, v in budget.events if k == "acquire"]
    assert acquires == [("GET /v1/portfolio", False)] * 2 + [("POST /v1/trades", True)] * 2
    observed = [v for k, v in budget.events if k == "observe"]
    assert isinstance(observed[0], _RLS) and isinstance(observed[2], _RLS)
    assert observed[0].quota_exhausted and observed[0].reset_epoch_s == 1_780_000_030
    assert observed[0].retry_after_s == 3 and observed[0].status == 429
    blip = observed[2]
    assert blip.status == 503 and not blip.quota_exhausted and blip.limit is None


async def test_request_signing_header(
    kash_server: FakeKash, make_client: Callable[..., KashClient], clock: RecordingClock
) -> None:
    kash_server.script("POST", "/v1/trades", Reply(201, json=one("trade", trade_json())))
    kash_server.script("GET", "/v1/portfolio", Reply(json=one("portfolio", {})))
    async with make_client(sign_requests=True) as kash:
        await kash.create_trade(MARKET_ID, 1, "buy", "2.5")
        await kash.get_portfolio()
    post, get = kash_server.requests
    t = clock.now_ms()
    canonical = f"{t}.POST./v1/trades.".encode() + post.body
    expected = hmac.new(API_KEY.encode(), canonical, hashlib.sha256).hexdigest()
    assert post.headers["X-Kash-Signature"] == f"t={t},v1={expected}"
    assert "X-Kash-Signature" not in get.headers


async def test_bad_requests_never_leave_the_process(
    kash_server: FakeKash, kash: KashClient
) -> None:
    bad_calls = [
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
        args: dict[str, object] = dict(market_id=MARKET_ID, outcome_index=0, side="buy", amount="1")
        args.update(override)
        with pytest.raises(ValueError):
            await kash.create_trade(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await kash.confirm_trade(TRADE_ID, "short")
    with pytest.raises(ValueError):
        await kash.create_redemption(MARKET_ID, 256)
    assert kash_server.requests == []


async def test_api_key_never_in_repr_logs_or_errors(
    kash_server: FakeKash,
    make_client: Callable[..., KashClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kash_server.script(
        "GET", "/v1/portfolio", problem(500, "INTERNAL_ERROR"), problem(401, "API_KEY_INVALID")
    )
    kash_server.always("POST", "/v1/trades", Reply(drop=True))
    texts: list[str] = []
    async with make_client(retry_policy=RetryPolicy(max_retries=1, base_delay=0)) as kash:
        texts += [repr(kash), str(kash), repr(kash._transport)]
        for call in (kash.get_portfolio(), kash.create_trade(MARKET_ID, 0, "buy", "1")):
            with pytest.raises(E.KashError) as info:
                await call
            texts += [str(info.value), repr(info.value), repr(info.value.problem)]
            if isinstance(info.value, E.OutcomeUnknownError):
                texts += [str(info.value.cause), repr(info.value.body)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("kash response" in t for t in texts)  # debug logging did happen
    for text in texts:
        assert API_KEY not in text
        assert API_KEY[10:] not in text


async def test_replay_trade_resolves_outcome_unknown(
    kash_server: FakeKash, make_client: Callable[..., KashClient]
) -> None:
    kash_server.script("POST", "/v1/trades", Reply(drop=True))
    kash_server.script(
        "POST",
        "/v1/trades",
        Reply(200, json=one("trade", trade_json()), headers={"Idempotent-Replay": "true"}),
    )
    async with make_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.OutcomeUnknownError) as info:
            await kash.create_trade(MARKET_ID, 0, "buy", "12", client_request_id="o-9")
        created = await kash.replay_trade(info.value)
    first, second = kash_server.calls("POST", "/v1/trades")
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert created.idempotent_replay and created.idempotency_key == info.value.idempotency_key


async def test_deprecation_warning_once_per_route(
    kash_server: FakeKash, kash: KashClient, caplog: pytest.LogCaptureFixture
) -> None:
    kash_server.always(
        "GET", "/v1/health", Reply(json={}, headers={"Deprecation": "true", "Sunset": "x"})
    )
    await kash.health()
    await kash.health()
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1
