"""Wire contract, errors: the client against a scripted peer on 127.0.0.1.

Why a scripted peer and not the simulator: these tests feed the client problem+json responses the
simulator never produces on purpose -- every one of the 40 documented codes of kash-api.md §15
(including account/chain states no scenario reaches), codes Kash has not documented yet, a non-JSON
error page from a proxy, and the `cap`/`flag`/`signatureReason` members both at the top level and
under `extensions` (Kash's docs show both shapes; the simulator emits one). The behaviour of the
same errors as the simulator really raises them is tested in test_client_sim_resilience.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kash_fake_server import MARKET_ID, FakeKash, Reply, problem

from kashbot.client import KashClient, RetryPolicy
from kashbot.client import errors as E

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
    scripted_server: FakeKash,
    make_scripted_client: Callable[..., KashClient],
    code: str,
    status: int,
    cls: type[E.KashError],
    family: type[E.KashError],
    retryable: bool,
) -> None:
    scripted_server.always("GET", f"/v1/markets/{MARKET_ID}", problem(status, code))
    async with make_scripted_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
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
    scripted_server: FakeKash,
    make_scripted_client: Callable[..., KashClient],
    status: int,
    family: type[E.KashError],
) -> None:
    scripted_server.always("GET", "/v1/portfolio", problem(status, "SOMETHING_NEW"))
    async with make_scripted_client(retry_policy=RetryPolicy(max_retries=0)) as kash:
        with pytest.raises(E.KashError) as info:
            await kash.get_portfolio()
    assert type(info.value) is family
    assert info.value.code == "SOMETHING_NEW" and info.value.status == status


async def test_non_json_error_body(scripted_server: FakeKash, scripted_kash: KashClient) -> None:
    scripted_server.always("GET", "/v1/portfolio", Reply(502, body=b"<html>bad gateway</html>"))
    with pytest.raises(E.KashServerError) as info:
        await scripted_kash.get_portfolio()
    assert info.value.status == 502 and info.value.code is None
    assert len(scripted_server.requests) == 4  # 1 + max_retries


@pytest.mark.parametrize("nested", [False, True])
async def test_extension_members_top_level_or_nested(
    scripted_server: FakeKash, make_scripted_client: Callable[..., KashClient], nested: bool
) -> None:
    def ext(**members: str) -> dict[str, object]:
        return {"extensions": members} if nested else dict(members)

    scripted_server.script(
        "POST", "/v1/trades", problem(409, "SPENDING_LIMIT_EXCEEDED", **ext(cap="daily_volume"))
    )
    scripted_server.script(
        "GET",
        f"/v1/markets/{MARKET_ID}/quote",
        problem(503, "ROUTE_DISABLED", **ext(flag="api-quotes-read"), retry_after=61),
    )
    scripted_server.script(
        "POST",
        "/v1/trades",
        problem(401, "REQUEST_SIGNATURE_INVALID", **ext(signatureReason="stale")),
    )
    async with make_scripted_client() as kash:
        with pytest.raises(E.SpendingLimitExceeded) as cap:
            await kash.create_trade(MARKET_ID, 0, "buy", "600")
        with pytest.raises(E.RouteDisabled) as flag:
            await kash.get_quote(MARKET_ID, 0, "buy", 1_000_000)
        with pytest.raises(E.RequestSignatureInvalid) as sig:
            await kash.create_trade(MARKET_ID, 0, "buy", "1")
    assert cap.value.cap == "daily_volume"
    assert flag.value.flag == "api-quotes-read" and flag.value.retry_after == 61
    assert sig.value.signature_reason == "stale"
