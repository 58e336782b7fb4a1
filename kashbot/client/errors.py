"""Typed errors for the Kash REST API (problem+json, §15), keyed by ``code``.

Callers branch on the class (or ``.code``), never on ``detail``. Each documented code has its own
class under an HTTP-status family; an unknown code falls back to the family of its HTTP status, so
new server codes keep working. ``retryable`` says whether the client may retry the same request
automatically (writes only under the same Idempotency-Key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from kashbot.client.models import Trade


class KashError(Exception):
    """Root of every error the client raises about a request."""

    default_code: ClassVar[str | None] = None
    retryable: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code if code is not None else self.default_code
        self.status = status
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.retry_after = retry_after
        self.problem: dict[str, Any] = dict(problem or {})
        text = message or detail or title or self.code or type(self).__name__
        super().__init__(text)

    def extension(self, name: str) -> Any:
        """A problem extension member, whether sent at top level or under ``extensions``."""
        return problem_member(self.problem, name)

    def __str__(self) -> str:
        base = super().__str__()
        parts = [p for p in (self.code, str(self.status) if self.status else None) if p]
        tail = f" (request {self.request_id})" if self.request_id else ""
        return f"[{' '.join(parts)}] {base}{tail}" if parts else f"{base}{tail}"


def problem_member(problem: Mapping[str, Any], name: str) -> Any:
    """Docs write ``extensions.cap``; the TS SDK reads top-level members. Accept both (§17)."""
    if name in problem:
        return problem[name]
    ext = problem.get("extensions")
    if isinstance(ext, Mapping):
        return ext.get(name)
    return None


# --- transport-level failures (no usable HTTP response) -------------------------------------


class KashNetworkError(KashError):
    """Connection refused/reset/dropped before a response arrived.

    ``unsent`` is True only when the request provably never reached the server (connect failed).
    """

    retryable = True

    def __init__(self, message: str, *, unsent: bool = False) -> None:
        super().__init__(message)
        self.unsent = unsent


class KashTimeoutError(KashNetworkError):
    """The client-side timeout fired before a response arrived."""


class KashResponseError(KashError):
    """A response we cannot interpret (non-JSON success body, wrong envelope)."""


class OutcomeUnknownError(KashError):
    """``POST /v1/trades`` may or may not have created a trade (timeout, dropped connection,
    5xx after the request reached the server).

    Reconcile before doing anything else: replay with the *same* ``idempotency_key`` and the
    exact ``body`` (the server returns the original result), or list trades and match on
    ``clientRequestId``. Never resend the order under a new key.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        idempotency_key: str,
        body: bytes,
        cause: BaseException | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, code="OUTCOME_UNKNOWN", status=status, request_id=request_id)
        self.idempotency_key = idempotency_key
        self.body = body
        self.cause = cause


class RequestDeadlineExceeded(KashError):
    """The caller's ``not_after`` passed (e.g. during a rate-limit wait) before any attempt of
    this call could reach the server: nothing was sent, so the venue never saw the request.

    Raised only while nothing may have been processed; once an earlier attempt may have
    reached the server, a ``POST /v1/trades`` raises :class:`OutcomeUnknownError` instead.
    """

    default_code = "CLIENT_DEADLINE_EXCEEDED"
    retryable = False
    sent = False


class TradeConfirmationError(KashError):
    """Base for everything that stops ``confirm_trade``."""


# --- HTTP status families ---------------------------------------------------------------------


class KashValidationError(KashError):
    """400: the request itself is wrong; fix it, never retry."""


class KashAuthError(KashError):
    """401: key missing/invalid/revoked/expired or a bad request signature."""


class KashPermissionError(KashError):
    """403: the key lacks a scope or the source IP is not allowed."""


class KashNotFoundError(KashError):
    """404: absent, or owned by someone else (ownership-checked resources never 403)."""


class KashConflictError(KashError):
    """409: the request clashes with server state; never auto-retried."""


class KashGoneError(KashError):
    """410: API version or idempotency key no longer accepted."""


class KashUnprocessableError(KashError):
    """422: semantically refused (docs use it for MARKET_NOT_TRADEABLE in one place)."""


class KashRateLimitError(KashError):
    """429 family."""

    retryable = True


class KashServerError(KashError):
    """5xx: the server failed; retryable with backoff."""

    retryable = True


