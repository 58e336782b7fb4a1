"""``file``: an operator's model writes JSON, YAML or CSV; we re-read it when it changes.

Change detection polls ``stat()`` (inode, mtime, size) every ``poll_s``: a writer that renames a
finished temp file over the target (the safe way) changes the inode, an in-place writer the mtime
or size. A half-written file that does not parse is skipped with one log line and read again on
the next change, keeping the values already emitted. Only rows that changed since the last read
are emitted; every row carries its own time (``ts``), which is what its staleness is judged by.

Default layouts (override with ``mapping``, see :class:`~kashbot.fairvalue.paths.FieldMap`)::

    # JSON / YAML
    {"markets": {"mkt-1": {"chances": [0.42, 0.58], "ts": "2026-12-05T09:00:00Z"}}}
    # CSV: p0..p7 columns (blank past the market's outcome count), optional confidence
    market,ts,p0,p1,confidence
    mkt-1,1796461200,0.42,0.58,0.9
"""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import structlog
import yaml
from pydantic import Field

from kashbot.fairvalue.base import Emit, FairValueSource, SourceParams
from kashbot.fairvalue.mapping import BadRow, RawRow, extract, parse_ts
from kashbot.fairvalue.paths import FieldMap
from kashbot.fairvalue.validate import MAX_OUTCOMES, RowError, to_decimal

log = structlog.get_logger("kashbot.fairvalue")

Format = Literal["auto", "json", "yaml", "csv"]

DEFAULT_MAP = FieldMap(
    rows="markets[*]", market="@key", chances="chances", ts="ts", confidence=None
)


class FileParams(SourceParams):
    path: str = Field(description="the file the model writes")
    format: Format = "auto"
    poll_s: float = Field(1.0, gt=0, le=3600)
    mapping: FieldMap = Field(DEFAULT_MAP, description="JSON/YAML only: where the rows are")


def file_format(path: str, fmt: Format) -> Literal["json", "yaml", "csv"]:
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json"


def parse_csv(text: str) -> list[RawRow | BadRow]:
    """``market,ts,p0..p7[,confidence]`` rows (or a ``p_yes`` column for a binary market)."""
    out: list[RawRow | BadRow] = []
    reader = csv.DictReader(io.StringIO(text))
    for lineno, rec in enumerate(reader, start=2):
        where = f"line {lineno}"
        try:
            market = (rec.get("market") or "").strip()
            if not market:
                raise RowError("no market")
            if rec.get("p_yes") not in (None, ""):
                p = to_decimal(rec["p_yes"])
                chances: tuple[Decimal, ...] = (p, 1 - p)
            else:
                cells = [rec.get(f"p{i}") for i in range(MAX_OUTCOMES)]
                chances = tuple(to_decimal(c) for c in cells if c not in (None, ""))
            ts_cell = rec.get("ts")
            if ts_cell in (None, ""):
                raise RowError("no ts")
            ts = parse_ts(ts_cell)
            conf_cell = rec.get("confidence")
            conf = None if conf_cell in (None, "") else to_decimal(conf_cell)
        except RowError as exc:
            out.append(BadRow(where, str(exc)))
            continue
        out.append(RawRow(where, market, chances, ts, conf))
    return out


def parse_document(
    text: str, fmt: Literal["json", "yaml", "csv"], fmap: FieldMap
) -> list[RawRow | BadRow]:
    """The rows in a file's text; raises ``ValueError`` when the text does not parse."""
    if fmt == "csv":
        return parse_csv(text)
    doc: Any = json.loads(text, parse_float=Decimal) if fmt == "json" else yaml.safe_load(text)
    return extract(doc, fmap)


class FileSource(FairValueSource[FileParams]):
    name = "file"
    Params = FileParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sig: tuple[int, int, int] | None = None
        self._reported: object = None  # the last problem logged, so a broken file logs once
        self._sent: dict[str, tuple[tuple[Decimal, ...], float | None]] = {}

    async def run(self, emit: Emit) -> None:
        while True:
            self.poll_once(emit)
            await self.clock.sleep(self.params.poll_s)

    def poll_once(self, emit: Emit) -> None:
        """Read the file if it changed and emit its changed rows (never raises on bad data)."""
        p = self.params
        try:
            st = os.stat(p.path)
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
            if sig == self._sig:
                return
            with open(p.path, encoding="utf-8") as fh:
                text = fh.read()
            rows = parse_document(text, file_format(p.path, p.format), p.mapping)
        except FileNotFoundError:
            self._report("missing", "fair_value_file_missing")
            return
        except (OSError, ValueError, yaml.YAMLError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
            self._report(error, "fair_value_file_unreadable", error=error)
            return
        self._sig = sig
        self._reported = None
        for row in rows:
            if isinstance(row, RawRow) and self._sent.get(row.market_id) == (
                row.chances,
                row.source_ts,
            ):
                continue
            update = self.accept_row(row)
            if update is not None:
                assert isinstance(row, RawRow)
                self._sent[row.market_id] = (row.chances, row.source_ts)
                emit(update)

    def _report(self, problem: object, event: str, **kw: str) -> None:
        if self._reported != problem:
            log.warning(event, source=self.source_id, path=self.params.path, **kw)
            self._reported = problem
