"""The server's view of our request budget, and the hook a limiter plugs into.

The client parses ``X-RateLimit-*`` / ``Retry-After`` into a :class:`RateLimitState` after every
response and hands it to a :class:`RequestBudget` (the risk package implements one per Kash user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Protocol

from kashbot.wire import ascii_decimal


@dataclass(frozen=True, slots=True)
class RateLimitState:
    limit: int | None
    remaining: int | None
    reset_epoch_s: float | None  # X-RateLimit-Reset (epoch seconds; epoch ms is normalised)
    retry_after_s: float | None  # Retry-After on 429/503/504
    status: int  # HTTP status of the response this came from
    quota_exhausted: bool  # a real 429 RATE_LIMIT_EXCEEDED, not a 503 limiter blip
    observed_at: float  # local clock seconds


class RequestBudget(Protocol):
    """Called around every HTTP request the client makes."""

    async def acquire(self, route: str, *, write: bool) -> None:
        """Wait for permission to send one request (``route`` like ``GET /v1/markets``)."""
        ...

    def observe(self, state: RateLimitState) -> None:
        """Learn from the server's headers (pause on Retry-After or Remaining == 0)."""
        ...


class NoBudget:
    """No client-side limiting (tests, one-off scripts)."""

    async def acquire(self, route: str, *, write: bool) -> None:
        return None

    def observe(self, state: RateLimitState) -> None:
        return None


MS_THRESHOLD = 1e12  # an epoch value this large is milliseconds (seconds reach 1e12 in year 33658)


NUMBER_CHARS = 24  # longest header number we read (epoch ms is 13 digits)
HTTP_DATE_CHARS = 64


def _number(value: str | None) -> float | None:
    """ASCII ``digits[.digits]`` of bounded length (:mod:`kashbot.wire`); anything else None."""
    number = ascii_decimal(value.strip() if value is not None else None, NUMBER_CHARS)
    return float(number) if number is not None else None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as delta seconds or an HTTP-date; seconds from ``now``, never negative."""
    if value is None or not value.strip():
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    if len(value) > HTTP_DATE_CHARS:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_reset(value: str | None) -> float | None:
    """``X-RateLimit-Reset`` as epoch seconds; epoch milliseconds are normalised (§17)."""
    number = _number(value)
    if number is None:
        return None
    return number / 1000.0 if number > MS_THRESHOLD else number


def rate_limit_from_headers(
    headers: Mapping[str, str], status: int, code: str | None, now: float
) -> RateLimitState:
    """One response's rate-limit view. Only a 429 RATE_LIMIT_EXCEEDED counts as exhaustion;
    a 503 RATE_LIMIT_UNAVAILABLE is a limiter blip, not quota."""

    def as_int(name: str) -> int | None:
        number = _number(headers.get(name))
        return int(number) if number is not None else None

    return RateLimitState(
        limit=as_int("X-RateLimit-Limit"),
        remaining=as_int("X-RateLimit-Remaining"),
        reset_epoch_s=parse_reset(headers.get("X-RateLimit-Reset")),
        retry_after_s=parse_retry_after(headers.get("Retry-After"), now),
        status=status,
        quota_exhausted=status == 429 and code in (None, "RATE_LIMIT_EXCEEDED"),
        observed_at=now,
    )
