"""Typed errors for the Kash REST API (problem+json, §15), keyed by ``code``.

Callers branch on the class (or ``.code``), never on ``detail``. Each documented code has its own
class under an HTTP-status family, named after the code so the code is written once
(``SpendingLimitExceeded`` is ``SPENDING_LIMIT_EXCEEDED``, see :func:`code_of`; a unit test pins
every code -> class). An unknown code falls back to the family of its HTTP status, so new server
codes keep working. ``retryable`` says whether the client may retry the same request
automatically (writes only under the same Idempotency-Key). The order path's markers
(:class:`HaltsTrading`, :class:`PlatformHalt`, :class:`MarketUntradeable`, :class:`ReducesOnly`)
say what a refused order means for trading. The roots and families live in
:mod:`kashbot.client.error_base` and are re-exported here.
"""

from __future__ import annotations

import re
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
    "code_of",
    "error_class",
    "error_from_problem",
    "problem_member",
]


# --- one class per documented code -------------------------------------------------------------


class ValidationFailed(KashValidationError): ...


class AmountTooLarge(KashValidationError):
    """Above the platform per-trade maximum; often an 18-dp units mistake."""


class OutcomeIndexInvalid(KashValidationError): ...


class IdempotencyKeyFormatInvalid(KashValidationError): ...


class IdempotencyKeyTooLong(KashValidationError): ...


class ChainNotSupported(KashValidationError, MarketUntradeable):
    """A market on a chain the pinned API version cannot serve (Solana under 2026-04-29)."""


class ApiKeyMissing(KashAuthError, HaltsTrading): ...


class ApiKeyMalformed(KashAuthError, HaltsTrading): ...


class ApiKeyInvalid(KashAuthError, HaltsTrading): ...


class ApiKeyRevoked(KashAuthError, HaltsTrading): ...


class ApiKeyExpired(KashAuthError, HaltsTrading): ...


class RequestSignatureInvalid(KashAuthError, HaltsTrading):
    @property
    def signature_reason(self) -> str | None:
        """``stale`` | ``mismatch`` | ``malformed``."""
        return self.text_extension("signatureReason")


class InsufficientScope(KashPermissionError, HaltsTrading): ...


class IpNotAllowed(KashPermissionError, HaltsTrading): ...


class MarketNotFound(KashNotFoundError, MarketUntradeable): ...


class ResourceNotFound(KashNotFoundError): ...


class ActiveKeyLimitReached(KashConflictError): ...


class ClientRequestIdConflict(KashConflictError): ...


class IdempotencyKeyConflict(KashConflictError):
    """Same key, different body: resend the original body or use a new key."""


class SpendingLimitExceeded(KashConflictError):
    @property
    def cap(self) -> str | None:
        """``per_trade`` | ``daily_volume``."""
        return self.text_extension("cap")


class InsufficientBalance(KashConflictError, ReducesOnly): ...


class MarketNotTradeable(KashConflictError, MarketUntradeable):
    """Frozen/resolved/unsupported market. Served as 409 (catalogue) or 422 (errors page)."""


class SmartAccountNotProvisioned(KashConflictError):
    """Provisioning is asynchronous: retry the order after ~30 s yourself, then alert."""


class PositionNotClaimable(KashConflictError):
    """409 on a redemption: market unsettled, outcome lost, already redeemed, or an earlier
    redemption of this position FAILED (the slot stays held; only support can clear it).
    ``detail`` says which. Never retried."""


class RedemptionsNotEnabled(KashNotFoundError):
    """Self-service redemption is switched off (404 inferred from the SDK's class)."""


class WalletDelegationNotEnabled(KashConflictError, HaltsTrading):
    """A human must re-enable the delegation; halt trading."""


class TradeNotAwaitingConfirmation(KashConflictError, TradeConfirmationError):
    """Confirm attempted on a trade not in ``pending_confirmation``.

    Raised by the server, or locally by ``confirm_trade`` after its pre-flight GET; in the local
    case ``trade`` holds the trade as fetched so the caller can reconcile.
    """

    trade: Trade | None = None


class ConfirmationTokenInvalid(KashConflictError, TradeConfirmationError): ...


class ConfirmationTokenUsed(KashConflictError, TradeConfirmationError): ...


class ConfirmationExpired(KashConflictError, TradeConfirmationError):
    """The window passed and the trade was cancelled; create a new trade."""


class ApiVersionUnsupported(KashGoneError, HaltsTrading):
    """The pinned ``X-Kash-Api-Version`` is not served (any more): nothing works until it moves."""

    @property
    def supported(self) -> Any:
        value = self.extension("supported")
        if value is None:
            meta = self.problem.get("metadata")
            if isinstance(meta, Mapping):
                value = meta.get("supported")
        return value


class IdempotencyKeyExpired(KashGoneError): ...


class RateLimitExceeded(KashRateLimitError):
    """Real quota exhaustion for the whole user (all keys share it)."""


class WebhookReplayLimitReached(KashRateLimitError):
    retryable = False


class WebhookSecretRotationCooldown(KashRateLimitError):
    """Never auto-retry: a second rotation would discard a secret you may not have captured."""

    retryable = False


class InternalError(KashServerError): ...


class RouteDisabled(KashUnavailableError):
    @property
    def flag(self) -> str | None:
        """The kill-switch name, e.g. ``api-quotes-read``."""
        return self.text_extension("flag")


class ApiTradeProcessingHalted(KashUnavailableError, PlatformHalt):
    """Platform-wide trade-write halt; reads keep working."""


class DependencyUnavailable(KashUnavailableError): ...


class RateLimitUnavailable(KashUnavailableError):
    """Limiter blip (fail-closed). Retry; it is NOT quota exhaustion."""


class RequestTimeout(KashGatewayTimeoutError): ...


def code_of(name: str) -> str:
    """A documented class's code: its name in UPPER_SNAKE_CASE (IpNotAllowed: IP_NOT_ALLOWED)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _documented(root: type[KashError]) -> Iterator[type[KashError]]:
    """The classes above (this module's subclasses of ``root``), by walking the hierarchy."""
    for sub in root.__subclasses__():
        if sub.__module__ == __name__:
            yield sub
        yield from _documented(sub)


def _register() -> dict[str, type[KashError]]:
    """Give every class above its code (from its name) and key the registry by it."""
    table: dict[str, type[KashError]] = {}
    for cls in _documented(KashError):
        cls.default_code = code_of(cls.__name__)
        table[cls.default_code] = cls
    return table


# Every class defined in this module is a documented code: a new class registers by existing.
ERROR_CLASSES: dict[str, type[KashError]] = _register()

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