class KashUnavailableError(KashServerError):
    """503: kill switch, dependency outage or limiter blip."""


class KashGatewayTimeoutError(KashServerError):
    """504: the server gave up after its own timeout."""


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


class ChainNotSupported(KashValidationError):
    """A market on a chain the pinned API version cannot serve (Solana under 2026-04-29)."""

    default_code = "CHAIN_NOT_SUPPORTED"


class ApiKeyMissing(KashAuthError):
    default_code = "API_KEY_MISSING"


class ApiKeyMalformed(KashAuthError):
    default_code = "API_KEY_MALFORMED"


class ApiKeyInvalid(KashAuthError):
    default_code = "API_KEY_INVALID"


class ApiKeyRevoked(KashAuthError):
    default_code = "API_KEY_REVOKED"


class ApiKeyExpired(KashAuthError):
    default_code = "API_KEY_EXPIRED"


class RequestSignatureInvalid(KashAuthError):
    default_code = "REQUEST_SIGNATURE_INVALID"

    @property
    def signature_reason(self) -> str | None:
        """``stale`` | ``mismatch`` | ``malformed``."""
        value = self.extension("signatureReason")
        return value if isinstance(value, str) else None


class InsufficientScope(KashPermissionError):
    default_code = "INSUFFICIENT_SCOPE"


class IpNotAllowed(KashPermissionError):
    default_code = "IP_NOT_ALLOWED"


class MarketNotFound(KashNotFoundError):
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
        value = self.extension("cap")
        return value if isinstance(value, str) else None


class InsufficientBalance(KashConflictError):
    default_code = "INSUFFICIENT_BALANCE"


class MarketNotTradeable(KashConflictError):
    """Frozen/resolved/unsupported market. Served as 409 (catalogue) or 422 (errors page)."""

    default_code = "MARKET_NOT_TRADEABLE"


class SmartAccountNotProvisioned(KashConflictError):
    """Provisioning is asynchronous: retry the order after ~30 s yourself, then alert."""

    default_code = "SMART_ACCOUNT_NOT_PROVISIONED"


class WalletDelegationNotEnabled(KashConflictError):
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


class ApiVersionUnsupported(KashGoneError):
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
        value = self.extension("flag")
        return value if isinstance(value, str) else None


class ApiTradeProcessingHalted(KashUnavailableError):
    """Platform-wide trade-write halt; reads keep working."""

    default_code = "API_TRADE_PROCESSING_HALTED"


class DependencyUnavailable(KashUnavailableError):
    default_code = "DEPENDENCY_UNAVAILABLE"


class RateLimitUnavailable(KashUnavailableError):
    """Limiter blip (fail-closed). Retry; it is NOT quota exhaustion."""

    default_code = "RATE_LIMIT_UNAVAILABLE"


class RequestTimeout(KashGatewayTimeoutError):
    default_code = "REQUEST_TIMEOUT"


ERROR_CLASSES: dict[str, type[KashError]] = {
    cls.default_code: cls
    for cls in (
        ValidationFailed,
        AmountTooLarge,
        OutcomeIndexInvalid,
        IdempotencyKeyFormatInvalid,
        IdempotencyKeyTooLong,
        ChainNotSupported,
        ApiKeyMissing,
        ApiKeyMalformed,
        ApiKeyInvalid,
        ApiKeyRevoked,
        ApiKeyExpired,
        RequestSignatureInvalid,
        InsufficientScope,
        IpNotAllowed,
        MarketNotFound,
        ResourceNotFound,
        ActiveKeyLimitReached,
        ClientRequestIdConflict,
        IdempotencyKeyConflict,
        SpendingLimitExceeded,
        InsufficientBalance,
        MarketNotTradeable,
        SmartAccountNotProvisioned,
        WalletDelegationNotEnabled,
        TradeNotAwaitingConfirmation,
        ConfirmationTokenInvalid,
        ConfirmationTokenUsed,
        ConfirmationExpired,
        ApiVersionUnsupported,
        IdempotencyKeyExpired,
        RateLimitExceeded,
        WebhookReplayLimitReached,
        WebhookSecretRotationCooldown,
        InternalError,
        RouteDisabled,
        ApiTradeProcessingHalted,
        DependencyUnavailable,
        RateLimitUnavailable,
        RequestTimeout,
    )
    if cls.default_code is not None
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
