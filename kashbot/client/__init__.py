"""Async client for the Kash REST API v1.

``KashClient`` (methods per endpoint), typed models, the error hierarchy and webhook verification.
"""

from kashbot.client.client import KashClient
from kashbot.client.config import ApiKey, KashConfigError
from kashbot.client.errors import KashError, OutcomeUnknownError, RequestDeadlineExceeded
from kashbot.client.models import (
    AccountUsage,
    Confirmation,
    Market,
    Outcome,
    Page,
    Portfolio,
    Position,
    Prediction,
    Quote,
    RedeliveredEvent,
    Redemption,
    Trace,
    Trade,
    TradeCreated,
    WebhookEventRecord,
    WebhookSecret,
)
from kashbot.client.ratelimit import NoBudget, RateLimitState, RequestBudget
from kashbot.client.transport import RetryPolicy

__all__ = [
    "AccountUsage",
    "ApiKey",
    "Confirmation",
    "KashClient",
    "KashConfigError",
    "KashError",
    "Market",
    "NoBudget",
    "Outcome",
    "OutcomeUnknownError",
    "Page",
    "Portfolio",
    "Position",
    "Prediction",
    "Quote",
    "RateLimitState",
    "RedeliveredEvent",
    "Redemption",
    "RequestBudget",
    "RequestDeadlineExceeded",
    "RetryPolicy",
    "Trace",
    "Trade",
    "TradeCreated",
    "WebhookEventRecord",
    "WebhookSecret",
]
