"""External fair-value files as backtest input: sorted, exact, errors name file:line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kashbot.events import FairValueUpdate
from kashbot.fairvalue.backtest_input import FairValueFileError, load_fair_value_file
from kashbot.fairvalue.validate import to_wad_chances
from kashbot.money import WAD


def test_jsonl_sorted_by_time_stable_on_ties(tmp_path: Path) -> None:
    f = tmp_path / "model.jsonl"
    f.write_text(
        '{"ts": 20, "market": "m1", "chances": ["0.3", "0.7"]}\n'
        "\n"
        '{"ts": 10, "market": "m2", "p_yes": 0.25, "confidence": "0.5"}\n'
        '{"ts": "1970-01-01T00:00:10Z", "market": "m1", "chances": [0.5, 0.5]}\n'
    )
    got = load_fair_value_file(f, source="mymodel")
    assert got == [
        FairValueUpdate(10.0, "m2", (WAD // 4, 3 * WAD // 4), "mymodel", 10.0, WAD // 2),
        FairValueUpdate(10.0, "m1", (WAD // 2, WAD // 2), "mymodel", 10.0, None),
        FairValueUpdate(
            20.0, "m1", to_wad_chances([Decimal("0.3"), Decimal("0.7")]), "mymodel", 20.0
        ),
    ]
    assert load_fair_value_file(f, source="mymodel") == got  # deterministic


def test_csv_input(tmp_path: Path) -> None:
    f = tmp_path / "model.csv"
    f.write_text("market,ts,p0,p1\nm1,5,0.5,0.5\nm1,1,0.1,0.9\n")
    assert [u.ts for u in load_fair_value_file(f)] == [1.0, 5.0]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"ts": 1, "market": "m1", "chances": [0.9, 0.9]}', "sum"),
        ('{"market": "m1", "chances": [0.5, 0.5]}', "ts"),
        ('{"ts": 1, "market": "m1", "chances": [0.5, 0.5], "confidence": 3}', "confidence"),
        ("[1, 2]", "not an object"),
        ("{nope", "not JSON"),
    ],
)
def test_bad_rows_raise_with_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    f = tmp_path / "model.jsonl"
    f.write_text('{"ts": 1, "market": "m1", "chances": [0.5, 0.5]}\n' + line + "\n")
    with pytest.raises(FairValueFileError, match=f"model.jsonl:2: .*{why}"):
        load_fair_value_file(f)
    assert len(load_fair_value_file(f, on_bad="skip")) == 1
