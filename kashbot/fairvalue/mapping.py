"""A JSON document + a :class:`~kashbot.fairvalue.paths.FieldMap` -> candidate rows.

Pure: no logging, no clock. Each row is either a :class:`RawRow` or a :class:`BadRow` naming
where it was (``data.markets[3]``), so the source logs one line per bad row and goes on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kashbot.fairvalue.paths import FieldMap, Missing, Path, parse, select, select_one
from kashbot.fairvalue.validate import RowError, binary_from_yes, to_decimal


@dataclass(frozen=True, slots=True)
class RawRow:
    where: str
    market_id: str
    chances: tuple[Decimal, ...]
    source_ts: float | None = None
    confidence: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BadRow:
    where: str
    reason: str


def parse_ts(value: Any, unit: float = 1.0) -> float:
    """Epoch seconds from a number (times ``unit``), a numeric string or an ISO-8601 string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(to_decimal(text)) * unit
        except RowError:
            pass
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RowError(f"not a time: {value!r}") from None
        if dt.tzinfo is None:
            raise RowError(f"time {value!r} has no timezone")
        return dt.timestamp()
    return float(to_decimal(value)) * unit


def row_from(node: Any, key: str | None, fmap: FieldMap, where: str) -> RawRow | BadRow | None:
    """One row object -> a row (None: a market the map does not name, skipped quietly)."""
    try:
        if fmap.market_id is not None:
            feed_id = fmap.market_id
        else:
            assert fmap.market is not None
            feed_id = str(select_one(node, _p(fmap.market), key))
        if fmap.markets is not None:
            if feed_id not in fmap.markets:
                return None
            market_id = fmap.markets[feed_id]
        else:
            market_id = feed_id
        if fmap.chances is not None:
            raw = select_one(node, _p(fmap.chances), key)
            if not isinstance(raw, list):
                raise RowError(f"{fmap.chances}: not a list")
            chances = tuple(to_decimal(c) for c in raw)
        else:
            assert fmap.p_yes is not None
            chances = tuple(binary_from_yes(select_one(node, _p(fmap.p_yes), key)))
        ts = None if fmap.ts is None else parse_ts(select_one(node, _p(fmap.ts), key), fmap.ts_unit)
        conf = (
            None
            if fmap.confidence is None
            else to_decimal(select_one(node, _p(fmap.confidence), key))
        )
    except (RowError, Missing) as exc:
        return BadRow(where, str(exc))
    return RawRow(where, market_id, chances, ts, conf)


def extract(doc: Any, fmap: FieldMap) -> list[RawRow | BadRow]:
    """Every row the map finds in ``doc``, good or bad, in document order."""
    out: list[RawRow | BadRow] = []
    for i, (key, node) in enumerate(select(doc, _p(fmap.rows))):
        where = f"{fmap.rows or '$'}#{i}" if key is None else f"{fmap.rows}[{key!r}]"
        row = row_from(node, key, fmap, where)
        if row is not None:
            out.append(row)
    return out


@functools.lru_cache(maxsize=256)
def _p(text: str) -> Path:
    return parse(text)
