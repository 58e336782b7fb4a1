"""The file source: JSON/YAML/CSV, re-read on change (atomic rename too), bad rows refused."""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path

from structlog.testing import capture_logs

from kashbot.clock import SimClock
from kashbot.events import FairValueUpdate
from kashbot.fairvalue.file_source import FileParams, FileSource
from kashbot.fairvalue.validate import to_wad_chances

D = Decimal


def src(path: Path, **over: object) -> FileSource:
    return FileSource(
        FileParams.model_validate({"path": str(path), **over}), clock=SimClock(), source_id="model"
    )


def wad(*ps: str) -> tuple[int, ...]:
    return to_wad_chances([D(p) for p in ps])


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_json_rows_then_only_changed_rows_after_an_atomic_rename(tmp_path: Path) -> None:
    f = tmp_path / "fair.json"
    doc = {
        "markets": {
            "m1": {"chances": [0.4, 0.6], "ts": 1000},
            "m2": {"chances": ["0.2", "0.3", "0.5"], "ts": "1970-01-01T00:16:40Z"},
        }
    }
    f.write_text(json.dumps(doc))
    s, out = src(f), list[FairValueUpdate]()
    s.poll_once(out.append)
    assert [(u.market_id, u.probabilities, u.source_ts) for u in out] == [
        ("m1", wad("0.4", "0.6"), 1000.0),
        ("m2", wad("0.2", "0.3", "0.5"), 1000.0),
    ]
    s.poll_once(out.append)  # unchanged file: not even read
    assert len(out) == 2
    doc["markets"]["m1"] = {"chances": [0.45, 0.55], "ts": 1010}
    write_atomic(f, json.dumps(doc))
    s.poll_once(out.append)
    assert [(u.market_id, u.source_ts) for u in out[2:]] == [("m1", 1010.0)]


def test_bad_rows_are_refused_with_one_line_each(tmp_path: Path) -> None:
    f = tmp_path / "fair.yaml"
    f.write_text(
        "markets:\n"
        "  good: {chances: [0.5, 0.5], ts: 5}\n"
        "  over: {chances: [0.7, 0.7], ts: 5}\n"
        "  nots: {chances: [0.5, 0.5]}\n"
    )
    s, out = src(f), list[FairValueUpdate]()
    with capture_logs() as logs:
        s.poll_once(out.append)
    assert [u.market_id for u in out] == ["good"]
    refused = [e for e in logs if e["event"] == "fair_value_row_refused"]
    assert [(e["source"], e["row"]) for e in refused] == [
        ("model", "markets[*]['over']"),
        ("model", "markets[*]['nots']"),
    ]
    assert "sum" in refused[0]["reason"] and "ts" in refused[1]["reason"]


def test_csv_with_p_yes_column_and_confidence(tmp_path: Path) -> None:
    f = tmp_path / "fair.csv"
    f.write_text(
        "market,ts,p0,p1,p2,p_yes,confidence\n"
        "m1,100,0.2,0.3,0.5,,0.9\n"
        "m2,2026-01-01T00:00:00Z,,,,0.7,\n"
        "m3,100,0.2,x,0.5,,\n"
        "m4,100,0.5,0.5,,,2\n"
    )
    s, out = src(f), list[FairValueUpdate]()
    with capture_logs() as logs:
        s.poll_once(out.append)
    assert [(u.market_id, u.probabilities) for u in out] == [
        ("m1", wad("0.2", "0.3", "0.5")),
        ("m2", wad("0.7", "0.3")),
    ]
    assert out[0].confidence == 9 * 10**17 and out[1].confidence is None
    assert out[1].source_ts == 1767225600.0
    assert [e["row"] for e in logs if e["event"] == "fair_value_row_refused"] == [
        "line 4",
        "line 5",
    ]


def test_missing_and_half_written_files_log_once_and_keep_going(tmp_path: Path) -> None:
    f = tmp_path / "fair.json"
    s, out = src(f), list[FairValueUpdate]()
    with capture_logs() as logs:
        s.poll_once(out.append)
        s.poll_once(out.append)
        f.write_text('{"markets": {"m1": {"chan')
        s.poll_once(out.append)
        s.poll_once(out.append)
        f.write_text('{"markets": {"m1": {"chances": [0.5, 0.5], "ts": 1}}}')
        s.poll_once(out.append)
    events = [e["event"] for e in logs]
    assert events.count("fair_value_file_missing") == 1
    assert events.count("fair_value_file_unreadable") == 1
    assert [u.market_id for u in out] == ["m1"]


async def test_run_polls_on_the_clock(tmp_path: Path) -> None:
    f = tmp_path / "fair.json"
    f.write_text('{"markets": {"m1": {"chances": [0.5, 0.5], "ts": 1}}}')
    s = src(f, poll_s=0.01)
    s.clock = clock = SimClock()
    out: list[FairValueUpdate] = []
    task = asyncio.create_task(s.run(out.append))
    await asyncio.sleep(0)
    write_atomic(f, '{"markets": {"m1": {"chances": [0.6, 0.4], "ts": 2}}}')
    clock.advance(0.02)
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [u.source_ts for u in out] == [1.0, 2.0]
