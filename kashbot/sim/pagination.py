"""Opaque base64url cursors over seq-ordered lists.

A cursor carries the last item's sequence number and a digest of the filters it was minted
under, so new inserts never shift a walk and a cursor reused with other filters is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from kashbot.sim.errors import SimError
from kashbot.wire import COUNT_DIGITS, ascii_int, bounded_int

T = TypeVar("T")
MAX_LIMIT = 100
MAX_CURSOR_CHARS = 512  # ours are ~40 characters


def _digest(filters: Mapping[str, object]) -> str:
    raw = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def encode(seq: int, filters: Mapping[str, object]) -> str:
    raw = json.dumps({"s": seq, "f": _digest(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str, filters: Mapping[str, object]) -> int:
    seq: int | None = None
    digest = ""
    if len(cursor) <= MAX_CURSOR_CHARS:
        try:
            pad = "=" * (-len(cursor) % 4)
            obj = json.loads(base64.urlsafe_b64decode(cursor + pad))
            seq, digest = bounded_int(obj["s"], 0, 2**63), str(obj["f"])
        except (ValueError, KeyError, TypeError, RecursionError):
            seq = None
    if seq is None:  # hostile cursors (huge numbers, floats, nesting) are refused, never a 500
        raise SimError("VALIDATION_FAILED", "cursor is not valid", issues=["cursor"])
    if digest != _digest(filters):
        raise SimError("VALIDATION_FAILED", "cursor was minted for other filters; restart the walk")
    return seq


def parse_limit(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    n = ascii_int(raw, COUNT_DIGITS, signed=True)
    if n is None:
        raise SimError("VALIDATION_FAILED", "limit must be an integer", issues=["limit"])
    if n < 1:
        raise SimError("VALIDATION_FAILED", "limit must be >= 1", issues=["limit"])
    return min(n, MAX_LIMIT)  # > 100 is silently clamped


def paginate(
    items: Sequence[T],
    seq_of: Callable[[T], int],
    cursor: str | None,
    limit: int,
    filters: Mapping[str, object],
    *,
    descending: bool,
) -> tuple[list[T], str | None, bool]:
    """One page of ``items`` (already ordered) after ``cursor``; -> (page, next cursor, more)."""
    if cursor:
        last = decode(cursor, filters)
        items = [i for i in items if (seq_of(i) < last if descending else seq_of(i) > last)]
    page = list(items[:limit])
    more = len(items) > limit
    nxt = encode(seq_of(page[-1]), filters) if more and page else None
    return page, nxt, more
