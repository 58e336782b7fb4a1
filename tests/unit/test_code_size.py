"""No kashbot module over 450 lines and no function over 80 (issue 10's done-when).

A module past that size holds more than one thing a reader can name; a function past it does
more than one step. The limits are counted as the issue counts them: a module's lines as
``wc -l`` does, a function from its ``def`` line to its last line (``end_lineno - lineno + 1``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import kashbot

ROOT = Path(kashbot.__file__).parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_the_walk_sees_the_package() -> None:
    assert len(_modules()) > 100  # a wrong ROOT would make both checks pass on nothing


def test_no_module_over_the_limit() -> None:
    too_long: dict[str, int] = {}
    for path in _modules():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}


def test_no_function_over_the_limit() -> None:
    too_long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert too_long == {}
