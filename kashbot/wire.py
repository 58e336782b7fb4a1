"""Numbers that come from outside: ASCII digits of bounded length, or nothing.

Every header, query parameter and cursor field a peer controls is parsed here. Python's own
``int()``/``float()`` accept far more than the wire formats do -- Unicode digits (``"²"`` passes
``str.isdigit`` and then fails ``int``; ``"٣"`` *is* 3), underscores, whitespace, ``"nan"``,
``"1e400"`` -- and ``int()`` raises ``ValueError`` past 4,300 digits. A parser that raises on
hostile input turns a documented refusal (401, 400) into a 500 with a traceback, so these
functions never raise on bad text: they return ``None`` and the caller answers its refusal.
"""

from __future__ import annotations

import re
from decimal import Decimal

# Lengths that cover every legitimate value with room to spare (epoch ms is 13 digits).
TIMESTAMP_DIGITS = 16
COUNT_DIGITS = 12
_DIGITS = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def ascii_int(text: str | None, max_digits: int, *, signed: bool = False) -> int | None:
    """``text`` as an int if it is 1..``max_digits`` ASCII digits (``-`` first if ``signed``)."""
    if text is None or len(text) > max_digits + (1 if signed else 0):
        return None
    if not (_SIGNED if signed else _DIGITS).fullmatch(text):
        return None
    return int(text)


def ascii_decimal(text: str | None, max_chars: int) -> Decimal | None:
    """A non-negative ``digits[.digits]`` of at most ``max_chars`` characters, else None."""
    if text is None or len(text) > max_chars or not _DECIMAL.fullmatch(text):
        return None
    return Decimal(text)


def bounded_int(value: object, low: int, high: int) -> int | None:
    """A JSON-decoded value that is a real int (not bool) within ``[low, high]``, else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


__all__ = ["COUNT_DIGITS", "TIMESTAMP_DIGITS", "ascii_decimal", "ascii_int", "bounded_int"]
