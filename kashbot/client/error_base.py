"""The roots of the client's errors: ``KashError``, transport failures, the HTTP-status
families, and the markers that tell the order path what an error means for trading.

The classes for each documented code, and the code → class registry, are in
:mod:`kashbot.client.errors` (import every error from there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class KashError(Exception):
    """Root of every error the client raises about a request."""

    default_code: ClassVar[str | None] = None
    retryable: bool = False
    api_version: str | None = None  # the X-Kash-Api-Version the request pinned (transport sets it)

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

    @property
    def definite_refusal(self) -> bool:
        """Is this the venue's verdict on this very request: a 4xx other than 408/429?

        A trade created earlier under the same key would have been replayed instead, so such an
        answer proves nothing was created. A 429 or 503 (limiter, kill switch, platform halt,
        dependency) refuses a request before the venue looks at it, a 5xx or timeout is unknown,
        and a 2xx we could not parse may carry a created trade: none of them says anything about
        an earlier POST.
        """
        if self.status is None:
            return False
        return 400 <= self.status < 500 and self.status not in (408, 429)

    def extension(self, name: str) -> Any:
        """A problem extension member, whether sent at top level or under ``extensions``."""
        return problem_member(self.problem, name)

    def text_extension(self, name: str) -> str | None:
        """A problem extension member that the docs type as a string; None if absent or not one."""
        value = self.extension(name)
        return value if isinstance(value, str) else None

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

    @property
    def definite_refusal(self) -> bool:
        return False  # a 2xx we could not read may carry a created trade


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

    @property
    def definite_refusal(self) -> bool:
        return False


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


# --- what an order refused with this error means for trading ----------------------------------
# Mixed into the classes of the codes they describe (kashbot.client.errors); the risk gate and
# the executor branch on them (``isinstance``), never on re-listed code strings. A family class
# (an unknown code) carries none of them: it counts as an ordinary failure.


class HaltsTrading:
    """Nothing may be sent until a human looks: a key, signature, scope or delegation problem."""


class PlatformHalt(HaltsTrading):
    """A platform-wide trade halt: halt, and resume by ourselves after ``Retry-After``."""

    default_halt_s: ClassVar[float] = 300.0


class MarketUntradeable:
    """The market takes no orders (frozen, resolved, unknown, unsupported chain)."""


class ReducesOnly:
    """The account cannot pay for buys (no USDC): only sells may go on."""
