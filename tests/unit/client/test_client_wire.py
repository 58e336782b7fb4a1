"""Numbers from outside (issue 13): only ASCII digits of bounded length, never an exception."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kashbot.client.ratelimit import parse_reset, parse_retry_after, rate_limit_from_headers
from kashbot.wire import ascii_decimal, ascii_int, bounded_int

HOSTILE = ["", " ", "²", "٣", "１２", "1_000", "+5", " 7", "1e3", "nan", "inf", "0x10", "9" * 5000]


@pytest.mark.parametrize("text", HOSTILE)
def test_ascii_int_refuses_what_python_int_would_take_or_choke_on(text: str) -> None:
    assert ascii_int(text, 16) is None
    assert ascii_int(text, 16, signed=True) is None


def test_ascii_int_bounds_and_signs() -> None:
    assert ascii_int("1767225600000", 16) == 1_767_225_600_000
    assert ascii_int("12345", 4) is None  # too long: refused before int()
    assert ascii_int("-12", 4) is None and ascii_int("-12", 4, signed=True) == -12
    assert ascii_int("-", 4, signed=True) is None and ascii_int(None, 4) is None


def test_ascii_decimal_and_bounded_int() -> None:
    assert ascii_decimal("0.5", 8) == Decimal("0.5") and ascii_decimal("1.", 8) is None
    assert ascii_decimal("٣", 8) is None and ascii_decimal("1" * 9, 8) is None
    assert bounded_int(5, 0, 9) == 5
    assert bounded_int(True, 0, 9) is None and bounded_int(1e3, 0, 9**9) is None
    assert bounded_int(10**400, 0, 2**63) is None and bounded_int("5", 0, 9) is None


@pytest.mark.parametrize(
    "text",
    [*(t for t in HOSTILE if t != " 7"), "1" * 4301, "Thu, 01 Jan 99999 00:00:00 GMT", "x" * 5000],
)
def test_rate_limit_headers_from_a_hostile_server_are_ignored_not_raised(text: str) -> None:
    """(Surrounding whitespace is trimmed, as HTTP does, so " 7" is 7 here.)"""
    assert parse_reset(text) is None
    assert parse_retry_after(text, 0.0) is None
    headers = {
        "X-RateLimit-Limit": text,
        "X-RateLimit-Remaining": text,
        "X-RateLimit-Reset": text,
        "Retry-After": text,
    }
    state = rate_limit_from_headers(headers, 429, None, 0.0)
    assert (state.limit, state.remaining, state.reset_epoch_s, state.retry_after_s) == (
        None,
        None,
        None,
        None,
    )


def test_rate_limit_headers_still_read_good_values() -> None:
    headers = {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": " 0 ", "Retry-After": "1.5"}
    state = rate_limit_from_headers(headers, 429, None, 0.0)
    assert (state.limit, state.remaining, state.retry_after_s) == (60, 0, 1.5)
