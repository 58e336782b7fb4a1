"""Pure tests: money and model parsing, request checks, error mapping, config, rate limits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from kashbot.client import errors as E
from kashbot.client.config import (
    PRODUCTION_BASE_URL,
    STAGING_BASE_URL,
    KashConfigError,
    resolve_settings,
)
from kashbot.client.models import (
    Market,
    Position,
    Prediction,
    Quote,
    Trade,
    TradeRequest,
    amount_to_wire,
    check_idempotency_key,
)
from kashbot.client.ratelimit import parse_reset, parse_retry_after, rate_limit_from_headers

WAD = 10**18
LIVE = "kash_live_" + "Q" * 32
TEST = "kash_test_" + "a1" * 16
MARKET_ID = "3f2b8c1e-6a4d-4e8b-9c2f-1a2b3c4d5e6f"


# --- money and models ---------------------------------------------------------------------------


def test_wad_strings_parse_exactly_beyond_float_precision() -> None:
    p = Position.model_validate(
        {
            "marketId": "m",
            "outcomeIndex": 0,
            "shares": "123456789012345678901234567",
            "costBasisAtomic": "1000001",
        }
    )
    assert p.shares == 123_456_789_012_345_678_901_234_567
    assert p.cost_basis_atomic == 1_000_001
    assert p.model_dump(mode="json", by_alias=True)["shares"] == "123456789012345678901234567"


@pytest.mark.parametrize("bad", ["1.0", "1e18", 1.5, True, "", " 1", "0x10"])
def test_integer_fields_refuse_non_integers(bad: object) -> None:
    with pytest.raises(ValidationError):
        Position.model_validate(
            {"marketId": "m", "outcomeIndex": 0, "shares": bad, "costBasisAtomic": "1"}
        )


def test_trade_amount_is_decimal_and_rejects_7dp() -> None:
    base = {"id": "t", "marketId": "m", "outcomeIndex": 0, "side": "buy", "status": "pending"}
    trade = Trade.model_validate({**base, "amount": "0.000001"})
    assert trade.amount == Decimal("0.000001") and trade.amount_atomic == 1
    assert trade.metadata == {}
    for bad in ("0.0000001", 10.5, "1e2", "-1"):
        with pytest.raises(ValidationError):
            Trade.model_validate({**base, "amount": bad})
    # JSON numbers arrive as Decimal (parse_float=Decimal): still at most 6 dp, never negative
    assert (
        Trade.model_validate({**base, "amount": Decimal("10.500000")}).amount_atomic == 10_500_000
    )
    for bad_dec in (Decimal("1.0000001"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValidationError):
            Trade.model_validate({**base, "amount": bad_dec})


@pytest.mark.parametrize("key", ["tokensIn", "tokensOut"])
def test_trade_token_counts_parse_strictly(key: str) -> None:
    base = {
        "id": "t",
        "marketId": "m",
        "outcomeIndex": 0,
        "side": "sell",
        "status": "completed",
        "amount": "5",
    }
    field = "tokens_in" if key == "tokensIn" else "tokens_out"
    trade = Trade.model_validate({**base, key: "123456789012345678901234567"})
    assert getattr(trade, field) == 123_456_789_012_345_678_901_234_567
    for bad in ("1.0", "1e18", 1.5, True):
        with pytest.raises(ValidationError):
            Trade.model_validate({**base, key: bad})


def test_trade_without_tokens_in_is_none() -> None:
    """Kash documents no tokensIn (§18 item 3): its absence is the normal live case."""
    base = {"id": "t", "marketId": "m", "outcomeIndex": 0, "side": "sell", "status": "completed"}
    assert Trade.model_validate({**base, "amount": "5"}).tokens_in is None


def test_trade_status_helpers() -> None:
    base = {"id": "t", "marketId": "m", "outcomeIndex": 0, "side": "buy", "amount": "1"}
    assert Trade.model_validate({**base, "status": "pending_confirmation"}).awaiting_confirmation
    assert Trade.model_validate({**base, "status": "executing"}).in_flight
    assert Trade.model_validate({**base, "status": "rejected"}).terminal


def test_market_probability_number_becomes_exact_decimal() -> None:
    market = Market.model_validate(
        {
            "id": "m",
            "outcomeCount": 3,
            "outcomes": [
                {"index": 0, "label": "A", "probability": 0.1},
                {"index": 1, "label": "B", "probability": 0.2},
                {"index": 2, "label": "C", "probability": 0.7},
            ],
            "unknownNewField": [1, 2],
        }
    )
    probs = [o.probability for o in market.outcomes]
    assert probs == [Decimal("0.1"), Decimal("0.2"), Decimal("0.7")]
    assert sum(p for p in probs if p is not None) == Decimal("1.0")


def test_models_are_frozen() -> None:
    market = Market.model_validate({"id": "m", "outcomeCount": 2})
    with pytest.raises(ValidationError):
        market.id = "other"  # type: ignore[misc]


def test_sell_quote_and_prediction() -> None:
    q = Quote.model_validate(
        {
            "outcomeIndex": 1,
            "action": "sell",
            "tokensIn": str(5 * WAD),
            "usdcOut": "2012345",
            "grossRelease": "2032668000000000000",
            "pAfter": ["1", str(WAD - 1)],
            "qAfter": [str(WAD // 2), str(WAD // 2)],
            "effectivePrice": 4.0e-13,
            "impliedProbability": None,
        }
    )
    assert q.usdc_out == 2_012_345 and q.tokens_in == 5 * WAD and q.implied_probability is None
    pred = Prediction.model_validate(
        {"id": "p", "marketId": "m", "outcomeIndex": 0, "side": "buy", "usdcIn": "1000000"}
    )
    assert pred.usdc_in == 1_000_000 and pred.tokens_out is None


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        (Decimal("10"), "10"),
        (Decimal("10.50"), "10.5"),
        ("0.000001", "0.000001"),
        ("25000.000000", "25000"),
        (7, "7"),
    ],
)
def test_amount_to_wire(given: Decimal | str | int, wire: str) -> None:
    assert amount_to_wire(given) == wire


@pytest.mark.parametrize(
    "bad", [Decimal("0.0000001"), "1.1234567", 1.5, "0", Decimal("NaN"), "-3", "1e3"]
)
def test_amount_to_wire_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        amount_to_wire(bad)  # type: ignore[arg-type]


def test_trade_request_is_strict_and_names_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        TradeRequest(market_id=MARKET_ID, outcome_index=0, amount="1", side="buy", extra="x")  # type: ignore[call-arg]
    assert "extra" in str(info.value)
    with pytest.raises(ValidationError) as info:
        TradeRequest(market_id=MARKET_ID, outcome_index=True, amount="1", side="buy")
    assert "outcome_index" in str(info.value)
    with pytest.raises(ValidationError) as info:
        TradeRequest(market_id="nope", outcome_index=0, amount="1", side="buy")
    assert "marketId" in str(info.value)
    req = TradeRequest(
        market_id=MARKET_ID, outcome_index=2, amount="1.5", side="sell", metadata={"a.b-c_d": "v"}
    )
    assert req.wire() == {
        "marketId": MARKET_ID,
        "outcomeIndex": 2,
        "amount": "1.5",
        "side": "sell",
        "metadata": {"a.b-c_d": "v"},
    }


def test_idempotency_key_format() -> None:
    assert check_idempotency_key("order:42_a-b.c") == "order:42_a-b.c"
    for bad in ("", "x" * 256, "with space", "slash/no"):
        with pytest.raises(ValueError):
            check_idempotency_key(bad)


# --- error mapping --------------------------------------------------------------------------------


def test_error_mapping_by_code_then_status() -> None:
    err = E.error_from_problem(
        422, {"code": "MARKET_NOT_TRADEABLE", "title": "t", "detail": "frozen"}
    )
    assert type(err) is E.MarketNotTradeable and err.status == 422 and err.detail == "frozen"
    assert type(E.error_from_problem(409, {"code": "NEW_THING"})) is E.KashConflictError
    assert type(E.error_from_problem(502, None)) is E.KashServerError
    assert type(E.error_from_problem(599, {})) is E.KashServerError
    assert type(E.error_from_problem(418, {"code": 7})) is E.KashError


# Every documented code and its class, written out: a class's code comes from its name, so a
# renamed class must fail here rather than silently change the code it answers to.
DOCUMENTED_CODES: dict[str, type[E.KashError]] = {
    "VALIDATION_FAILED": E.ValidationFailed,
    "AMOUNT_TOO_LARGE": E.AmountTooLarge,
    "OUTCOME_INDEX_INVALID": E.OutcomeIndexInvalid,
    "IDEMPOTENCY_KEY_FORMAT_INVALID": E.IdempotencyKeyFormatInvalid,
    "IDEMPOTENCY_KEY_TOO_LONG": E.IdempotencyKeyTooLong,
    "CHAIN_NOT_SUPPORTED": E.ChainNotSupported,
    "API_KEY_MISSING": E.ApiKeyMissing,
    "API_KEY_MALFORMED": E.ApiKeyMalformed,
    "API_KEY_INVALID": E.ApiKeyInvalid,
    "API_KEY_REVOKED": E.ApiKeyRevoked,
    "API_KEY_EXPIRED": E.ApiKeyExpired,
    "REQUEST_SIGNATURE_INVALID": E.RequestSignatureInvalid,
    "INSUFFICIENT_SCOPE": E.InsufficientScope,
    "IP_NOT_ALLOWED": E.IpNotAllowed,
    "MARKET_NOT_FOUND": E.MarketNotFound,
    "RESOURCE_NOT_FOUND": E.ResourceNotFound,
    "ACTIVE_KEY_LIMIT_REACHED": E.ActiveKeyLimitReached,
    "CLIENT_REQUEST_ID_CONFLICT": E.ClientRequestIdConflict,
    "IDEMPOTENCY_KEY_CONFLICT": E.IdempotencyKeyConflict,
    "SPENDING_LIMIT_EXCEEDED": E.SpendingLimitExceeded,
    "INSUFFICIENT_BALANCE": E.InsufficientBalance,
    "MARKET_NOT_TRADEABLE": E.MarketNotTradeable,
    "SMART_ACCOUNT_NOT_PROVISIONED": E.SmartAccountNotProvisioned,
    "POSITION_NOT_CLAIMABLE": E.PositionNotClaimable,
    "REDEMPTIONS_NOT_ENABLED": E.RedemptionsNotEnabled,
    "WALLET_DELEGATION_NOT_ENABLED": E.WalletDelegationNotEnabled,
    "TRADE_NOT_AWAITING_CONFIRMATION": E.TradeNotAwaitingConfirmation,
    "CONFIRMATION_TOKEN_INVALID": E.ConfirmationTokenInvalid,
    "CONFIRMATION_TOKEN_USED": E.ConfirmationTokenUsed,
    "CONFIRMATION_EXPIRED": E.ConfirmationExpired,
    "API_VERSION_UNSUPPORTED": E.ApiVersionUnsupported,
    "IDEMPOTENCY_KEY_EXPIRED": E.IdempotencyKeyExpired,
    "RATE_LIMIT_EXCEEDED": E.RateLimitExceeded,
    "WEBHOOK_REPLAY_LIMIT_REACHED": E.WebhookReplayLimitReached,
    "WEBHOOK_SECRET_ROTATION_COOLDOWN": E.WebhookSecretRotationCooldown,
    "INTERNAL_ERROR": E.InternalError,
    "ROUTE_DISABLED": E.RouteDisabled,
    "API_TRADE_PROCESSING_HALTED": E.ApiTradeProcessingHalted,
    "DEPENDENCY_UNAVAILABLE": E.DependencyUnavailable,
    "RATE_LIMIT_UNAVAILABLE": E.RateLimitUnavailable,
    "REQUEST_TIMEOUT": E.RequestTimeout,
}


def test_every_documented_code_maps_to_its_class() -> None:
    assert E.ERROR_CLASSES == DOCUMENTED_CODES
    for code, cls in DOCUMENTED_CODES.items():
        assert cls.default_code == code
        assert E.class_for(code, 200) is cls
        assert E.error_class(code) is cls
        assert cls().code == code  # raised locally, without a problem body
        assert type(E.error_from_problem(400, {"code": code})) is cls


def test_family_and_root_classes_have_no_code() -> None:
    for cls in (E.KashError, E.KashConflictError, E.KashServerError, E.TradeConfirmationError):
        assert cls.default_code is None
    assert E.RequestDeadlineExceeded.default_code == "CLIENT_DEADLINE_EXCEEDED"
    assert E.code_of("IpNotAllowed") == "IP_NOT_ALLOWED"


def test_extensions_read_from_either_place() -> None:
    top = E.error_from_problem(409, {"code": "SPENDING_LIMIT_EXCEEDED", "cap": "per_trade"})
    nested = E.error_from_problem(
        409, {"code": "SPENDING_LIMIT_EXCEEDED", "extensions": {"cap": "daily_volume"}}
    )
    assert isinstance(top, E.SpendingLimitExceeded) and top.cap == "per_trade"
    assert isinstance(nested, E.SpendingLimitExceeded) and nested.cap == "daily_volume"
    ver = E.error_from_problem(
        410, {"code": "API_VERSION_UNSUPPORTED", "metadata": {"supported": ["2026-04-29"]}}
    )
    assert isinstance(ver, E.ApiVersionUnsupported) and ver.supported == ["2026-04-29"]


def test_string_extensions_ignore_other_types() -> None:
    """The docs type ``cap``, ``flag`` and ``signatureReason`` as strings; others read None."""
    odd = E.error_from_problem(503, {"code": "ROUTE_DISABLED", "extensions": {"flag": 7}})
    assert isinstance(odd, E.RouteDisabled) and odd.flag is None
    sig = E.error_from_problem(401, {"code": "REQUEST_SIGNATURE_INVALID", "signatureReason": None})
    assert isinstance(sig, E.RequestSignatureInvalid) and sig.signature_reason is None
    cap = E.error_from_problem(409, {"code": "SPENDING_LIMIT_EXCEEDED", "cap": ["per_trade"]})
    assert isinstance(cap, E.SpendingLimitExceeded) and cap.cap is None


def test_request_id_prefers_header_then_body() -> None:
    assert E.error_from_problem(500, {"requestId": "b"}).request_id == "b"
    assert E.error_from_problem(500, {"requestId": "b"}, request_id="h").request_id == "h"


# --- config ---------------------------------------------------------------------------------------


def test_base_url_resolution_order() -> None:
    assert resolve_settings(LIVE, None, env={}).base_url == PRODUCTION_BASE_URL
    assert resolve_settings(TEST, None, env={}).base_url == STAGING_BASE_URL
    env = {"KASH_BASE_URL": "http://127.0.0.1:8700/v1/", "KASH_API_KEY": TEST}
    assert resolve_settings(None, None, env=env).base_url == "http://127.0.0.1:8700/v1"
    assert (
        resolve_settings(None, "http://127.0.0.1:9/", env=env).base_url == "http://127.0.0.1:9/v1"
    )
    assert resolve_settings(None, None, env=env).api_key.reveal() == TEST


@pytest.mark.parametrize(
    "bad",
    [
        "kash_live_" + "Q" * 31,
        " kash_live_" + "Q" * 32,
        "kash_prod_" + "Q" * 32,
        "kash_live_" + "Q" * 31 + "!",
        "sk_live_" + "Q" * 32,
    ],
)
def test_malformed_key_error_never_prints_the_key(bad: str) -> None:
    with pytest.raises(KashConfigError) as info:
        resolve_settings(bad, None, env={})
    message = str(info.value)
    assert "malformed" in message and "api_key" in message
    assert bad.strip() not in message and "Q" * 8 not in message


def test_missing_key_names_env_var() -> None:
    with pytest.raises(KashConfigError, match="KASH_API_KEY"):
        resolve_settings(None, None, env={})
    with pytest.raises(KashConfigError, match="KASH_API_KEY is malformed"):
        resolve_settings(None, None, env={"KASH_API_KEY": "oops"})


def test_bad_base_url() -> None:
    with pytest.raises(KashConfigError, match="base_url"):
        resolve_settings(LIVE, "ftp://x", env={})


def test_key_repr_is_redacted() -> None:
    key = resolve_settings(LIVE, None, env={}).api_key
    assert LIVE not in repr(key) and LIVE not in str(key) and LIVE not in f"{key}"
    assert repr(key) == "ApiKey(kash_live_***)"


# --- rate-limit headers ---------------------------------------------------------------------------


def test_reset_seconds_or_milliseconds() -> None:
    assert parse_reset("1780000060") == 1_780_000_060
    assert parse_reset("1780000060000") == 1_780_000_060
    assert parse_reset(None) is None and parse_reset("soon") is None


def test_retry_after_forms() -> None:
    now = 1_780_000_000.0
    assert parse_retry_after("5", now) == 5
    assert parse_retry_after("0.5", now) == 0.5
    assert parse_retry_after("Thu, 28 May 2026 20:27:00 GMT", now) == pytest.approx(20.0)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now) == 0.0  # past → no wait
    assert parse_retry_after("whenever", now) is None and parse_retry_after(None, now) is None


def test_quota_exhaustion_only_on_429_rate_limit_exceeded() -> None:
    h = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "Retry-After": "3"}
    assert rate_limit_from_headers(h, 429, "RATE_LIMIT_EXCEEDED", 0).quota_exhausted
    assert not rate_limit_from_headers(
        {"Retry-After": "1"}, 503, "RATE_LIMIT_UNAVAILABLE", 0
    ).quota_exhausted
    assert not rate_limit_from_headers(h, 429, "WEBHOOK_REPLAY_LIMIT_REACHED", 0).quota_exhausted
    state = rate_limit_from_headers(h, 429, None, 12.0)
    assert (state.limit, state.remaining, state.retry_after_s, state.observed_at) == (
        60,
        0,
        3,
        12.0,
    )
