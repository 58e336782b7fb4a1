"""``kashbot new-strategy NAME`` refuses a name that is already an importable module: the
strategy's file would lose to it when loaded (user folders come after ``sys.path``) or hide it
from code that imports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kashbot.app.new_strategy import check_name
from kashbot.cli import main


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("json", "standard-library module"),
        ("asyncio", "standard-library module"),
        ("yaml", "already an installed module"),  # a dependency (PyYAML)
        ("pydantic", "already an installed module"),
        ("kashbot", "already an installed module"),
        ("class", "keyword"),
        ("test_mine", "pytest would collect"),
    ],
)
def test_names_of_existing_modules_are_refused(name: str, says: str) -> None:
    problem = check_name(name)
    assert problem is not None and says in problem and repr(name) in problem


def test_a_fresh_name_is_fine() -> None:
    assert check_name("fair_gap_v2") is None


def test_the_command_writes_nothing_for_an_installed_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-strategy", "yaml", "--dir", str(tmp_path)]) == 2
    assert "already an installed module" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
