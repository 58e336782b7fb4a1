"""The money unit types catch mixing: mypy flags exactly the marked lines of a sample file."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "typecheck" / "unit_mixing.py"
_ERROR_LINE = re.compile(r"^[^:]*unit_mixing\.py:(\d+): error: (.*)$")


def test_mypy_flags_exactly_the_unit_mixing_lines(tmp_path: Path) -> None:
    expected = {
        n
        for n, line in enumerate(SAMPLE.read_text().splitlines(), start=1)
        if "  # error" in line  # a trailing comment, not the docstring's mention
    }
    stdout, stderr, _ = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--follow-imports=silent",
            "--no-error-summary",
            str(SAMPLE),
        ]
    )
    found: dict[int, str] = {}
    for line in stdout.splitlines():
        match = _ERROR_LINE.match(line)
        if match:
            found[int(match.group(1))] = match.group(2)
    assert not stderr
    assert expected, "the sample marks no line"
    assert set(found) == expected, stdout
    assert all("[arg-type]" in m or "[assignment]" in m for m in found.values()), stdout
