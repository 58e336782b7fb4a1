"""Typed errors for the Kash REST API (problem+json, §15), keyed by ``code``.

Callers branch on the class (or ``.code``), never on ``detail``. Each documented code has its own
class under an HTTP-status family; an unknown code falls back to the family of its HTTP status, so
new server codes keep working. ``retryable`` says whether the client may retry the same request
automatically (writes only under the same Idempotency-Key). The order path's markers
(:class:`HaltsTrading`, :class:`PlatformHalt`, :class:`MarketUntradeable`, :class:`ReducesOnly`)
say what a refused order means for trading. The roots and families live in
:mod:`kashbot.client.error_base` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kashbot.client.error_base import (
    HaltsTrading,
    KashAuthError,
    KashConflictError,
    KashError,
    KashGatewayTimeoutError,
    KashGoneError,
    KashNetworkError,
    KashNotFoundError,
    KashPermissionError,
    KashRateLimitError,
    KashResponseError,
    KashServerError,
    KashTimeoutError,
    KashUnavailableError,
    KashUnprocessableError,
    KashValidationError,
    MarketUntradeable,
    OutcomeUnknownError,
    PlatformHalt,
    ReducesOnly,
    RequestDeadlineExceeded,
    TradeConfirmationError,
    problem_member,
)

if TYPE_CHECKING:
    from kashbot.client.models import Trade


# Every error is imported from here; the roots and families are re-exported.
__all__ = [
    "ERROR_CLASSES",
    "ActiveKeyLimitReached",
    "AmountTooLarge",
    "ApiKeyExpired",
    "ApiKeyInvalid",
    "ApiKeyMalformed",
    "ApiKeyMissing",
    "ApiKeyRevoked",
    "ApiTradeProcessingHalted",
    "ApiVersionUnsupported",
    "ChainNotSupported",
    "ClientRequestIdConflict",
    "ConfirmationExpired",
    "ConfirmationTokenInvalid",
    "ConfirmationTokenUsed",
    "DependencyUnavailable",
    "HaltsTrading",
    "IdempotencyKeyConflict",
    "IdempotencyKeyExpired",
    "IdempotencyKeyFormatInvalid",
    "IdempotencyKeyTooLong",
    "InsufficientBalance",
    "InsufficientScope",
    "InternalError",
    "IpNotAllowed",
    "KashAuthError",
    "KashConflictError",
    "KashError",
    "KashGatewayTimeoutError",
    "KashGoneError",
    "KashNetworkError",
    "KashNotFoundError",
    "KashPermissionError",
    "KashRateLimitError",
    "KashResponseError",
    "KashServerError",
    "KashTimeoutError",
    "KashUnavailableError",
    "KashUnprocessableError",
    "KashValidationError",
    "MarketNotFound",
    "MarketNotTradeable",
    "MarketUntradeable",
    "OutcomeIndexInvalid",
    "OutcomeUnknownError",
    "PlatformHalt",
    "PositionNotClaimable",
    "RateLimitExceeded",
    "RateLimitUnavailable",
    "RedemptionsNotEnabled",
    "ReducesOnly",
    "RequestDeadlineExceeded",
    "RequestSignatureInvalid",
    "RequestTimeout",
    "ResourceNotFound",
    "RouteDisabled",
    "SmartAccountNotProvisioned",
    "SpendingLimitExceeded",
    "TradeConfirmationError",
    "TradeNotAwaitingConfirmation",
    "ValidationFailed",
    "WalletDelegationNotEnabled",
    "WebhookReplayLimitReached",
    "WebhookSecretRotationCooldown",
    "class_for",
    "error_class",
    "error_from_problem",
    "problem_member",
]


# --- one class per documented code -------------------------------------------------------------


class ValidationFailed(KashValidationError):
    default_code = "VALIDATION_FAILED"


class AmountTooLarge(KashValidationError):
    """Above the platform per-trade maximum; often an 18-dp units mistake."""

    default_code = "AMOUNT_TOO_LARGE"


class OutcomeIndexInvalid(KashValidationError):
    default_code = "OUTCOME_INDEX_INVALID"


class IdempotencyKeyFormatInvalid(KashValidationError):
    default_code = "IDEMPOTENCY_KEY_FORMAT_INVALID"


class IdempotencyKeyTooLong(KashValidationError):
    default_code = "IDEMPOTENCY_KEY_TOO_LONG"


class ChainNotSupported(KashValidationError, MarketUntradeable):
    """A market on a chain the pinned API version cannot serve (Solana under 2026-04-29)."""

    default_code = "CHAIN_NOT_SUPPORTED"


class ApiKeyMissing(KashAuthError, HaltsTrading):
    default_code = "API_KEY_MISSING"


class ApiKeyMalformed(KashAuthError, HaltsTrading):
    default_code = "API_KEY_MALFORMED"


class ApiKeyInvalid(KashAuthError, HaltsTrading):
    default_code = "API_KEY_INVALID"


class ApiKeyRevoked(KashAuthError, HaltsTrading):
    default_code = "API_KEY_REVOKED"


class ApiKeyExpired(KashAuthError, HaltsTrading):
    default_code = "API_KEY_EXPIRED"


class RequestSignatureInvalid(KashAuthError, HaltsTrading):
    default_code = "REQUEST_SIGNATURE_INVALID"

    @property
    def signature_reason(self) -> str | None:
        """``stale`` | ``mismatch`` | ``malformed``."""
        return self.text_extension("signatureReason")


class InsufficientScope(KashPermissionError, HaltsTrading):
    default_code = "INSUFFICIENT_SCOPE"


class IpNotAllowed(KashPermissionError, HaltsTrading):
    default_code = "IP_NOT_ALLOWED"


class MarketNotFound(KashNotFoundError, MarketUntradeable):
    default_code = "MARKET_NOT_FOUND"


class ResourceNotFound(KashNotFoundError):
    default_code = "RESOURCE_NOT_FOUND"


class ActiveKeyLimitReached(KashConflictError):
    default_code = "ACTIVE_KEY_LIMIT_REACHED"


class ClientRequestIdConflict(KashConflictError):
    default_code = "CLIENT_REQUEST_ID_CONFLICT"


class IdempotencyKeyConflict(KashConflictError):
    """Same key, different body: resend the original body or use a new key."""

    default_code = "IDEMPOTENCY_KEY_CONFLICT"


class SpendingLimitExceeded(KashConflictError):
    default_code = "SPENDING_LIMIT_EXCEEDED"

    @property
    def cap(self) -> str | None:
        """``per_trade`` | ``daily_volume``."""
        return self.text_extension("cap")


class InsufficientBalance(KashConflictError, ReducesOnly):
    default_code = "INSUFFICIENT_BALANCE"


class MarketNotTradeable(KashConflictError, MarketUntradeable):
    """Frozen/resolved/unsupported market. Served as 409 (catalogue) or 422 (errors page)."""

    default_code = "MARKET_NOT_TRADEABLE"


class SmartAccountNotProvisioned(KashConflictError):
    """Provisioning is asynchronous: retry the order after ~30 s yourself, then alert."""

    default_code = "SMART_ACCOUNT_NOT_PROVISIONED"


class PositionNotClaimable(KashConflictError):
    """409 on a redemption: market unsettled, outcome lost, already redeemed, or an earlier
    redemption of this position FAILED (the slot stays held; only support can clear it).
    ``detail`` says which. Never retried."""

    default_code = "POSITION_NOT_CLAIMABLE"


class RedemptionsNotEnabled(KashNotFoundError):
    """Self-service redemption is switched off (404 inferred from the SDK's class)."""

    default_code = "REDEMPTIONS_NOT_ENABLED"


class WalletDelegationNotEnabled(KashConflictError, HaltsTrading):
    """A human must re-enable the delegation; halt trading."""

    default_code = "WALLET_DELEGATION_NOT_ENABLED"


class TradeNotAwaitingConfirmation(KashConflictError, TradeConfirmationError):
    """Confirm attempted on a trade not in ``pending_confirmation``.

    Raised by the server, or locally by ``confirm_trade`` after its pre-flight GET; in the local
    case ``trade`` holds the trade as fetched so the caller can reconcile.
    """

    default_code = "TRADE_NOT_AWAITING_CONFIRMATION"
    trade: Trade | None = None


class ConfirmationTokenInvalid(KashConflictError, TradeConfirmationError):
    default_code = "CONFIRMATION_TOKEN_INVALID"


class ConfirmationTokenUsed(KashConflictError, TradeConfirmationError):
    default_code = "CONFIRMATION_TOKEN_USED"


class ConfirmationExpired(KashConflictError, TradeConfirmationError):
    """The window passed and the trade was cancelled; create a new trade."""

    default_code = "CONFIRMATION_EXPIRED"


class ApiVersionUnsupported(KashGoneError, HaltsTrading):
    """The pinned ``X-Kash-Api-Version`` is not served (any more): nothing works until it moves."""

    default_code = "API_VERSION_UNSUPPORTED"

    @property
    def supported(self) -> Any:
        value = self.extension("supported")
        if value is None:
            meta = self.problem.get("metadata")
            if isinstance(meta, Mapping):
                value = meta.get("supported")
        return value


class IdempotencyKeyExpired(KashGoneError):
    default_code = "IDEMPOTENCY_KEY_EXPIRED"


class RateLimitExceeded(KashRateLimitError):
    """Real quota exhaustion for the whole user (all keys share it)."""

    default_code = "RATE_LIMIT_EXCEEDED"


class WebhookReplayLimitReached(KashRateLimitError):
    default_code = "WEBHOOK_REPLAY_LIMIT_REACHED"
    retryable = False


class WebhookSecretRotationCooldown(KashRateLimitError):
    """Never auto-retry: a second rotation would discard a secret you may not have captured."""

    default_code = "WEBHOOK_SECRET_ROTATION_COOLDOWN"
    retryable = False


class InternalError(KashServerError):
    default_code = "INTERNAL_ERROR"


class RouteDisabled(KashUnavailableError):
    default_code = "ROUTE_DISABLED"

    @property
    def flag(self) -> str | None:
        """The kill-switch name, e.g. ``api-quotes-read``."""
        return self.text_extension("flag")


class ApiTradeProcessingHalted(KashUnavailableError, PlatformHalt):
    """Platform-wide trade-write halt; reads keep working."""

    default_code = "API_TRADE_PROCESSING_HALTED"


class DependencyUnavailable(KashUnavailableError):
    default_code = "DEPENDENCY_UNAVAILABLE"


class RateLimitUnavailable(KashUnavailableError):
    """Limiter blip (fail-closed). Retry; it is NOT quota exhaustion."""

    default_code = "RATE_LIMIT_UNAVAILABLE"


class RequestTimeout(KashGatewayTimeoutError):
    default_code = "REQUEST_TIMEOUT"


def _documented(root: type[KashError]) -> Iterator[type[KashError]]:
    """The classes above (this module's subclasses with a code), by walking the hierarchy."""
    for sub in root.__subclasses__():
        if sub.__module__ == __name__ and sub.default_code is not None:
            yield sub
        yield from _documented(sub)


# Every class defined in this module with a ``default_code``: a new class registers by existing.
ERROR_CLASSES: dict[str, type[KashError]] = {
    cls.default_code: cls for cls in _documented(KashError) if cls.default_code is not None
}

_STATUS_FAMILIES: dict[int, type[KashError]] = {
    400: KashValidationError,
    401: KashAuthError,
    403: KashPermissionError,
    404: KashNotFoundError,
    409: KashConflictError,
    410: KashGoneError,
    422: KashUnprocessableError,
    429: KashRateLimitError,
    503: KashUnavailableError,
    504: KashGatewayTimeoutError,
}


def class_for(code: str | None, status: int) -> type[KashError]:
    """The exception class for a problem: by ``code`` first, else by HTTP status family."""
    if code is not None and code in ERROR_CLASSES:
        return ERROR_CLASSES[code]
    if status in _STATUS_FAMILIES:
        return _STATUS_FAMILIES[status]
    if status >= 500:
        return KashServerError
    return KashError


def error_from_problem(
    status: int,
    problem: Mapping[str, Any] | None,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> KashError:
    """Build the typed error for an HTTP error response (``problem`` may be None for non-JSON)."""
    body: Mapping[str, Any] = problem or {}
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, str) else None
    cls = class_for(code, status)

    def text(name: str) -> str | None:
        value = body.get(name)
        return value if isinstance(value, str) else None

    body_request_id = text("requestId")
    return cls(
        code=code,
        status=status,
        title=text("title"),
        detail=text("detail"),
        request_id=request_id or body_request_id,
        retry_after=retry_after,
        problem=body,
    )


def error_class(code: str | None) -> type[KashError] | None:
    """The class of a documented code (None: unknown or no code)."""
    return None if code is None else ERROR_CLASSES.get(code)
