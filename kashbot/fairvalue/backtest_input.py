"""An external fair-value file as backtest input: CSV or JSONL with timestamps -> events.

So a user can backtest "my model against Kash" without a paper run: the rows become
``FairValueUpdate`` events at their own times (``ts`` and ``source_ts`` are the row's time),
sorted stably by time, ready to be merged into a replayed or simulated run.

* CSV: the ``file`` source's layout, ``market,ts,p0..p7[,confidence]`` (or ``p_yes``);
* JSONL: one object per line, ``{"ts": 1796461200, "market": "m1", "chances": ["0.4", "0.6"]}``
  (``p_yes`` instead of ``chances`` for a binary market; optional ``confidence``). ``ts`` is epoch
  seconds or ISO-8601 with a zone.

A bad row raises :class:`FairValueFileError` naming ``file:line`` (a backtest's inputs must be
exactly what the user meant); ``on_bad="skip"`` logs it and goes on instead.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

import structlog

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.file_source import parse_csv
from kashbot.fairvalue.mapping import BadRow, RawRow, row_from
from kashbot.fairvalue.paths import FieldMap
from kashbot.fairvalue.validate import Normalise, RowError, to_decimal, to_wad_chances
from kashbot.money import decimal_to_wad

log = structlog.get_logger("kashbot.fairvalue")

_JSONL_CHANCES = FieldMap(market="market", chances="chances", ts="ts", confidence=None)
_JSONL_YES = FieldMap(market="market", p_yes="p_yes", ts="ts", confidence=None)


class FairValueFileError(ValueError):
    """A row of an external fair-value file that cannot be used (names file and line)."""


def _jsonl_rows(text: str) -> list[RawRow | BadRow]:
    out: list[RawRow | BadRow] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line, parse_float=Decimal)
        except ValueError as exc:
            out.append(BadRow(where, f"not JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            out.append(BadRow(where, "not an object"))
            continue
        row = row_from(obj, None, _JSONL_YES if "p_yes" in obj else _JSONL_CHANCES, where)
        if isinstance(row, RawRow) and "confidence" in obj:
            try:
                row = replace(row, confidence=to_decimal(obj["confidence"]))
            except RowError as exc:
                row = BadRow(where, str(exc))
        if row is not None:
            out.append(row)
    return out


def load_fair_value_file(
    path: str | Path,
    *,
    source: str = "external",
    fmt: Literal["auto", "csv", "jsonl"] = "auto",
    normalise: Normalise = "strict",
    tolerance: Decimal = Decimal("0.01"),
    on_bad: Literal["raise", "skip"] = "raise",
) -> list[FairValueUpdate]:
    """Every row as a ``FairValueUpdate``, sorted by time (stable: file order breaks ties)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    kind = fmt if fmt != "auto" else ("csv" if p.suffix.lower() == ".csv" else "jsonl")
    rows = parse_csv(text) if kind == "csv" else _jsonl_rows(text)
    out: list[FairValueUpdate] = []
    for row in rows:
        try:
            if isinstance(row, BadRow):
                raise RowError(row.reason)
            if row.source_ts is None:
                raise RowError("no ts")
            probs = to_wad_chances(row.chances, normalise, tolerance)
            conf = None
            if row.confidence is not None:
                if not Decimal(0) <= row.confidence <= 1:
                    raise RowError(f"confidence {row.confidence} is not in [0, 1]")
                conf = decimal_to_wad(row.confidence)
        except RowError as exc:
            msg = f"{p}:{row.where.removeprefix('line ')}: {exc}"
            if on_bad == "raise":
                raise FairValueFileError(msg) from None
            log.warning("fair_value_row_refused", source=source, row=msg)
            continue
        t = row.source_ts
        out.append(FairValueUpdate(t, row.market_id, probs, source, source_ts=t, confidence=conf))
    out.sort(key=lambda u: u.ts)
    return out
