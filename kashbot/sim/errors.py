"""Typed venue errors carrying the exact Kash error code, HTTP status and problem members.

The venue raises :class:`SimError`; the HTTP layer turns it into ``application/problem+json``
(§15 of the API notes) and the backtester can branch on ``code`` exactly as a bot would.
"""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE_BASE = "https://docs.kash.bot/developer-docs/api-errors/"

# code -> (status, stable title, default Retry-After seconds or None)
CATALOGUE: dict[str, tuple[int, str, int | None]] = {
    "VALIDATION_FAILED": (400, "Validation failed", None),
    "AMOUNT_TOO_LARGE": (400, "Amount too large", None),
    "OUTCOME_INDEX_INVALID": (400, "Outcome index invalid", None),
    "IDEMPOTENCY_KEY_FORMAT_INVALID": (400, "Idempotency key format invalid", None),
    "IDEMPOTENCY_KEY_TOO_LONG": (400, "Idempotency key too long", None),
    "API_KEY_MISSING": (401, "API key missing", None),
    "API_KEY_MALFORMED": (401, "API key malformed", None),
    "API_KEY_INVALID": (401, "API key invalid", None),
    "API_KEY_REVOKED": (401, "API key revoked", None),
    "API_KEY_EXPIRED": (401, "API key expired", None),
    "REQUEST_SIGNATURE_INVALID": (401, "Request signature invalid", None),
    "INSUFFICIENT_SCOPE": (403, "Insufficient scope", None),
    "IP_NOT_ALLOWED": (403, "IP not allowed", None),
    "CHAIN_NOT_SUPPORTED": (400, "Chain not supported", None),
    "MARKET_NOT_FOUND": (404, "Market not found", None),
    "REDEMPTIONS_NOT_ENABLED": (404, "Redemptions not enabled", None),
    "RESOURCE_NOT_FOUND": (404, "Resource not found", None),
    "CLIENT_REQUEST_ID_CONFLICT": (409, "Client request id conflict", None),
    "IDEMPOTENCY_KEY_CONFLICT": (409, "Idempotency key conflict", None),
    "SPENDING_LIMIT_EXCEEDED": (409, "Spending limit exceeded", None),
    "INSUFFICIENT_BALANCE": (409, "Insufficient balance", None),
    "MARKET_NOT_TRADEABLE": (409, "Market not tradeable", None),
    "POSITION_NOT_CLAIMABLE": (409, "Position not claimable", None),
    "SMART_ACCOUNT_NOT_PROVISIONED": (409, "Smart account not provisioned", None),
    "WALLET_DELEGATION_NOT_ENABLED": (409, "Wallet delegation not enabled", None),
    "TRADE_NOT_AWAITING_CONFIRMATION": (409, "Trade not awaiting confirmation", None),
    "CONFIRMATION_TOKEN_INVALID": (409, "Confirmation token invalid", None),
    "CONFIRMATION_TOKEN_USED": (409, "Confirmation token used", None),
    "CONFIRMATION_EXPIRED": (409, "Confirmation expired", None),
    "API_VERSION_UNSUPPORTED": (410, "API version unsupported", None),
    "IDEMPOTENCY_KEY_EXPIRED": (410, "Idempotency key expired", None),
    "RATE_LIMIT_EXCEEDED": (429, "Rate limit exceeded", None),
    "WEBHOOK_REPLAY_LIMIT_REACHED": (429, "Webhook replay limit reached", None),
    "WEBHOOK_SECRET_ROTATION_COOLDOWN": (429, "Webhook secret rotation cooldown", None),
    "INTERNAL_ERROR": (500, "Internal error", None),
    "ROUTE_DISABLED": (503, "Route disabled", 60),
    "API_TRADE_PROCESSING_HALTED": (503, "API trade processing halted", 300),
    "DEPENDENCY_UNAVAILABLE": (503, "Dependency unavailable", 30),
    "RATE_LIMIT_UNAVAILABLE": (503, "Rate limit unavailable", 1),
    "REQUEST_TIMEOUT": (504, "Request timeout", 5),
}


class SimError(Exception):
    """A documented Kash error; ``extra`` holds problem extension members (``cap``, ``flag``)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        known = CATALOGUE.get(code)
        self.code = code
        self.status = status if status is not None else (known[0] if known else 500)
        self.title = known[1] if known else code.replace("_", " ").capitalize()
        self.detail = detail
        self.retry_after = retry_after if retry_after is not None else (known[2] if known else None)
        self.extra: dict[str, Any] = extra
        super().__init__(f"{code} ({self.status}): {detail}")

    def problem(self, *, instance: str, request_id: str) -> dict[str, Any]:
        """The RFC 7807 body; extension members go top-level (the SDK reads them there)."""
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            "instance": instance,
            "requestId": request_id,
        }
        body.update(self.extra)
        return body
